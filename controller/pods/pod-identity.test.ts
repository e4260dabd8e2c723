import { describe, expect, it } from "vitest";
import { distinctPodIds, type IndependenceRule, type PodDirectory, podEligibility } from "./pod-identity.ts";

const directory: PodDirectory = {
  providers: 1,
  identity: (podId) =>
    ({
      A: { podId: "A", provider: "p", host: "10.0.0.1", gpuUuids: ["GPU-a"] },
      B: { podId: "B", provider: "p", host: "10.0.0.2", gpuUuids: ["GPU-b"] },
      Asame: { podId: "Asame", provider: "p", host: "10.0.0.1", gpuUuids: ["GPU-a"] },
    })[podId],
};
/** A stand-in for the strict rule: another host. */
const otherHost: IndependenceRule = (candidate, of) => of.every((o) => o.host !== candidate.host);

describe("podEligibility", () => {
  const rows: {
    name: string;
    podId: string;
    exclusion?: { pods: string[]; independentOf: string[] };
    rule?: IndependenceRule;
    eligible: boolean | undefined;
  }[] = [
    { name: "no exclusion", podId: "A", eligible: true },
    { name: "excluded pod", podId: "A", exclusion: { pods: ["A"], independentOf: [] }, eligible: false },
    { name: "another pod", podId: "B", exclusion: { pods: ["A"], independentOf: [] }, eligible: true },
    {
      name: "the pod it must be independent of",
      podId: "A",
      exclusion: { pods: [], independentOf: ["A"] },
      eligible: false,
    },
    {
      name: "another pod on the same host, strict rule",
      podId: "Asame",
      exclusion: { pods: [], independentOf: ["A"] },
      rule: otherHost,
      eligible: false,
    },
    {
      name: "another pod on the same host, pod ids only",
      podId: "Asame",
      exclusion: { pods: [], independentOf: ["A"] },
      eligible: true,
    },
    {
      name: "another host, strict rule",
      podId: "B",
      exclusion: { pods: [], independentOf: ["A"] },
      rule: otherHost,
      eligible: true,
    },
    {
      name: "a candidate not known yet (booting) is undecided",
      podId: "C",
      exclusion: { pods: [], independentOf: ["A"] },
      eligible: undefined,
    },
    {
      name: "independence from an unknown pod cannot be shown",
      podId: "B",
      exclusion: { pods: [], independentOf: ["gone"] },
      eligible: false,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      expect(podEligibility(row.podId, row.exclusion, directory, row.rule ?? distinctPodIds)).toBe(
        row.eligible,
      );
    });
  }
});
