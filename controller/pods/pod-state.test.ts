import { describe, expect, it } from "vitest";
import { assertTransition, canTransition, isTerminal, podStates } from "./pod-state.ts";

describe("pod state machine", () => {
  it("walks the happy path requested -> booting -> enrolled -> verified -> busy -> idle -> busy -> idle -> released", () => {
    const path = [
      "requested",
      "booting",
      "enrolled",
      "verified",
      "busy",
      "idle",
      "busy",
      "idle",
      "released",
    ] as const;
    for (let i = 1; i < path.length; i++) {
      expect(() => assertTransition("p", path[i - 1] as never, path[i] as never)).not.toThrow();
    }
  });

  it("lets every live state fail or be released, and nothing leave a terminal state", () => {
    for (const state of podStates) {
      if (isTerminal(state)) {
        for (const to of podStates) expect(canTransition(state, to)).toBe(false);
      } else {
        expect(canTransition(state, "failed")).toBe(true);
        expect(canTransition(state, "released")).toBe(true);
      }
    }
  });

  it("throws on skipping a step, naming the pod and the legal moves", () => {
    expect(() => assertTransition("pod-7", "booting", "busy")).toThrow(
      /pod pod-7: cannot move from booting to busy; from booting a pod may move to enrolled, released, failed/,
    );
    expect(() => assertTransition("pod-7", "requested", "verified")).toThrow(/cannot move/);
    expect(() => assertTransition("pod-7", "released", "idle")).toThrow(/nothing \(terminal\)/);
    expect(() => assertTransition("pod-7", "busy", "busy")).toThrow(/cannot move from busy to busy/);
  });
});
