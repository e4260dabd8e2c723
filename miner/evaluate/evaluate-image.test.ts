import { describe, expect, it } from "vitest";
import { simulatedPod } from "../../controller/rounds/simulated-pod.ts";
import {
  runScenarioRound,
  scenarioRef,
  scenarioSettings,
  scenarioSimImages,
  scenarioVerdicts,
} from "../../controller/rounds/testing/sim-scenario.ts";
import { defaultScoringPolicy } from "../../controller/scoring/scoring-policy.ts";
import { openStore } from "../../controller/store/controller-store.ts";
import { formatImageReference, parseImageReference } from "../../shared/image/image-reference.ts";
import { evaluateImage } from "./evaluate-image.ts";
import { verdictOfPromotion } from "./evaluation-answer.ts";

const pinned = (name: string) => formatImageReference(parseImageReference(scenarioRef(name)));

describe("evaluateImage", () => {
  it("reaches the verdict the controller's round reached, with the round's seed and settings", async () => {
    const store = openStore({ path: ":memory:" });
    const round = await runScenarioRound(store);
    const roundVerdicts = Object.fromEntries(
      store.verdicts.list({ roundId: round?.id ?? "" }).map((v) => [v.hotkey, v.verdict]),
    );
    expect(roundVerdicts).toMatchObject(scenarioVerdicts);
    const seed = store.jobs.list(round?.id ?? "")[0]?.seed ?? "";
    expect(seed).toMatch(/^[0-9a-f]+$/);
    // The miner's machine: one pod of the same kind, the same job, the controller's code.
    const pod = simulatedPod("local", { images: scenarioSimImages });
    const evaluate = async (name: string, leader?: string) => {
      const evaluation = await evaluateImage({
        settings: scenarioSettings,
        policy: defaultScoringPolicy,
        image: pinned(name),
        leader: leader ? pinned(leader) : undefined,
        seed,
        promptSecret: undefined,
        executor: pod,
        signal: new AbortController().signal,
      });
      return verdictOfPromotion(evaluation.promotion);
    };
    // Seats as the round left them: the leader is measured beside the challengers of later rounds.
    expect(await evaluate("faster")).toBe(roundVerdicts.carol);
    expect(await evaluate("fast", "faster")).toBe(roundVerdicts.bob);
    expect(await evaluate("slow", "faster")).toBe(roundVerdicts.dave);
    expect(await evaluate("wrong", "faster")).toBe(roundVerdicts.erin);
    expect(await evaluate("neverReady", "faster")).toBe(roundVerdicts.gina);
  });
});
