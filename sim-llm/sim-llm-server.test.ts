import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimLlm, startSimLlm } from "./sim-llm-server.ts";
import { chunksOf, contentOf, postJson, streamEvents } from "./testing/sim-client.ts";

const fast = { prefillBaseMs: 0, prefillMsPerPromptToken: 0, decodeStepBaseMs: 0, decodeStepMsPerRunning: 0 };
const messages = [{ role: "user", content: "Write a short story about a lighthouse keeper." }];
const greedy = { model: "Qwen/Qwen2.5-72B-Instruct", messages, temperature: 0, max_tokens: 64 };

/** A greedy chat completion whose logprob tokens are ids (`return_tokens_as_token_ids`). */
async function generateWithIds(url: string): Promise<any> {
  const body = { ...greedy, logprobs: true, return_tokens_as_token_ids: true };
  return (await postJson(`${url}/v1/chat/completions`, body)).json();
}

describe("sim-llm honest server over real HTTP", () => {
  let sim: RunningSimLlm;
  beforeAll(async () => {
    sim = await startSimLlm({ timing: fast });
  });
  afterAll(async () => {
    await sim.close();
  });

  it("answers /health 200 and lists the served model", async () => {
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
    const models = (await (await fetch(`${sim.url}/v1/models`)).json()) as {
      data: Array<{ id: string; max_model_len: number }>;
    };
    expect(models.data.map((m) => m.id)).toEqual(["Qwen/Qwen2.5-72B-Instruct"]);
    expect(models.data[0]?.max_model_len).toBe(32768);
    expect(((await (await fetch(`${sim.url}/version`)).json()) as { version: string }).version).toMatch(
      /sim-llm/,
    );
  });

  it("streams a chat completion with one logprobs entry per token and a usage chunk", async () => {
    const { status, events } = await streamEvents(`${sim.url}/v1/chat/completions`, {
      ...greedy,
      stream: true,
      logprobs: true,
      top_logprobs: 5,
      stream_options: { include_usage: true },
    });
    expect(status).toBe(200);
    expect(events.at(-1)?.data).toBe("[DONE]");
    const chunks = chunksOf(events);
    expect(chunks[0]?.choices[0].delta).toEqual({ role: "assistant", content: "" });
    const tokenChunks = chunks.filter((c) => c.choices[0]?.logprobs);
    const entries = tokenChunks.flatMap((c) => c.choices[0].logprobs.content);
    const usage = chunks.at(-1)?.usage;
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(usage.completion_tokens).toBe(entries.length);
    expect(usage.prompt_tokens).toBeGreaterThan(10);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    for (const e of entries) {
      expect(e.top_logprobs).toHaveLength(5);
      expect(e.logprob).toBeLessThanOrEqual(0);
      expect(e.top_logprobs[0].logprob).toBeGreaterThanOrEqual(e.logprob);
      expect(e.token).toBe(e.top_logprobs[0].token); // greedy picks the top token
    }
    expect(entries.map((e: { token: string }) => e.token).join("")).toBe(contentOf(chunks));
    const finish = chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean);
    expect(finish).toHaveLength(1);
    expect(["stop", "length"]).toContain(finish[0]);
  });

  it("gives byte-identical greedy output from two separate servers", async () => {
    const other = await startSimLlm({ timing: fast, port: 0 });
    try {
      const body = { ...greedy, logprobs: true, top_logprobs: 3, max_tokens: 200 };
      const a = (await (await postJson(`${sim.url}/v1/chat/completions`, body)).json()) as any;
      const b = (await (await postJson(`${other.url}/v1/chat/completions`, body)).json()) as any;
      expect(JSON.stringify(a.choices)).toBe(JSON.stringify(b.choices));
      expect(a.choices[0].message.content.length).toBeGreaterThan(20);
    } finally {
      await other.close();
    }
  });

  it("ends an answer with EOS at a natural length, and goes on to max_tokens with ignore_eos", async () => {
    const natural = (await (
      await postJson(`${sim.url}/v1/chat/completions`, { ...greedy, max_tokens: 2000 })
    ).json()) as any;
    expect(natural.choices[0].finish_reason).toBe("stop");
    expect(natural.usage.completion_tokens).toBeLessThan(2000);
    const forced = (await (
      await postJson(`${sim.url}/v1/chat/completions`, {
        ...greedy,
        max_tokens: natural.usage.completion_tokens + 50,
        ignore_eos: true,
      })
    ).json()) as any;
    expect(forced.choices[0].finish_reason).toBe("length");
    expect(forced.usage.completion_tokens).toBe(natural.usage.completion_tokens + 50);
    expect(forced.choices[0].message.content.startsWith(natural.choices[0].message.content)).toBe(true);
  });

  it("scores generated tokens by teacher forcing with exactly the generation logprobs", async () => {
    const gen = await generateWithIds(sim.url);
    const entries = gen.choices[0].logprobs.content as Array<{ token: string; logprob: number }>;
    const ids = entries.map((e) => Number(e.token.replace("token_id:", "")));
    expect(ids.every(Number.isInteger)).toBe(true);
    const prompt = (await (
      await postJson(`${sim.url}/tokenize`, { model: greedy.model, messages, add_generation_prompt: true })
    ).json()) as any;
    expect(prompt.count).toBe(gen.usage.prompt_tokens);
    const scored = (await (
      await postJson(`${sim.url}/v1/completions`, {
        model: greedy.model,
        prompt: [...prompt.tokens, ...ids],
        max_tokens: 0,
        prompt_logprobs: 1,
      })
    ).json()) as any;
    const promptLogprobs = scored.choices[0].prompt_logprobs as Array<Record<
      string,
      { logprob: number; rank: number }
    > | null>;
    expect(promptLogprobs[0]).toBeNull();
    const forced = ids.map((id, i) => promptLogprobs[prompt.count + i]?.[String(id)]?.logprob);
    expect(forced).toEqual(entries.map((e) => e.logprob));
    // echo + logprobs gives the same numbers in the legacy format
    const echoed = (await (
      await postJson(`${sim.url}/v1/completions`, {
        prompt: [...prompt.tokens, ...ids],
        max_tokens: 0,
        echo: true,
        logprobs: 0,
      })
    ).json()) as any;
    expect(echoed.choices[0].logprobs.token_logprobs.slice(prompt.count)).toEqual(
      entries.map((e) => e.logprob),
    );
    expect(echoed.choices[0].text).toContain(gen.choices[0].message.content);
  });

  it("re-tokenizes generated text into the generated ids", async () => {
    const gen = await generateWithIds(sim.url);
    const ids = gen.choices[0].logprobs.content.map((e: { token: string }) => Number(e.token.slice(9)));
    const tokenized = (await (
      await postJson(`${sim.url}/tokenize`, { prompt: gen.choices[0].message.content })
    ).json()) as any;
    expect(tokenized.tokens).toEqual(ids);
    const text = (await (await postJson(`${sim.url}/detokenize`, { tokens: ids })).json()) as any;
    expect(text.prompt).toBe(gen.choices[0].message.content);
  });

  it("streams /v1/completions from a string prompt with legacy logprobs", async () => {
    const { events } = await streamEvents(`${sim.url}/v1/completions`, {
      prompt: "Once upon a time",
      max_tokens: 10,
      temperature: 0,
      stream: true,
      logprobs: 2,
      ignore_eos: true,
    });
    const chunks = chunksOf(events);
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    const tokens = chunks.flatMap((c) => c.choices[0].logprobs?.tokens ?? []);
    expect(tokens).toHaveLength(10);
    expect(chunks.map((c) => c.choices[0].text).join("")).toBe(tokens.join(""));
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe("length");
  });

  it("cuts output before a stop string and reports finish_reason stop", async () => {
    const whole = (await (
      await postJson(`${sim.url}/v1/chat/completions`, { ...greedy, max_tokens: 40, ignore_eos: true })
    ).json()) as any;
    const text: string = whole.choices[0].message.content;
    const stop = text.slice(text.length / 2, text.length / 2 + 4);
    const cut = (await (
      await postJson(`${sim.url}/v1/chat/completions`, { ...greedy, max_tokens: 40, stop: [stop] })
    ).json()) as any;
    expect(cut.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0].finish_reason).toBe("stop");
    const { events } = await streamEvents(`${sim.url}/v1/chat/completions`, {
      ...greedy,
      max_tokens: 40,
      stop,
      stream: true,
    });
    expect(contentOf(chunksOf(events))).toBe(text.slice(0, text.indexOf(stop)));
  });

  it("holds EOS back until min_tokens", async () => {
    const natural = (await (
      await postJson(`${sim.url}/v1/chat/completions`, { ...greedy, max_tokens: 2000 })
    ).json()) as any;
    const n = natural.usage.completion_tokens as number;
    const held = (await (
      await postJson(`${sim.url}/v1/chat/completions`, { ...greedy, max_tokens: 2000, min_tokens: n + 5 })
    ).json()) as any;
    expect(held.usage.completion_tokens).toBeGreaterThanOrEqual(n + 5);
  });

  it("samples reproducibly with a seed at temperature > 0", async () => {
    const body = { ...greedy, temperature: 1, seed: 42 };
    const a = (await (await postJson(`${sim.url}/v1/chat/completions`, body)).json()) as any;
    const b = (await (await postJson(`${sim.url}/v1/chat/completions`, body)).json()) as any;
    const c = (await (await postJson(`${sim.url}/v1/chat/completions`, { ...body, seed: 7 })).json()) as any;
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    expect(a.choices[0].message.content).not.toBe(c.choices[0].message.content);
  });
});

