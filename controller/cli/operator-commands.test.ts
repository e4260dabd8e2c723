import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { newPromptSecret } from "../../shared/workload/prompt-key.ts";
import { captureCli } from "../../test/support/capture-cli.ts";
import { runScenarioRound, scenarioSettings } from "../rounds/testing/sim-scenario.ts";
import { openStore } from "../store/controller-store.ts";
import { controllerProgram } from "./main.ts";

const cli = (argv: string[], env: Record<string, string> = {}) => captureCli(controllerProgram, argv, env);

let storePath: string;
beforeAll(async () => {
  storePath = join(mkdtempSync(join(tmpdir(), "cli-")), "controller.db");
  const store = openStore({ path: storePath });
  await runScenarioRound(store);
  store.close();
});

describe("cacheon-controller status and leaderboard", () => {
  it("status prints the standing and the round, as text and JSON", async () => {
    const text = await cli(["status", "--store", storePath]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/leader\s+carol \(sub-2\) at 1\.\d{3}x/);
    expect(text.out).toMatch(/runner-up\s+bob/);
    expect(text.out).toMatch(/open round\s+none/);
    expect(text.out).toMatch(/weights\s+never set/);
    const json = await cli(["status", "--json"], { CACHEON_CONTROLLER_STORE_PATH: storePath });
    expect(JSON.parse(json.out)).toMatchObject({
      rounds: 1,
      submissions: { evaluated: 3, failed: 2, copy: 1 },
      openRound: null,
    });
  });

  it("leaderboard ranks leader, runner-up, then by speed", async () => {
    const text = await cli(["leaderboard", "--store", storePath]);
    expect(text.code).toBe(0);
    const lines = text.out.trim().split("\n");
    expect(lines[0]).toMatch(/^rank\s+uid\s+hotkey\s+verdict\s+speed\s+why/);
    expect(lines[1]).toMatch(/^1\s+2\s+carol\s+leader/);
    expect(lines[2]).toMatch(/^2\s+1\s+bob\s+runner-up/);
    expect(lines[3]).toMatch(/^3\s+3\s+dave\s+below-bar/);
    const rows = JSON.parse((await cli(["leaderboard", "--store", storePath, "--json"])).out) as {
      hotkey: string;
      rank: number | null;
      verdict: string;
    }[];
    expect(rows.find((r) => r.hotkey === "frank")).toMatchObject({ rank: null, verdict: "copy" });
  });

  it("a missing store is a usage error naming what to do", async () => {
    const r = await cli(["status", "--store", "/nonexistent/dir/c.db"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cannot open the controller store \/nonexistent\/dir\/c\.db.*serve/);
  });
});

describe("cacheon-controller serve", () => {
  it("refuses to start without a pinned baseline, naming every problem", async () => {
    const r = await cli(["serve", "--once"], {
      CACHEON_CONTROLLER_PUBLISH_TARGET: "s3",
      CACHEON_CONTROLLER_AGENTS_LOCAL_PODS: "one",
    });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/4 problems/);
    expect(r.err).toMatch(/rounds\.baselineImage: required by serve/);
    expect(r.err).toMatch(
      /rounds\.validatorSecret is not set: make one with `cacheon-controller config --new-secret`/,
    );
    expect(r.err).toMatch(/publish\.s3\.bucket: required/);
    expect(r.err).toMatch(/agents\.localPods: give at least two names/);
    const tag = await cli(["serve"], { CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: "vllm/vllm-openai:latest" });
    expect(tag.err).toMatch(/rounds\.baselineImage: invalid image reference .*has no digest/);
  });

  it("refuses to start with a secret under 128 bits or one that is not hex", async () => {
    const baseline = scenarioSettings.baselineImage;
    const short = await cli(["serve", "--once"], {
      CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: baseline,
      CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: "ab".repeat(12),
    });
    expect(short.code).toBe(2);
    expect(short.err).toMatch(/rounds\.validatorSecret has 96 bits; at least 128 are needed/);
    const words = await cli(["serve", "--once"], {
      CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: baseline,
      CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: "hunter2",
    });
    expect(words.err).toMatch(/rounds\.validatorSecret must be hex/);
    const made = await cli(["config", "--new-secret", "--json"]);
    expect(made.code).toBe(0);
    expect(JSON.parse(made.out).validatorSecret).toMatch(/^[0-9a-f]{64}$/);
  });

  it("has help and refuses unknown flags", async () => {
    const help = await cli(["serve", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/kill -9/);
    expect((await cli(["serve", "--bogus"])).code).toBe(2);
  });

  it("names an unreachable chain", async () => {
    const r = await cli(
      ["serve", "--once", "--store", storePath, "--chain", "ws://127.0.0.1:1", "--web", ""],
      {
        CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: scenarioSettings.baselineImage,
        CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: newPromptSecret(),
      },
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no chain endpoint answered .*ws:\/\/127\.0\.0\.1:1/);
  }, 60_000);
});

describe("cacheon-controller config", () => {
  it("masks secrets in its output", async () => {
    const env = {
      CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: "hunter2",
      CACHEON_CONTROLLER_PUBLISH_S3_SECRET_ACCESS_KEY: "s3cr3t",
    };
    for (const argv of [["config"], ["config", "--json"]]) {
      const r = await cli(argv, env);
      expect(r.code).toBe(0);
      expect(r.out).not.toMatch(/hunter2|s3cr3t/);
      expect(r.out).toMatch(/\*\*\*/);
    }
  });
});
