import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../shared/cli/cli-command.ts";
import { type RunningSimLlm, type SimLlmOptions, startSimLlm } from "../../sim-llm/sim-llm-server.ts";
import { agentProgram } from "./main.ts";

const model = "Qwen/Qwen2.5-72B-Instruct";
const servers: RunningSimLlm[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function sim(options: SimLlmOptions = {}): Promise<string> {
  const s = await startSimLlm({
    timing: { prefillBaseMs: 2, prefillMsPerPromptToken: 0, decodeStepBaseMs: 1 },
    ...options,
  });
  servers.push(s);
  return s.url;
}

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (b: Buffer) => out.push(b));
  stderr.on("data", (b: Buffer) => err.push(b));
  const code = await runCli({
    ...agentProgram,
    argv,
    io: { stdout, stderr, env: {}, signal: new AbortController().signal },
  });
  return { code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

const small = [
  "--model",
  model,
  "--requests",
  "4",
  "--concurrency",
  "2",
  "--max-tokens",
  "16",
  "--warmup",
  "1",
  "--seed",
  "5eed",
];

describe("cacheon-agent bench", () => {
  it("prints help with every flag and exits 0", async () => {
    const r = await cli("bench", "--help");
    expect(r.code).toBe(0);
    for (const flag of [
      "--endpoint",
      "--model",
      "--requests",
      "--concurrency",
      "--max-tokens",
      "--seed",
      "--prompts",
      "--json",
      "--html",
    ]) {
      expect(r.stdout).toContain(flag);
    }
  });

  it("measures a server, writes the JSON and HTML reports, and exits 0", async () => {
    const url = await sim();
    const dir = mkdtempSync(join(tmpdir(), "cacheon-bench-"));
    const r = await cli(
      "bench",
      "--endpoint",
      url,
      ...small,
      "--json",
      join(dir, "r.json"),
      "--html",
      join(dir, "r.html"),
    );
    expect(r.stderr).toContain("bench");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("requests 4 (4 completed, 0 failed)");
    expect(r.stdout).toMatch(/ttft ms\s+[\d.]+/);
    const json = JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
    for (const key of [
      "requests",
      "completed",
      "failed",
      "wall_s",
      "output_tokens",
      "output_tokens_per_s",
      "token_count_source",
    ]) {
      expect(json).toHaveProperty(key);
    }
    for (const key of ["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"]) {
      expect(Object.keys(json[key])).toEqual(expect.arrayContaining(["mean", "p50", "p90", "p99"]));
    }
    expect(json).toMatchObject({
      requests: 4,
      completed: 4,
      failed: 0,
      token_count_source: "logprobs",
      seed: "5eed",
    });
    expect(json.per_request).toHaveLength(4);
    const html = readFileSync(join(dir, "r.html"), "utf8");
    expect(html.match(/<svg/g)).toHaveLength(3);
    expect(html).not.toMatch(/<script|<link|src=|@import/);
    expect(
      html
        .match(/https?:\/\/[^"<\s]+/g)
        ?.filter((u) => !u.startsWith(url) && u !== "http://www.w3.org/2000/svg"),
    ).toEqual([]);
  });

  it("writes only JSON to stdout with --json -", async () => {
    const url = await sim();
    const r = await cli("bench", "--endpoint", url, ...small, "--json", "-");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).completed).toBe(4);
  });

  it("exits 1 and names the failure when the server cheats", async () => {
    const url = await sim({ mode: "token-inflation" });
    const r = await cli("bench", "--endpoint", url, ...small);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("failed: exceeds-max-tokens x4");
  });

  it("exits 2 for a server that is not there, and for bad or missing flags", async () => {
    const url = await sim();
    await servers.pop()?.close();
    const gone = await cli("bench", "--endpoint", url, ...small);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`could not connect to ${url}`);
    expect((await cli("bench", "--model", model)).stderr).toContain("--endpoint is required");
    const noModel = await cli("bench", "--endpoint", url);
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toContain("model: required");
    const bad = await cli(
      "bench",
      "--endpoint",
      url,
      "--model",
      model,
      "--requests",
      "zero",
      "--concurrency",
      "0",
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--requests: expected a number[\s\S]*--concurrency: 0 is below the minimum 1/);
    const seed = await cli("bench", "--endpoint", url, "--model", model, "--seed", "not-hex");
    expect(seed.code).toBe(2);
    expect(seed.stderr).toContain('seed "not-hex" is not hex');
    const prompts = await cli(
      "bench",
      "--endpoint",
      url,
      "--model",
      model,
      "--prompts",
      "/nonexistent/p.jsonl",
    );
    expect(prompts.code).toBe(2);
    expect(prompts.stderr).toContain("cannot read prompt file /nonexistent/p.jsonl");
    expect((await cli("bench", "--bogus")).code).toBe(2);
  });
});

