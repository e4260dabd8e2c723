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

async function cli(args: string[], extraEnv: Record<string, string | undefined> = {}) {
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
      env: { DOCKER_SOCKET: services.dockerSocket, ...extraEnv },
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
  ...["--prompt-tokens", "256", "--canaries", "1", "--probes", "1"],
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
  // The hostile test server is its own entrypoint: no vLLM recipe for it.
  "--baseline-launch",
  "image",
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
    // The real probe ran for profile "none" and its report is in the result.
    expect(out).toMatch(/^hardware: profile none met \(0 GPUs\)$/m);
    expect(json.result.hardware.profile).toBe("none");
    expect(json.result.hardware.ok).toBe(true);
  });

  it("exits 2 before any pull when the machine does not meet the profile (2x H200 capture, h200x8)", async () => {
    const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
    const dir = mkdtempSync(join(tmpdir(), "cacheon-local-hw-"));
    const { code, err } = await cli(
      [
        ...["--challenger", serveRef, "--baseline", serveRef, "--profile", "h200x8"],
        ...["--nvidia-smi", join(fixtures, "nvidia-smi-replay"), "--json", join(dir, "r.json"), ...small],
      ],
      { PATH: process.env.PATH, NVSMI_FIXTURE_DIR: join(fixtures, "h200-x2") },
    );
    expect(code).toBe(2);
    expect(err).toMatch(
      /the job could not run: hardware verification failed: .*gpu-count \(host\): found 2 GPU\(s\), the profile needs exactly 8/,
    );
    expect(err).not.toMatch(/pull /);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    expect(json.result.hardware.gpus).toHaveLength(2);
    expect(json.result.arms.map((a: { outcome?: string }) => a.outcome ?? "ARM_OUTCOME_UNSPECIFIED")).toEqual(
      ["ARM_OUTCOME_UNSPECIFIED", "ARM_OUTCOME_UNSPECIFIED", "ARM_OUTCOME_UNSPECIFIED"],
    );
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
    const badPrompts = await cli(["--challenger", serveRef, "--baseline", serveRef, "--prompts", "mine"]);
    expect(badPrompts.code).toBe(2);
    expect(badPrompts.err).toMatch(/--prompts must be "generated" or "bundled"/);
    const tiny = await cli(["--challenger", serveRef, "--baseline", serveRef, "--prompt-tokens", "64"]);
    expect(tiny.err).toMatch(/--prompt-tokens must be an integer >= 256/);
  });
});
