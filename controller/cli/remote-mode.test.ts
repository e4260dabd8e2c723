// serve's wiring in agents.mode remote: the control plane listens, agents on "pods" (here in this
// process, with simulated GPU pods) enrol with minted tokens and dial in over gRPC, and a cycle
// runs the round on them and sets weights on the local chain.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, describe, expect, it } from "vitest";
import { runAgentSession } from "../../agent/session/agent-session.ts";
import { enrolWithController } from "../../agent/session/controller-client.ts";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { silentLogger } from "../../shared/log/logger.ts";
import { newPromptSecret } from "../../shared/workload/prompt-key.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";
import { SqliteControlPlaneStore } from "../control-plane/control-plane-store.ts";
import { mintEnrolmentToken } from "../control-plane/enrolment.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import { scenarioRef, scenarioSettings, scenarioSimImages } from "../rounds/testing/sim-scenario.ts";
import { openStore } from "../store/controller-store.ts";
import { resolveControllerSettings } from "./controller-settings.ts";
import { type RunningController, startController } from "./start-controller.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("serve in agents.mode remote", () => {
  it("runs the round on agents that dialled in, and sets weights on the chain", async () => {
    const devnet: Devnet = await startDevnet({ port: 0, blockTimeSeconds: 0.1 });
    cleanups.push(() => devnet.close());
    await cryptoWaitReady();
    const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
    const client = await ChainClient.connect({ endpoints: [devnet.url], rounds: 1 });
    await client.commit(1, scenarioRef("fast"), keyring.addFromUri("//Bob"));
    await client.commit(1, scenarioRef("faster"), keyring.addFromUri("//Charlie"));
    await client.close();

    const dir = mkdtempSync(join(tmpdir(), "remote-mode-"));
    const storePath = join(dir, "controller.db");
    const env = {
      CACHEON_CONTROLLER_STORE_PATH: storePath,
      CACHEON_CONTROLLER_CHAIN_ENDPOINTS: devnet.url,
      CACHEON_CONTROLLER_WALLET_DEV_URI: "//Alice",
      CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: scenarioSettings.baselineImage,
      CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: newPromptSecret(),
      // Generated prompts travel inside the jobs over the control plane; small ones keep it quick.
      CACHEON_CONTROLLER_WORKLOAD_PROMPT_TOKENS: "256",
      CACHEON_CONTROLLER_ROUNDS_HARDWARE_PROFILE: "none",
      CACHEON_CONTROLLER_PUBLISH_FOLDER: join(dir, "published"),
      CACHEON_CONTROLLER_WEB_LISTEN: "127.0.0.1:0",
      CACHEON_CONTROLLER_AGENTS_MODE: "remote",
      CACHEON_CONTROLLER_CONTROL_PLANE_LISTEN: "127.0.0.1:0",
    };
    const settings = resolveControllerSettings(
      loadConfig({ schema: controllerConfigSchema, env, envPrefix: controllerEnvPrefix }).values,
      { forServe: true },
    );
    const controller: RunningController = await startController({
      settings,
      logger: silentLogger,
      signal: new AbortController().signal,
    });
    cleanups.push(() => controller.close());
    expect(controller.controlPlaneUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // Tokens minted as `cacheon-controller mint-token` does: into the same store file.
    const tokens = new SqliteControlPlaneStore({ path: storePath });
    const endpoint = { url: controller.controlPlaneUrl as string };
    for (const pod of ["pod-1", "pod-2"]) {
      const { token } = mintEnrolmentToken(tokens, pod, 60_000, Date.now());
      // Each agent runs on its own machine: a reproduction must find another host and GPUs.
      const hardware = create(HardwareReportSchema, {
        ok: true,
        host: { hostname: `host-${pod}` },
        gpus: [{ index: 0, uuid: `GPU-${pod}` }],
      });
      const credential = await enrolWithController({
        endpoint,
        token,
        podId: pod,
        hardware,
      });
      const stop = new AbortController();
      const running = runAgentSession({
        endpoint,
        credential,
        signal: stop.signal,
        executor: simulatedPod(pod, { images: scenarioSimImages }),
        backoff: { initialDelayMs: 1, maxDelayMs: 5, jitter: 0.5 },
      });
      cleanups.push(async () => {
        stop.abort();
        await running.catch(() => {});
      });
    }
    tokens.close();

    const report = await controller.cycle();
    expect(report.round?.state).toBe("settled");
    // /metrics counts each agent's events and times the round and its jobs.
    const metrics = await (await fetch(`${controller.webUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /^cacheon_controller_agent_events_total\{agent="[^"]+",kind="jobFinished"\} [1-9]/m,
    );
    expect(metrics).toMatch(/^cacheon_controller_round_duration_seconds_count\{state="settled"\} 1$/m);
    expect(metrics).toMatch(
      /^cacheon_controller_job_duration_seconds_count\{phase="evaluate",state="done"\} [1-9]/m,
    );
    const round = report.round;
    const store = (await import("../store/controller-store.ts")).openStore({
      path: storePath,
      readOnly: true,
    });
    try {
      const jobs = store.jobs.list(round?.id ?? "");
      expect(new Set(jobs.map((j) => j.podId))).toEqual(new Set(["pod-1", "pod-2"]));
      expect(
        Object.fromEntries(
          store.verdicts.list({ roundId: round?.id ?? "" }).map((v) => [v.verdict, v.hotkey]),
        ),
      ).toEqual({
        leader: keyring.addFromUri("//Charlie").address,
        "runner-up": keyring.addFromUri("//Bob").address,
      });
    } finally {
      store.close();
    }
    // The fallback went out at the start; the chain's rate limit (100 blocks) holds 80/20 back
    // until enough blocks passed.
    expect(report.weights.reason).toMatch(/rate limit/);
    const lastConfirmed = () => {
      const st = openStore({ path: storePath, readOnly: true });
      try {
        return st.weightSettings.list({ states: ["confirmed"], limit: 1 })[0];
      } finally {
        st.close();
      }
    };
    for (let i = 0; i < 40 && lastConfirmed()?.uids.length !== 2; i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      await controller.cycle();
    }
    expect(lastConfirmed()).toMatchObject({ uids: [1, 2], weights: [16384, 65535] });
  }, 120_000);
});
