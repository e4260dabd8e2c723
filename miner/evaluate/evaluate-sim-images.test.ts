// Acceptance of issue 19 item 1: `cacheon-miner evaluate` against the reference server images (real
// Docker engine, local registry) reaches the verdict the controller's round reached for the same
// seed, from the same configuration; its HTML report opens in Debian's Chromium with the verdict
// and the plots, fetching nothing.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPodJobExecutor } from "../../agent/job/run-pod-job.ts";
import { resolveControllerSettings } from "../../controller/cli/controller-settings.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../../controller/config/controller-config.ts";
import { ingestCommitments } from "../../controller/intake/ingest-commitments.ts";
import { createLocalJobRunner } from "../../controller/rounds/job-runner.ts";
import { runRound } from "../../controller/rounds/run-round.ts";
import { openStore } from "../../controller/store/controller-store.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { readSimImageManifest } from "../../sim-llm/images/sim-image-manifest.ts";
import { captureCli } from "../../test/support/capture-cli.ts";
import { launchChromium, screenshotPath } from "../../test/support/chromium.ts";
import { testServices } from "../../test/support/services.ts";
import { minerProgram } from "../cli/main.ts";

const root = join(import.meta.dirname, "..", "..");
const mib = 1024 * 1024;
let ref: (name: string) => string;
let env: Record<string, string>;
let roundVerdicts: Record<string, string>;
let seed: string;
let jobReasons: string;
const dir = mkdtempSync(join(tmpdir(), "evaluate-"));
const modelDir = join(dir, "model");

beforeAll(async () => {
  execFileSync(join(root, "scripts", "build-sim-images"), [], { stdio: "ignore" });
  mkdirSync(modelDir);
  const manifest = readSimImageManifest(join(root, ".cacheon", "sim-images.json"));
  ref = (name: string) => manifest.images[name]?.reference ?? "";
  // One configuration for the validator and the miner: a small bundled-pool workload, the sim
  // baseline serving on its own.
  env = {
    DOCKER_SOCKET: testServices().dockerSocket,
    CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: ref("baseline"),
    CACHEON_CONTROLLER_ROUNDS_HARDWARE_PROFILE: "none",
    // The sim servers carry their model; the folder only has to exist (mounted read-only).
    CACHEON_CONTROLLER_ROUNDS_MODEL_DIR: modelDir,
    CACHEON_CONTROLLER_BASELINE_LAUNCH: "image",
    CACHEON_CONTROLLER_ROUNDS_BASELINE_STARTUP_SECONDS: "60",
    CACHEON_CONTROLLER_ROUNDS_CHALLENGER_STARTUP_SECONDS: "30",
    CACHEON_CONTROLLER_WORKLOAD_PROMPT_SOURCE: "bundled:cacheon-chat-v1",
    CACHEON_CONTROLLER_WORKLOAD_REQUESTS: "4",
    CACHEON_CONTROLLER_WORKLOAD_WARMUP_REQUESTS: "1",
    CACHEON_CONTROLLER_WORKLOAD_MAX_TOKENS: "32",
    CACHEON_CONTROLLER_WORKLOAD_REPETITIONS: "3",
    CACHEON_CONTROLLER_WORKLOAD_CONCURRENCY: "1",
    CACHEON_CONTROLLER_WORKLOAD_REQUEST_TIMEOUT_MS: "30000",
  };
  const settings = resolveControllerSettings(
    loadConfig({ schema: controllerConfigSchema, env, envPrefix: controllerEnvPrefix }).values,
  );
  // The validator's round: two local pods (a win is reproduced on the second).
  const store = openStore({ path: ":memory:" });
  ingestCommitments({
    store,
    snapshot: {
      block: 50,
      entries: [
        { hotkey: "carol", uid: 1, raw: ref("faster"), commitBlock: 10 },
        { hotkey: "tess", uid: 2, raw: ref("wrong-model"), commitBlock: 11 },
      ],
    },
  });
  const executor = createPodJobExecutor({
    docker: new Docker({ socketPath: testServices().dockerSocket }),
    hostGuard: "best-effort",
    limits: { memoryBytes: 768 * mib, cpus: 1, pidsLimit: 256, shmBytes: 64 * mib, nofile: 4096 },
    stopGraceS: 2,
    readyIntervalMs: 100,
  });
  const round = await runRound(
    {
      store,
      // A win is re-measured on a second pod when inside the noise band, and reproduced on a third.
      runner: createLocalJobRunner({
        pods: { "local-a": executor, "local-b": executor, "local-c": executor },
      }),
      settings: settings.rounds,
      policy: settings.scoring,
      finalizedHead: async () => ({ block: 60, hash: "0x0a0b" }),
      pollMs: 50,
    },
    new AbortController().signal,
  );
  roundVerdicts = Object.fromEntries(
    store.verdicts.list({ roundId: round?.id ?? "" }).map((v) => [v.hotkey, v.verdict]),
  );
  seed = store.jobs.list(round?.id ?? "")[0]?.seed ?? "";
  jobReasons = store.jobs
    .list(round?.id ?? "")
    .map((j) => `${j.id} ${j.state}: ${j.reason}`)
    .join("\n");
  store.close();
}, 1_200_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("cacheon-miner evaluate against the reference server images", () => {
  it("gives the verdict of the controller's round for the same seed: the honest faster image leads", async () => {
    expect(roundVerdicts, jobReasons).toEqual({ carol: "leader", tess: "failed" });
    const html = join(dir, "faster.html");
    const { code, out, err } = await captureCli(
      minerProgram,
      ["evaluate", "--image", ref("faster"), "--seed", seed, "--nofile", "4096", "--html", html, "--json"],
      env,
    );
    const answer = JSON.parse(out);
    expect(answer.verdict, err).toBe(roundVerdicts.carol);
    expect(answer.answer).toMatch(/^Yes: it would take the lead, [0-9.]+x the baseline, against a bar of/);
    expect(answer.prompts.length).toBeGreaterThan(0);
    expect(code).toBe(0);

    // The report, in a real browser, from the file, fetching nothing.
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(html).href);
      expect(await page.textContent("#verdict")).toBe("leader");
      expect(await page.locator("svg.chart").count()).toBe(5);
      expect(await page.locator("#prompts tbody tr").count()).toBe(answer.prompts.length);
      expect(await page.textContent("body")).not.toContain("no data yet");
      await page.screenshot({ path: screenshotPath("miner-evaluate-report.png"), fullPage: true });
      expect(requests).toEqual([pathToFileURL(html).href]);
    } finally {
      await browser.close();
    }
    expect(readFileSync(html, "utf8")).not.toMatch(/(src|href|url)\s*[=(]\s*["']?\s*https?:/i);
  });

  it("gives the round's verdict for a server of another model run beside the leader, naming why", async () => {
    const { code, out } = await captureCli(
      minerProgram,
      [
        "evaluate",
        "--image",
        ref("wrong-model"),
        "--leader",
        ref("faster"),
        "--seed",
        seed,
        "--nofile",
        "4096",
      ],
      env,
    );
    expect(out).toMatch(new RegExp(`^verdict: ${roundVerdicts.tess} \\(seed ${seed}\\)$`, "m"));
    expect(out).toMatch(/^No: it fails the gate: correctness/m);
    expect(out).toMatch(/^ {2}\S+ .* fail \(.+\)$/m);
    expect(out).not.toMatch(/^bar:/m);
    expect(code).toBe(1);
  });
});
