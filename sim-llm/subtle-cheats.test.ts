import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundledPassages, bundledTemplates } from "../agent/workload/bundled-corpus.ts";
import { truncateAt } from "./sim-llm-mode.ts";
import { type RunningSimLlm, type SimLlmOptions, startSimLlm } from "./sim-llm-server.ts";
import { nearTieIndex } from "./subtle-cheats.ts";
import { chunksOf, contentOf, streamEvents } from "./testing/sim-client.ts";
import { isTokenId, tokenText } from "./tokenizer.ts";

// The subtle cheats through real HTTP, each against the honest server's answer to the same request.
const instant = {
  prefillBaseMs: 0,
  prefillMsPerPromptToken: 0,
  decodeStepBaseMs: 0,
  decodeStepMsPerRunning: 0,
};
const messages = [{ role: "user", content: "Describe the sea at night in a few sentences." }];
const stream = {
  messages,
  temperature: 0,
  max_tokens: 200,
  logprobs: true,
  top_logprobs: 5,
  return_tokens_as_token_ids: true,
  stream: true,
  stream_options: { include_usage: true },
};

type Json = Record<string, any>;
let honest: RunningSimLlm;
const started: RunningSimLlm[] = [];
async function sim(options: SimLlmOptions): Promise<RunningSimLlm> {
  const s = await startSimLlm({ timing: instant, ...options });
  started.push(s);
  return s;
}
beforeAll(async () => {
  honest = await sim({});
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

/** A streamed answer: its token ids, text, finish reason, usage, and when each token arrived. */
async function answer(url: string, body: Json = stream) {
  const { events } = await streamEvents(`${url}/v1/chat/completions`, body);
  const chunks = chunksOf(events);
  const entries: { token: string; at: number }[] = [];
  events.forEach((e, i) => {
    if (e.data === "[DONE]") return;
    for (const entry of chunksOf([e])[0]?.choices?.[0]?.logprobs?.content ?? [])
      entries.push({ token: entry.token, at: events[i]?.at ?? 0 });
  });
  const finish = chunks.map((c) => c.choices?.[0]?.finish_reason).filter((f) => typeof f === "string");
  return {
    ids: entries.map((e) => Number(e.token.slice("token_id:".length))),
    at: entries.map((e) => e.at),
    tops: chunks
      .flatMap((c) => c.choices?.[0]?.logprobs?.content ?? [])
      .map((e: Json) => e.top_logprobs as Json[]),
    text: contentOf(chunks),
    finish: finish.at(-1),
    usage: chunks.at(-1)?.usage?.completion_tokens as number,
  };
}

describe("sim-llm subtle cheats", () => {
  it("truncate: the honest answer cut just above the 90% length rule, ending with stop", async () => {
    const h = await answer(honest.url);
    const bad = await answer((await sim({ mode: "truncate" })).url);
    expect(bad.ids.length).toBe(truncateAt(h.ids.length));
    expect(bad.ids.length).toBeLessThan(h.ids.length);
    expect(bad.ids.length).toBeGreaterThanOrEqual(Math.ceil(0.9 * h.ids.length));
    expect(bad.ids).toEqual(h.ids.slice(0, bad.ids.length));
    expect(bad.finish).toBe("stop");
    expect(bad.usage).toBe(bad.ids.length);
  });

  for (const mode of ["near-tie-junk-ids", "near-tie-junk-text", "near-tie-junk"] as const) {
    it(`${mode}: the honest answer to a near-tie, its runner-up there, then junk at once up to max_tokens`, async () => {
      const h = await answer(honest.url);
      const bad = await answer((await sim({ mode, timing: { ...instant, decodeStepBaseMs: 3 } })).url);
      const d = h.ids.findIndex((id, i) => id !== bad.ids[i]);
      expect(d).toBeGreaterThanOrEqual(2);
      expect(bad.ids.slice(0, d)).toEqual(h.ids.slice(0, d));
      // The runner-up of the honest distribution at the divergence, within the near-tie gap.
      const top = h.tops[d] ?? [];
      expect(bad.ids[d]).toBe(Number(String(top[1]?.token).slice("token_id:".length)));
      expect((top[0]?.logprob ?? 0) - (top[1]?.logprob ?? 0)).toBeLessThan(0.5);
      expect(bad.ids).toHaveLength(200);
      expect(bad.usage).toBe(200);
      expect(bad.finish).toBe("length");
      // Everything after the divergence arrived with it: an honest server would take 3 ms a token.
      expect((bad.at.at(-1) ?? 0) - (bad.at[d] ?? 0)).toBeLessThan(3 * (200 - d) * 0.25);
      const junk = bad.ids.slice(d + 1);
      if (mode === "near-tie-junk-ids") expect(junk.every((id) => !isTokenId(id))).toBe(true);
      else expect(junk.every((id) => isTokenId(id))).toBe(true);
      if (mode !== "near-tie-junk-ids") {
        // The text the claimed ids stand for: streamed as it is, or not.
        const claimed = junk.map((id) => tokenText(id)).join("");
        expect(bad.text.endsWith(claimed)).toBe(mode === "near-tie-junk");
      }
    });
  }

  it("partial-replay: a repeated request takes about 15% less time, a new one the honest time", async () => {
    const bad = await sim({ mode: "partial-replay", timing: { ...instant, decodeStepBaseMs: 8 } });
    const body = { ...stream, max_tokens: 40, ignore_eos: true };
    const first = await answer(bad.url, body);
    const second = await answer(bad.url, body);
    expect(second.ids).toEqual(first.ids);
    const span = (a: { at: number[] }) => (a.at.at(-1) ?? 0) - (a.at[0] ?? 0);
    // 39 decode steps of 8 ms, then of 6.8 ms: a replay well under the old 25% alarm.
    expect(span(first)).toBeGreaterThan(39 * 8 - 10);
    expect(span(second)).toBeLessThan(span(first) * 0.95);
    // Not an instant answer from a response cache (a busy machine fires the first one's timers late).
    expect(span(second)).toBeGreaterThan(span(first) * 0.5);
  });

  it("precomputed-table: half the bundled pool's prompts answered at once, the rest honestly", async () => {
    const bad = await sim({
      mode: "precomputed-table",
      // A prefill long enough that a busy machine's scheduling cannot blur "at once" into "after it".
      timing: { ...instant, prefillBaseMs: 1500, decodeStepBaseMs: 2 },
    });
    const prompt = (p: number) => [
      {
        role: "user",
        content: (bundledTemplates[0]?.user ?? "").replace(
          "{passage}",
          `${bundledPassages[p]?.title}\n\n${bundledPassages[p]?.text}`,
        ),
      },
    ];
    const tabled = await answer(bad.url, { ...stream, messages: prompt(0) });
    const honestToo = await answer(honest.url, { ...stream, messages: prompt(0) });
    expect(tabled.ids).toEqual(honestToo.ids);
    expect(tabled.finish).toBe(honestToo.finish);
    // The whole answer arrives before an honest server could have finished its 1.5 s prefill.
    expect(tabled.at.at(-1)).toBeLessThan(1500);
    const untabled = await answer(bad.url, { ...stream, messages: prompt(1) });
    expect(untabled.at[0]).toBeGreaterThanOrEqual(1495);
  });

  it("canary-honest: honest on a quarter of prompts, another model on the rest", async () => {
    const bad = await sim({ mode: "canary-honest" });
    let same = 0;
    const n = 24;
    for (let i = 0; i < n; i++) {
      const body = {
        ...stream,
        max_tokens: 16,
        messages: [{ role: "user", content: `Question ${i}: what is the sea?` }],
      };
      if ((await answer(bad.url, body)).text === (await answer(honest.url, body)).text) same += 1;
    }
    expect(same).toBeGreaterThan(0);
    expect(same).toBeLessThan(n / 2);
  });

  it("nearTieIndex: the first close call from the third token on", () => {
    const t = (gap: number) => ({
      id: 5,
      logprob: -0.1,
      rank: 1,
      text: "",
      top: [
        { id: 5, logprob: -0.1 },
        { id: 6, logprob: -0.1 - gap },
      ],
    });
    expect(nearTieIndex([t(0.1), t(0.1), t(2), t(0.3), t(0.1), t(1)])).toBe(3);
    expect(nearTieIndex([t(3), t(3), t(2), t(1.5), t(3)])).toBe(3);
    expect(nearTieIndex([t(0.1), t(0.1)])).toBe(-1);
  });
});
