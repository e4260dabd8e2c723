import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimLlm, type SimLlmOptions, startSimLlm } from "./sim-llm-server.ts";
import { chunksOf, contentOf, postJson, streamEvents } from "./testing/sim-client.ts";

// Every misbehaviour, driven through real HTTP against a real server, compared with an honest one.
const instant = {
  prefillBaseMs: 0,
  prefillMsPerPromptToken: 0,
  decodeStepBaseMs: 0,
  decodeStepMsPerRunning: 0,
};
const messages = [{ role: "user", content: "Describe the sea at night in a few sentences." }];
const chat = { messages, temperature: 0, max_tokens: 40, ignore_eos: true, logprobs: true, top_logprobs: 5 };
const longPrompt = [{ role: "user", content: "the river and the old mountain road ".repeat(200) }];

type Json = any;
let honest: RunningSimLlm;
const started: RunningSimLlm[] = [];

async function sim(options: SimLlmOptions): Promise<RunningSimLlm> {
  const s = await startSimLlm({ timing: instant, ...options });
  started.push(s);
  return s;
}
async function complete(url: string, body: unknown = chat): Promise<Json> {
  const res = await postJson(`${url}/v1/chat/completions`, body);
  expect(res.status).toBe(200);
  return res.json();
}
const logprobsOf = (r: Json): number[] => r.choices[0].logprobs.content.map((e: Json) => e.logprob);

