import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimLlm, startSimLlm } from "./sim-llm-server.ts";
import { postJson } from "./testing/sim-client.ts";

// Every malformed request gets an OpenAI-style error body with the right status, over real HTTP.
let sim: RunningSimLlm;
beforeAll(async () => {
  sim = await startSimLlm({ timing: { decodeStepBaseMs: 0, prefillBaseMs: 0, prefillMsPerPromptToken: 0 } });
});
afterAll(async () => {
  await sim.close();
});

const chat = { messages: [{ role: "user", content: "hi" }], max_tokens: 4 };

async function expectError(path: string, body: unknown, status: number, message: RegExp): Promise<void> {
  const res = await fetch(`${sim.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  expect(res.status).toBe(status);
  const json = (await res.json()) as { error: { message: string; type: string; code: number } };
  expect(json.error.code).toBe(status);
  expect(json.error.type).toMatch(/Error$/);
  expect(json.error.message).toMatch(message);
}

describe("sim-llm rejects bad requests", () => {
  const cases: Array<[string, string, unknown, number, RegExp]> = [
    ["a body that is not JSON", "/v1/chat/completions", "{not json", 400, /not valid JSON/],
    ["a body that is not an object", "/v1/chat/completions", "[1,2]", 400, /JSON object/],
    ["another model", "/v1/chat/completions", { ...chat, model: "gpt-4" }, 404, /`gpt-4` does not exist/],
    ["no messages", "/v1/chat/completions", { max_tokens: 3 }, 400, /messages/],
    ["an unknown role", "/v1/chat/completions", { messages: [{ role: "robot", content: "x" }] }, 400, /role/],
    [
      "non-text content parts",
      "/v1/chat/completions",
      { messages: [{ role: "user", content: [{ type: "image_url" }] }] },
      400,
      /text/,
    ],
    [
      "content that is a number",
      "/v1/chat/completions",
      { messages: [{ role: "user", content: 5 }] },
      400,
      /content/,
    ],
    [
      "top_logprobs without logprobs",
      "/v1/chat/completions",
      { ...chat, top_logprobs: 3 },
      400,
      /logprobs to true/,
    ],
    [
      "top_logprobs above 20",
      "/v1/chat/completions",
      { ...chat, logprobs: true, top_logprobs: 21 },
      400,
      /top_logprobs/,
    ],
    ["max_tokens 0 for chat", "/v1/chat/completions", { ...chat, max_tokens: 0 }, 400, /max_tokens/],
    [
      "max_tokens past the context",
      "/v1/chat/completions",
      { ...chat, max_tokens: 40000 },
      400,
      /maximum context length/,
    ],
    ["a fractional max_tokens", "/v1/chat/completions", { ...chat, max_tokens: 2.5 }, 400, /integer/],
    ["a negative temperature", "/v1/chat/completions", { ...chat, temperature: -1 }, 400, /temperature/],
    ["a string temperature", "/v1/chat/completions", { ...chat, temperature: "hot" }, 400, /temperature/],
    ["stop of the wrong type", "/v1/chat/completions", { ...chat, stop: 5 }, 400, /stop/],
    ["n above 1", "/v1/chat/completions", { ...chat, n: 2 }, 400, /n: only 1/],
    [
      "stream_options without stream",
      "/v1/chat/completions",
      { ...chat, stream_options: { include_usage: true } },
      400,
      /stream_options/,
    ],
    ["min_tokens above max_tokens", "/v1/chat/completions", { ...chat, min_tokens: 10 }, 400, /min_tokens/],
    [
      "ignore_eos that is not boolean",
      "/v1/chat/completions",
      { ...chat, ignore_eos: "yes" },
      400,
      /ignore_eos/,
    ],
    ["an empty prompt", "/v1/completions", { prompt: "" }, 400, /empty/],
    ["a prompt that is an object", "/v1/completions", { prompt: { a: 1 } }, 400, /prompt/],
    ["a token id out of range", "/v1/completions", { prompt: [1, 2, 999999] }, 400, /prompt\[2\]/],
    ["batched prompts", "/v1/completions", { prompt: ["a", "b"] }, 400, /batched/],
    ["echo with stream", "/v1/completions", { prompt: "a", echo: true, stream: true }, 400, /echo/],
    [
      "prompt_logprobs with stream",
      "/v1/completions",
      { prompt: "a", prompt_logprobs: 1, stream: true },
      400,
      /prompt_logprobs/,
    ],
    ["tokenize with neither prompt nor messages", "/tokenize", {}, 400, /prompt .* or messages/],
    ["tokenize of a non-string prompt", "/tokenize", { prompt: 3 }, 400, /prompt/],
    ["detokenize of non-ids", "/detokenize", { tokens: [1, "a"] }, 400, /tokens\[1\]/],
    ["detokenize without tokens", "/detokenize", {}, 400, /tokens/],
  ];
  for (const [what, path, body, status, message] of cases) {
    it(`answers ${status} to ${what}`, async () => {
      await expectError(path, body, status, message);
    });
  }

  it("answers 404 to an unknown path and 405 to a wrong method", async () => {
    const missing = await fetch(`${sim.url}/v2/nothing`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/no route/);
    const wrong = await fetch(`${sim.url}/v1/chat/completions`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
  });

  it("answers 413 to a body over 16 MiB", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${sim.url}/v1/chat/completions`, { method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end(Buffer.alloc(17 * 1024 * 1024, 32));
    });
    expect(status).toBe(413);
  });

  it("still serves after bad requests", async () => {
    const res = await postJson(`${sim.url}/v1/chat/completions`, chat);
    expect(res.status).toBe(200);
  });
});