describe("cacheon-agent compare", () => {
  // One repetition, 16 tokens: nothing repeats (the probe rule has nothing to compare) and no
  // request is long enough for the per-request speed rule (32 tokens), so the verdict rests on
  // correctness alone, however busy the machine. Those timing rules have their own tests
  // (judge-probes.test.ts, speed-outliers.test.ts, subtle-cheats-compare.test.ts).
  const compareArgs = [
    "--model",
    model,
    "--requests",
    "6",
    "--concurrency",
    "3",
    "--max-tokens",
    "16",
    "--warmup",
    "2",
    "--seed",
    "c0de",
    "--repetitions",
    "1",
  ];
  const steady = { timing: { prefillBaseMs: 25, prefillMsPerPromptToken: 0, decodeStepBaseMs: 2 } };

  it("passes an honest server with different numerics and prints the speed ratio", async () => {
    const reference = await sim(steady);
    const candidate = await sim({ ...steady, numericNoise: 0.05, noiseSeed: 3 });
    const dir = mkdtempSync(join(tmpdir(), "cacheon-compare-"));
    const r = await cli(
      "compare",
      "--reference",
      reference,
      "--candidate",
      candidate,
      ...compareArgs,
      "--json",
      join(dir, "c.json"),
      "--html",
      join(dir, "c.html"),
    );
    expect(r.stdout, r.stdout).toContain("verdict PASS");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/speed ratio \d+\.\d{4}/);
    const json = JSON.parse(readFileSync(join(dir, "c.json"), "utf8"));
    expect(json).toMatchObject({
      verdict: "pass",
      correctness: { passed: true, prompts: 6, prompts_passed: 6 },
    });
    expect(json.speed_ratio).toBeGreaterThan(0);
    expect(json.candidate.completed).toBe(6);
    const html = readFileSync(join(dir, "c.html"), "utf8");
    expect(html).toContain("verdict: <b>PASS</b>");
    expect(html.match(/<svg/g)).toHaveLength(4);
  });

  it("fails a wrong model with exit 1, naming prompts and reasons", async () => {
    const reference = await sim();
    const candidate = await sim({ mode: "wrong-model" });
    const r = await cli(
      "compare",
      "--reference",
      reference,
      "--candidate",
      candidate,
      ...compareArgs,
      "--json",
      "-",
    );
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout);
    expect(json.verdict).toBe("fail");
    expect(json.correctness.reasons.join("\n")).toMatch(
      /^divergence-not-in-top-k \(.*\): 6 outputs \(prompts [a-z-]+\/[a-z-]+/m,
    );
    expect(json.correctness.evidence[0]).toMatchObject({ verdict: "fail", diverged: true });
    expect(json.correctness.evidence[0].reason_codes).toContain("teacher-forced-rank");
  });

  it("exits 2 without both URLs", async () => {
    const r = await cli("compare", "--reference", "http://127.0.0.1:1", "--model", model);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--reference URL and --candidate URL are both required");
  });
});
