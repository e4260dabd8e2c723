import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../shared/cli/cli-command.ts";
import { testServices } from "../../test/support/services.ts";
import { buildHostileImage } from "../containers/testing/hostile-image.ts";
import { pushTestImage } from "../containers/testing/node-test-image.ts";
import { agentProgram } from "./main.ts";

const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });

async function cli(args: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d) => {
    out += d;
  });
  stderr.on("data", (d) => {
    err += d;
  });
  const code = await runCli({
    ...agentProgram,
    argv: ["local", ...args],
    io: {
      stdout,
      stderr,
      env: { DOCKER_SOCKET: services.dockerSocket },
      signal: new AbortController().signal,
    },
  });
  return { code, out, err };
}

let serveRef: string;
let neverReadyRef: string;
beforeAll(async () => {
  const serve = await buildHostileImage(docker);
  serveRef = await pushTestImage(
    docker,
    serve,
    `${services.registry}/cacheon-test/hostile:${serve.split(":")[1]}`,
  );
  const never = await buildHostileImage(docker, "never-ready");
  neverReadyRef = await pushTestImage(
    docker,
    never,
    `${services.registry}/cacheon-test/hostile:${never.split(":")[1]}`,
  );
});

const small = [
  "--requests",
  "1",
  "--warmup",
  "0",
  "--max-tokens",
  "4",
  "--repetitions",
  "1",
  "--nofile",
  "4096",
  "--model",
  "hostile",
];

describe("cacheon-agent local", () => {
  it("runs the job and says what would disqualify the image, with JSON and HTML reports", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cacheon-local-"));
    const { code, out } = await cli([
      "--challenger",
      neverReadyRef,
      "--baseline",
      serveRef,
      "--startup-timeout",
      "2",
      "--json",
      join(dir, "r.json"),
      "--html",
      join(dir, "r.html"),
      ...small,
    ]);
    expect(out).toMatch(/challenger: NEVER_READY/);
    expect(out).toMatch(/disqualified: NEVER_READY: not ready after 2\.0 s/);
    expect(code).toBe(1);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    expect(json.result.arms.map((a: { armId: string }) => a.armId)).toEqual([
      "baseline-open",
      "challenger",
      "baseline-close",
    ]);
    expect(json.verdicts[0].outcome).toBe("NEVER_READY");
    expect(readFileSync(join(dir, "r.html"), "utf8")).toContain("<td>NEVER_READY</td>");
  });

  it("exits 2 naming the problem for a missing challenger, a tag without digest, or no baseline", async () => {
    expect((await cli([])).err).toMatch(/--challenger REF@DIGEST is required/);
    const tagOnly = await cli(["--challenger", "127.0.0.1:5000/me/server:latest", "--baseline", serveRef]);
    expect(tagOnly.code).toBe(2);
    expect(tagOnly.err).toMatch(/has no digest/);
    const noBaseline = await cli(["--challenger", serveRef]);
    expect(noBaseline.code).toBe(2);
    expect(noBaseline.err).toMatch(/no baseline: pass --baseline/);
    const badNumber = await cli(["--challenger", serveRef, "--baseline", serveRef, "--requests", "0"]);
    expect(badNumber.code).toBe(2);
    expect(badNumber.err).toMatch(/--requests must be an integer >= 1/);
  });
});
