import { describe, expect, it } from "vitest";
import { TokenCountSource } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { StreamRecorder } from "./stream-recorder.ts";

const role = JSON.stringify({
  choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null }],
});

function chunk(tokens: string[], finish: string | null = null): string {
  return JSON.stringify({
    choices: [
      {
        index: 0,
        delta: { content: tokens.join("") },
        logprobs: {
          content: tokens.map((t) => ({
            token: t,
            logprob: -0.5,
            top_logprobs: [
              { token: t, logprob: -0.5 },
              { token: "?", logprob: -2 },
            ],
          })),
        },
        finish_reason: finish,
      },
    ],
  });
}

const usage = (completion: number) =>
  JSON.stringify({
    choices: [],
    usage: { prompt_tokens: 7, completion_tokens: completion, total_tokens: 7 + completion },
  });

describe("StreamRecorder", () => {
  it("ignores a role-only first chunk for TTFT and counts tokens from logprobs across multi-token chunks", () => {
    const r = new StreamRecorder({ maxTokens: 10 });
    r.event(role, 1);
    r.event(chunk(["He", "llo"]), 50);
    r.event(chunk([" wor", "ld", "!"]), 70);
    r.event(chunk(["."], "length"), 75);
    r.event(usage(6), 76);
    r.event("[DONE]", 77);
    const s = r.finish();
    expect(s.failure).toBe("");
    expect(s.firstContentAt).toBe(50);
    expect(s.lastContentAt).toBe(75);
    expect(s.contentChunks).toBe(3);
    expect(s.outputTokens).toBe(6);
    expect(s.tokenCountSource).toBe(TokenCountSource.LOGPROBS);
    expect(s.usageCompletionTokens).toBe(6);
    expect(s.usagePromptTokens).toBe(7);
    expect(s.itlMs).toEqual([20, 5]);
    // One arrival time per token: tokens that came in one chunk share its time.
    expect(s.tokenAt).toEqual([50, 50, 70, 70, 70, 75]);
    expect(s.text).toBe("Hello world!.");
    expect(s.tokens.map((t) => t.token)).toEqual(["He", "llo", " wor", "ld", "!", "."]);
    expect(s.tokens[0]?.top).toEqual([
      { token: "He", logprob: -0.5 },
      { token: "?", logprob: -2 },
    ]);
    expect(s.finishReason).toBe("length");
  });

  it("fails a stream whose usage disagrees with the tokens it sent, or flags it when asked", () => {
    const feed = (r: StreamRecorder) => {
      r.event(chunk(["a", "b"]), 1);
      r.event(usage(9), 2);
      r.event("[DONE]", 3);
      return r.finish();
    };
    const failed = feed(new StreamRecorder({ maxTokens: 10 }));
    expect(failed.failure).toBe("usage-mismatch");
    expect(failed.failureDetail).toBe("usage.completion_tokens=9 but logprobs.content held 2 tokens");
    const flagged = feed(new StreamRecorder({ maxTokens: 10, usageMismatch: "flag" }));
    expect(flagged.failure).toBe("");
    expect(flagged.usageMismatch).toBe(true);
    expect(flagged.outputTokens).toBe(2);
  });

  it("fails token inflation past max_tokens as soon as it happens", () => {
    const r = new StreamRecorder({ maxTokens: 3 });
    r.event(chunk(["a", "b"]), 1);
    expect(r.failed).toBe(false);
    r.event(chunk(["c", "d"]), 2);
    expect(r.failed).toBe(true);
    r.event("[DONE]", 3);
    const s = r.finish();
    expect(s.failure).toBe("exceeds-max-tokens");
    expect(s.failureDetail).toContain("4 tokens, more than max_tokens=3");
    expect(s.sawDone).toBe(false);
  });

  it("fails usage above max_tokens when no logprobs were sent", () => {
    const r = new StreamRecorder({ maxTokens: 3 });
    r.event(JSON.stringify({ choices: [{ delta: { content: "abc" } }] }), 1);
    r.event(usage(5), 2);
    r.event("[DONE]", 3);
    expect(r.finish().failure).toBe("exceeds-max-tokens");
  });

  it("falls back to usage, then to chunks, saying which source it used", () => {
    const u = new StreamRecorder({ maxTokens: 10 });
    u.event(JSON.stringify({ choices: [{ delta: { content: "abc" } }] }), 1);
    u.event(usage(3), 2);
    u.event("[DONE]", 3);
    expect(u.finish()).toMatchObject({
      outputTokens: 3,
      tokenCountSource: TokenCountSource.USAGE,
      logprobTokens: -1,
    });
    const c = new StreamRecorder({ maxTokens: 10 });
    c.event(JSON.stringify({ choices: [{ delta: { content: "a" } }] }), 1);
    c.event(JSON.stringify({ choices: [{ delta: { content: "b" } }] }), 2);
    c.event("[DONE]", 3);
    expect(c.finish()).toMatchObject({ outputTokens: 2, tokenCountSource: TokenCountSource.CHUNKS });
  });

  it("records invalid JSON, non-object JSON, error events, missing [DONE] and empty streams as failures", () => {
    const bad = new StreamRecorder({ maxTokens: 10 });
    bad.event("{not json", 1);
    expect(bad.finish()).toMatchObject({ failure: "invalid-json" });
    const arr = new StreamRecorder({ maxTokens: 10 });
    arr.event("[1,2]", 1);
    expect(arr.finish().failure).toBe("invalid-json");
    const err = new StreamRecorder({ maxTokens: 10 });
    err.event(JSON.stringify({ error: { message: "CUDA out of memory" } }), 1);
    expect(err.finish()).toMatchObject({
      failure: "server-error",
      failureDetail: expect.stringContaining("CUDA out of memory"),
    });
    const cut = new StreamRecorder({ maxTokens: 10 });
    cut.event(chunk(["a"]), 1);
    expect(cut.finish()).toMatchObject({ failure: "no-done", outputTokens: 1 });
    const empty = new StreamRecorder({ maxTokens: 10 });
    empty.event(role, 1);
    empty.event("[DONE]", 2);
    expect(empty.finish().failure).toBe("no-content");
  });

  it("keeps the first failure and ignores events after [DONE]", () => {
    const r = new StreamRecorder({ maxTokens: 10 });
    r.event(chunk(["a"]), 1);
    r.event("[DONE]", 2);
    r.event(chunk(["b"]), 3);
    r.fail("stall", "first");
    r.fail("timeout", "second");
    expect(r.finish()).toMatchObject({
      failure: "stall",
      failureDetail: "first",
      outputTokens: 1,
      lastContentAt: 1,
    });
  });

  it("caps kept tokens, alternatives and text but keeps counting", () => {
    const r = new StreamRecorder({ maxTokens: 100, keepTokens: 2, keepTopK: 1, keepTextChars: 3 });
    r.event(chunk(["ab", "cd", "ef"]), 1);
    r.event("[DONE]", 2);
    const s = r.finish();
    expect(s.outputTokens).toBe(3);
    expect(s.tokens).toHaveLength(2);
    expect(s.tokens[0]?.top).toHaveLength(1);
    expect(s.text).toBe("abc");
    expect(s.textChars).toBe(6);
    expect(s.tokenAt).toEqual([1, 1]);
  });
});