describe("sim-llm lifecycle", () => {
  it("stops listening when its AbortSignal fires", async () => {
    const controller = new AbortController();
    const sim = await startSimLlm({ signal: controller.signal });
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
    controller.abort();
    await new Promise((r) => setTimeout(r, 50));
    await expect(fetch(`${sim.url}/health`)).rejects.toThrow();
    await sim.close(); // closing again is harmless
  });

  it("reports a port already in use as unavailable", async () => {
    const sim = await startSimLlm({});
    try {
      await expect(startSimLlm({ port: sim.port })).rejects.toThrow(/cannot listen on 127.0.0.1:\d+/);
    } finally {
      await sim.close();
    }
  });
});

describe("sim-llm timing and numerics over real HTTP", () => {
  it("waits at least the prefill and decode time its timing and speed ask for", async () => {
    const timing = {
      prefillBaseMs: 100,
      prefillMsPerPromptToken: 1,
      decodeStepBaseMs: 25,
      decodeStepMsPerRunning: 0,
    };
    const sim = await startSimLlm({ timing, speed: 2 });
    try {
      const { events } = await streamEvents(`${sim.url}/v1/chat/completions`, {
        ...greedy,
        max_tokens: 8,
        ignore_eos: true,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = chunksOf(events);
      const prompt = chunks.at(-1)?.usage.prompt_tokens as number;
      const content = events.filter((e) => e.data.includes('"content":"') && !e.data.includes('"role"'));
      expect(content).toHaveLength(8);
      const ttft = (100 + prompt) / 2;
      // Lower bounds only: a loaded machine makes timers late, never early.
      expect(content[0]?.at).toBeGreaterThanOrEqual(ttft - 2);
      expect(content.at(-1)?.at).toBeGreaterThanOrEqual(ttft + 7 * 12.5 - 2);
    } finally {
      await sim.close();
    }
  });

  it("with numeric noise, logprobs are close to the exact model's but not equal", async () => {
    const exact = await startSimLlm({ timing: fast });
    const noisy = await startSimLlm({ timing: fast, numericNoise: 0.02, noiseSeed: 5 });
    try {
      const body = { ...greedy, max_tokens: 100, ignore_eos: true, logprobs: true };
      const a = (await (await postJson(`${exact.url}/v1/chat/completions`, body)).json()) as any;
      const b = (await (await postJson(`${noisy.url}/v1/chat/completions`, body)).json()) as any;
      const la = a.choices[0].logprobs.content as Array<{ token: string; logprob: number }>;
      const lb = b.choices[0].logprobs.content as Array<{ token: string; logprob: number }>;
      const same = la.filter((e, i) => e.token === lb[i]?.token).length;
      expect(same).toBeGreaterThan(10);
      const diffs = la.slice(0, 10).map((e, i) => Math.abs(e.logprob - (lb[i]?.logprob ?? 0)));
      expect(Math.max(...diffs)).toBeGreaterThan(0);
      expect(Math.max(...diffs)).toBeLessThan(0.3);
    } finally {
      await exact.close();
      await noisy.close();
    }
  });
});
