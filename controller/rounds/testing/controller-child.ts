// A controller process for the kill-and-restart test: runs controller cycles over simulated pods
// and a file-backed chain until nothing is left to do, printing "STEP <what>" after each step
// that reached the store (or the chain) so the test can SIGKILL it at chosen points.
//   node controller/rounds/testing/controller-child.ts DIR
import { join } from "node:path";
import { sleep } from "../../../shared/retry/backoff.ts";
import { localFolderSink } from "../../publish/artefact-sink.ts";
import { defaultScoringPolicy } from "../../scoring/scoring-policy.ts";
import { openStore } from "../../store/controller-store.ts";
import { defaultWeightPolicy } from "../../weights/weight-policy.ts";
import { runControllerCycle } from "../controller-cycle.ts";
import { createLocalJobRunner } from "../job-runner.ts";
import { simulatedPod } from "../simulated-pod.ts";
import { fileChain } from "./file-chain.ts";
import { scenarioSettings, scenarioSimImages } from "./sim-scenario.ts";

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: controller-child.ts DIR\n");
  process.exit(2);
}
const step = (what: string) => process.stdout.write(`STEP ${what}\n`);
const store = openStore({ path: join(dir, "controller.db") });
const chain = fileChain(join(dir, "chain.json"), {
  beforeSet: () => step("weights-sending"),
  // A pause after the chain took the weights, before the controller records it: a kill here
  // leaves an intent the chain has already applied.
  afterSet: async () => {
    step("weights-sent");
    await sleep(150);
  },
});
const pod = (name: string) => simulatedPod(name, { images: scenarioSimImages, armDelayMs: 15 });
const signal = new AbortController().signal;
for (let cycle = 0; cycle < 6; cycle += 1) {
  const report = await runControllerCycle(
    {
      store,
      runner: createLocalJobRunner({ pods: { "pod-a": pod("pod-a"), "pod-b": pod("pod-b") } }),
      settings: scenarioSettings,
      policy: defaultScoringPolicy,
      finalizedHead: chain.finalizedHead,
      pollMs: 5,
      onStep: (s) => step(`${s.kind} ${s.jobId ?? s.roundId}`),
      source: chain.source,
      sink: localFolderSink(join(dir, "published")),
      weightTarget: chain.target,
      weightPolicy: defaultWeightPolicy,
      cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
    },
    signal,
  );
  step(
    `cycle intake=${report.intake.pending.length} round=${report.round?.id ?? "-"} weights=${report.weights.action}`,
  );
  if (!report.round && report.weights.action === "not-due" && !store.rounds.open()) break;
}
store.close();
process.stdout.write("DONE\n");