beforeAll(async () => {
  honest = await sim({});
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

describe("sim-llm misbehaviours", () => {
  it("wrong-model: other tokens, which the honest model scores lower", async () => {
    const wrong = await sim({ mode: "wrong-model" });
    const a = await complete(honest.url);
    const b = await complete(wrong.url);
    expect(b.choices[0].message.content).not.toBe(a.choices[0].message.content);
    const ids = (
      await complete(wrong.url, { ...chat, return_tokens_as_token_ids: true })
    ).choices[0].logprobs.content.map((e: Json) => Number(e.token.slice(9)));
    const prompt: Json = await (await postJson(`${honest.url}/tokenize`, { messages })).json();
    const scored: Json = await (
      await postJson(`${honest.url}/v1/completions`, {
        prompt: [...prompt.tokens, ...ids],
        max_tokens: 0,
        prompt_logprobs: 0,
      })
    ).json();
    const forced = ids.map(
      (id: number, i: number) => scored.choices[0].prompt_logprobs[prompt.count + i][id].logprob,
    );
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    expect(mean(forced)).toBeLessThan(mean(logprobsOf(b)) - 1);
  });

  it("perturbed-logprobs: honest tokens with logprobs that are not the model's", async () => {
    const bad = await sim({ mode: "perturbed-logprobs" });
    const a = await complete(honest.url);
    const b = await complete(bad.url);
    expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
    const diffs = logprobsOf(a).map((lp, i) => Math.abs(lp - (logprobsOf(b)[i] ?? 0)));
    expect(Math.max(...diffs)).toBeGreaterThan(0.1);
  });

  it("early-stop: finish_reason stop after half of max_tokens even with ignore_eos", async () => {
    const bad = await sim({ mode: "early-stop" });
    const r = await complete(bad.url);
    expect(r.choices[0].finish_reason).toBe("stop");
    expect(r.usage.completion_tokens).toBe(20);
  });

  it("token-inflation: streams tokens past max_tokens and counts them", async () => {
    const bad = await sim({ mode: "token-inflation" });
    const { events } = await streamEvents(`${bad.url}/v1/chat/completions`, {
      ...chat,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = chunksOf(events);
    const entries = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
    expect(entries.length).toBeGreaterThan(40);
    expect(chunks.at(-1)?.usage.completion_tokens).toBe(entries.length);
  });

  it("stream-buffering: generates at its pace but delivers every chunk in one burst", async () => {
    const bad = await sim({ mode: "stream-buffering", timing: { ...instant, decodeStepBaseMs: 10 } });
    const { events } = await streamEvents(`${bad.url}/v1/chat/completions`, {
      ...chat,
      max_tokens: 20,
      stream: true,
    });
    const content = events.filter((e) => e.data.includes('"content":"'));
    expect(content.length).toBeGreaterThan(15);
    // Nothing arrives before the last token was generated (19 decode steps of 10 ms).
    expect(content[0]?.at).toBeGreaterThanOrEqual(185);
    // ...and then everything at once (an honest stream would spread over 180 ms or more).
    expect((events.at(-1)?.at ?? 0) - (content[0]?.at ?? 0)).toBeLessThan(90);
  });

  it("role-then-stall: the role chunk comes at once, content only after prefill", async () => {
    const bad = await sim({ mode: "role-then-stall", timing: { ...instant, prefillBaseMs: 300 } });
    const { events } = await streamEvents(`${bad.url}/v1/chat/completions`, { ...chat, stream: true });
    const role = events.find((e) => e.data.includes('"role":"assistant"'));
    const first = events.find((e) => e.data.includes('"logprobs":{'));
    expect(first?.at).toBeGreaterThanOrEqual(295);
    expect(role?.at).toBeLessThan(first?.at ?? 0);
    // The honest server sends its role chunk together with the first token.
    const h = await sim({ timing: { ...instant, prefillBaseMs: 300 } });
    const honestEvents = (await streamEvents(`${h.url}/v1/chat/completions`, { ...chat, stream: true }))
      .events;
    expect(honestEvents[0]?.data).toContain('"role":"assistant"');
    expect(honestEvents[0]?.at).toBeGreaterThanOrEqual(295);
  });

  it("response-cache: a repeated request is answered from memory, without the engine", async () => {
    const bad = await sim({ mode: "response-cache", timing: { ...instant, decodeStepBaseMs: 50 } });
    const body = { ...chat, max_tokens: 20, stream: true };
    const first = await streamEvents(`${bad.url}/v1/chat/completions`, body);
    const second = await streamEvents(`${bad.url}/v1/chat/completions`, body);
    expect(contentOf(chunksOf(second.events))).toBe(contentOf(chunksOf(first.events)));
    expect(first.events.at(-1)?.at).toBeGreaterThanOrEqual(19 * 50 - 5);
    // The engine would need at least 950 ms; the replay comes in a fraction of it.
    expect(second.events.at(-1)?.at).toBeLessThan((first.events.at(-1)?.at ?? 0) / 2);
    const whole = { ...chat, max_tokens: 3 };
    expect(await complete(bad.url, whole)).toEqual(await complete(bad.url, whole));
  });

  it("benchmark-detect: honest on short prompts, a wrong model on benchmark-like ones", async () => {
    const bad = await sim({ mode: "benchmark-detect" });
    expect((await complete(bad.url)).choices[0].message.content).toBe(
      (await complete(honest.url)).choices[0].message.content,
    );
    const long = { ...chat, messages: longPrompt };
    expect((await complete(bad.url, long)).choices[0].message.content).not.toBe(
      (await complete(honest.url, long)).choices[0].message.content,
    );
  });

  it("false-usage: usage disagrees with the tokens sent", async () => {
    const bad = await sim({ mode: "false-usage" });
    const r = await complete(bad.url);
    expect(r.choices[0].logprobs.content).toHaveLength(40);
    expect(r.usage.completion_tokens).not.toBe(40);
    const h = await complete(honest.url);
    expect(r.usage.prompt_tokens).not.toBe(h.usage.prompt_tokens);
  });

  it("crash-after: serves N requests, then drops the connection and stops listening", async () => {
    let crashed = 0;
    const bad = await sim({ mode: "crash-after", crashAfterRequests: 2, onCrash: () => crashed++ });
    await complete(bad.url);
    await complete(bad.url);
    await expect(postJson(`${bad.url}/v1/chat/completions`, chat)).rejects.toThrow();
    expect(crashed).toBe(1);
    await expect(fetch(`${bad.url}/health`)).rejects.toThrow();
  });

  it("never-ready: /health stays 503 and requests get a 503 error body", async () => {
    const bad = await sim({ mode: "never-ready" });
    expect((await fetch(`${bad.url}/health`)).status).toBe(503);
    const res = await postJson(`${bad.url}/v1/chat/completions`, chat);
    expect(res.status).toBe(503);
    expect(((await res.json()) as Json).error.message).toMatch(/loading/);
  });

  it("a ready delay: /health is 503 while loading, then 200", async () => {
    const slow = await sim({ readyDelayMs: 300 });
    expect((await fetch(`${slow.url}/health`)).status).toBe(503);
    await new Promise((r) => setTimeout(r, 350));
    expect((await fetch(`${slow.url}/health`)).status).toBe(200);
  });

  it("hang-mid-stream: two tokens, then silence on an open connection", async () => {
    const bad = await sim({ mode: "hang-mid-stream" });
    const controller = new AbortController();
    const res = await postJson(
      `${bad.url}/v1/chat/completions`,
      { ...chat, stream: true },
      controller.signal,
    );
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const deadline = Date.now() + 600;
    while (Date.now() < deadline) {
      const read = await Promise.race([
        reader.read(),
        new Promise<"quiet">((r) => setTimeout(() => r("quiet"), 300)),
      ]);
      if (read === "quiet") break;
      if (read.done) throw new Error("the stream ended; a hanging server keeps it open");
      text += new TextDecoder().decode(read.value);
    }
    expect(text.match(/"logprobs":\{/g)).toHaveLength(2);
    expect(text).not.toContain("[DONE]");
    controller.abort();
    // Not streamed: no response at all.
    const whole = postJson(`${bad.url}/v1/chat/completions`, chat, AbortSignal.timeout(400));
    await expect(whole).rejects.toThrow(/abort|timeout/i);
  });

  it("huge-chunk: one event of several megabytes", async () => {
    const bad = await sim({ mode: "huge-chunk" });
    const { events } = await streamEvents(`${bad.url}/v1/chat/completions`, { ...chat, stream: true });
    expect(Math.max(...events.map((e) => e.data.length))).toBeGreaterThan(4_000_000);
    expect(events.at(-1)?.data).toBe("[DONE]");
  });

  it("invalid-json: a data line that does not parse, in streams and whole bodies", async () => {
    const bad = await sim({ mode: "invalid-json" });
    const { events } = await streamEvents(`${bad.url}/v1/chat/completions`, { ...chat, stream: true });
    const broken = events.filter((e) => {
      try {
        JSON.parse(e.data);
        return false;
      } catch {
        return e.data !== "[DONE]";
      }
    });
    expect(broken).toHaveLength(1);
    const res = await postJson(`${bad.url}/v1/chat/completions`, chat);
    await expect(res.json()).rejects.toThrow();
  });

  it("slow-drip: the response arrives a byte at a time", async () => {
    const bad = await sim({ mode: "slow-drip", dripMs: 1 });
    const res = await postJson(`${bad.url}/v1/chat/completions`, {
      ...chat,
      max_tokens: 2,
      logprobs: false,
      top_logprobs: 0,
    });
    let reads = 0;
    let bytes = 0;
    for await (const chunk of res.body as ReadableStream<Uint8Array>) {
      reads += 1;
      bytes += chunk.length;
    }
    expect(bytes).toBeGreaterThan(100);
    // An honest server sends this in one or two writes; dripping shows up as many small reads.
    expect(reads).toBeGreaterThan(20);
  });
});
