import { describe, expect, it } from "vitest";
import { CacheonError } from "../errors/cacheon-error.ts";
import { generatePrompt } from "./generate-prompt.ts";
import { keyedRandom } from "./keyed-random.ts";
import { planWorkload, scheduleRequests } from "./plan-workload.ts";
import { promptKey } from "./prompt-key.ts";

const secret = new Uint8Array(32).fill(5);
const plan = (seed: string, overrides: Partial<Parameters<typeof planWorkload>[0]> = {}) =>
  planWorkload({
    key: promptKey(secret, seed),
    requests: 4,
    canaries: 2,
    probes: 2,
    repetitions: 3,
    warmup: 1,
    targetTokens: 256,
    ...overrides,
  });

describe("planWorkload", () => {
  const a = plan("aa");

  it("makes warm-up, probe, canary and scored prompts, fresh in every repetition except the probes", () => {
    expect(a.generator).toBe("cacheon-gen-v1/cacheon-corpus-v1");
    expect(a.prompts).toHaveLength(1 + 2 + 3 * (4 + 2));
    expect(a.warmup).toHaveLength(1);
    expect(a.repetitions).toHaveLength(3);
    const probeIds = new Set<string>();
    const seen = new Set<string>(a.warmup);
    for (const rep of a.repetitions) {
      expect(rep.filter((r) => r.kind === "scored")).toHaveLength(4);
      expect(rep.filter((r) => r.kind === "canary")).toHaveLength(2);
      const probes = rep.filter((r) => r.kind === "probe").map((r) => r.promptId);
      expect(probes).toHaveLength(2);
      for (const p of probes) probeIds.add(p);
      for (const r of rep.filter((q) => q.kind !== "probe")) {
        expect(seen.has(r.promptId)).toBe(false); // outside the probes no prompt is sent twice
        seen.add(r.promptId);
      }
    }
    expect(probeIds.size).toBe(2);
    for (const p of probeIds) expect(seen.has(p)).toBe(false);
  });

  it("is the same for every arm and pod given the key, and different for another seed", () => {
    expect(plan("aa")).toEqual(a);
    const b = plan("ab");
    expect(b.repetitions).not.toEqual(a.repetitions);
    const texts = new Set(a.prompts.map((p) => p.messages.at(-1)?.content));
    for (const p of b.prompts) expect(texts.has(p.messages.at(-1)?.content)).toBe(false);
  });

  it("draws every kind from the same generator: each prompt is its index's prompt, whatever its kind", () => {
    const key = promptKey(secret, "aa");
    for (const p of a.prompts) {
      const index = Number(p.id.slice(1));
      expect(
        generatePrompt({ id: p.id, random: keyedRandom(key, `prompt/${index}`), targetTokens: 256 }),
      ).toEqual(p);
    }
  });

  it("spreads probes and canaries over positions and prompt indexes by the key alone", () => {
    // Over many keys, each position of a repetition holds a canary about as often as any other,
    // and every prompt index is sometimes a probe or canary: kinds are not tied to content or place.
    const promptIds = Array.from({ length: 14 }, (_, i) => `p${String(i).padStart(2, "0")}`);
    const positions = new Array(8).fill(0);
    const indexes = new Array(14).fill(0);
    for (let s = 0; s < 500; s++) {
      const schedule = scheduleRequests({
        key: promptKey(secret, s.toString(16).padStart(4, "0")),
        promptIds,
        requests: 4,
        canaries: 2,
        probes: 2,
        repetitions: 2,
        warmup: 0,
      });
      for (const rep of schedule.repetitions) {
        rep.forEach((r, i) => {
          if (r.kind === "canary") positions[i] += 1;
          if (r.kind !== "scored") indexes[Number(r.promptId.slice(1))] += 1;
        });
      }
    }
    // 500 keys x 2 repetitions x 2 canaries over 8 positions: 250 expected at each (sd ~15).
    for (const n of positions) expect(Math.abs(n - 250)).toBeLessThan(80);
    // Each index is a probe or canary in 500 x (2 + 4) / 14 ~ 214 schedules on average.
    for (const n of indexes) expect(n).toBeGreaterThan(120);
  });

  it("leaves a server nothing to tell canaries or probes by: size, system turn, layout and length match", () => {
    // A miner's detector would look at what the server sees. Over several jobs, compare the
    // features of canary and probe prompts with the scored ones: means within 3 standard errors.
    const features = new Map<string, number[][]>();
    for (let s = 0; s < 6; s++) {
      const p = plan(`d${s}`, {
        requests: 6,
        canaries: 2,
        probes: 2,
        repetitions: 2,
        warmup: 0,
        targetTokens: 300,
      });
      const byId = new Map(p.prompts.map((q) => [q.id, q]));
      for (const rep of p.repetitions) {
        for (const r of rep) {
          const prompt = byId.get(r.promptId);
          const user = prompt?.messages.at(-1)?.content ?? "";
          const row = [
            prompt?.promptTokens ?? 0,
            prompt?.messages.length ?? 0,
            user.length,
            (user.match(/\n\nDocument \d+ — /g) ?? []).length,
          ];
          features.set(r.kind, [...(features.get(r.kind) ?? []), row]);
        }
      }
    }
    const scored = features.get("scored") ?? [];
    for (const kind of ["canary", "probe"]) {
      const rows = features.get(kind) ?? [];
      expect(rows.length).toBeGreaterThan(10);
      for (let f = 0; f < 4; f++) {
        const a = scored.map((row) => row[f] ?? 0);
        const b = rows.map((row) => row[f] ?? 0);
        const mean = (x: number[]) => x.reduce((p, q) => p + q, 0) / x.length;
        const variance = (x: number[]) => x.reduce((p, q) => p + (q - mean(x)) ** 2, 0) / (x.length - 1);
        const se = Math.sqrt(variance(a) / a.length + variance(b) / b.length) || 1;
        const z = Math.abs(mean(a) - mean(b)) / se;
        expect(z, `${kind} feature ${f}: means ${mean(a)} vs ${mean(b)}`).toBeLessThan(3);
      }
      // Prompt sizes: every kind within the same few tokens under the target.
      expect(Math.min(...rows.map((r) => r[0] ?? 0))).toBeGreaterThanOrEqual(300 - 32);
    }
  });

  it("refuses bad counts", () => {
    expect(() => plan("aa", { requests: 0 })).toThrow(CacheonError);
    expect(() => plan("aa", { repetitions: 1.5 })).toThrow(/repetitions must be an integer >= 1/);
    expect(() => plan("aa", { canaries: -1 })).toThrow(/canaries/);
    expect(() =>
      scheduleRequests({
        key: promptKey(secret, "aa"),
        promptIds: ["p0"],
        requests: 2,
        canaries: 0,
        probes: 0,
        repetitions: 1,
        warmup: 0,
      }),
    ).toThrow(/needs 2 prompts, got 1/);
  });
});
