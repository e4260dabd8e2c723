import { describe, expect, it } from "vitest";
import type { PodIdentity } from "../pods/pod-identity.ts";
import { isIndependent } from "./is-independent.ts";

const pod = (podId: string, host: string, gpuUuids: string[], provider = "p1"): PodIdentity => ({
  podId,
  provider,
  host,
  gpuUuids,
});
const first = pod("a", "10.0.0.1", ["GPU-1", "GPU-2"]);

describe("isIndependent", () => {
  const cases: [string, PodIdentity | undefined, (PodIdentity | undefined)[], number, boolean][] = [
    ["another host with other GPUs", pod("b", "10.0.0.2", ["GPU-3"]), [first], 1, true],
    ["the same pod", first, [first], 1, false],
    ["another pod id on the same host (a re-rent)", pod("b", "10.0.0.1", ["GPU-3"]), [first], 1, false],
    [
      "another host sharing one GPU (GPUs moved)",
      pod("b", "10.0.0.2", ["GPU-2", "GPU-9"]),
      [first],
      1,
      false,
    ],
    ["the same provider with one provider configured", pod("b", "10.0.0.2", ["GPU-3"]), [first], 1, true],
    ["the same provider with two configured", pod("b", "10.0.0.2", ["GPU-3"]), [first], 2, false],
    ["another provider with two configured", pod("b", "10.0.0.2", ["GPU-3"], "p2"), [first], 2, true],
    ["an unknown candidate", undefined, [first], 1, false],
    ["an unknown first pod", pod("b", "10.0.0.2", ["GPU-3"]), [undefined], 1, false],
    ["a candidate whose host is not known yet", pod("b", "", ["GPU-3"]), [first], 1, false],
    ["a candidate whose GPUs are not known yet", pod("b", "10.0.0.2", []), [first], 1, false],
    [
      "independent of one pod but not of the other",
      pod("c", "10.0.0.3", ["GPU-5"]),
      [first, pod("b", "10.0.0.3", ["GPU-4"])],
      1,
      false,
    ],
    ["nothing to be independent of", pod("b", "10.0.0.2", ["GPU-3"]), [], 1, true],
  ];
  for (const [name, candidate, of, providers, expected] of cases) {
    it(`${name}: ${expected ? "independent" : "not independent"}`, () => {
      expect(isIndependent(candidate, of, { providers })).toBe(expected);
    });
  }
});
