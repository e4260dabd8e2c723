import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chatRequestBody } from "./chat-request.ts";
import { loadWorkloadPrompts, parsePromptJsonl, promptFileSha256 } from "./load-workload-prompts.ts";

describe("parsePromptJsonl", () => {
  it("reads prompt and messages lines and skips blank lines", () => {
    const prompts = parsePromptJsonl(
      '{"id":"a","prompt":"hi"}\n\n{"id":"b","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}]}\n{"prompt":"x"}\n',
    );
    expect(prompts.map((p) => p.id)).toEqual(["a", "b", "line-4"]);
    expect(prompts[1]?.messages).toEqual([
      { role: "system", content: "s" },
      { role: "user", content: "u" },
    ]);
  });
  it("reports every bad line with its number at once", () => {
    const text =
      'not json\n[1]\n{"id":"a","prompt":"x"}\n{"id":"a","prompt":"y"}\n{"messages":[{"role":"bot","content":"x"}]}\n';
    expect(() => parsePromptJsonl(text, "p.jsonl")).toThrow(
      /p.jsonl has 4 bad lines:\n {2}- p.jsonl:1: not JSON.*\n {2}- p.jsonl:2: expected a JSON object\n {2}- p.jsonl:4: duplicate id "a"\n {2}- p.jsonl:5: needs "prompt"/s,
    );
    expect(() => parsePromptJsonl("\n\n", "e.jsonl")).toThrow("e.jsonl holds no prompts");
  });
});

describe("loadWorkloadPrompts", () => {
  it("loads the bundled corpus by default and refuses unknown corpora and sources", () => {
    expect(loadWorkloadPrompts({ promptSource: "", promptChars: 0 }).length).toBeGreaterThan(100);
    expect(() => loadWorkloadPrompts({ promptSource: "bundled:other", promptChars: 0 })).toThrow(
      /unknown bundled corpus "other"/,
    );
    expect(() => loadWorkloadPrompts({ promptSource: "http://x", promptChars: 0 })).toThrow(
      /must be "generated:<generator>", "bundled:<name>" or "sha256:<hex>"/,
    );
    // Generated prompts live only in their job: no pool stands in for them.
    expect(() => loadWorkloadPrompts({ promptSource: "generated:cacheon-gen-v1/c", promptChars: 0 })).toThrow(
      /the job must carry them/,
    );
  });
  it("finds a private file by its sha256 and names the missing one", () => {
    const dir = mkdtempSync(join(tmpdir(), "cacheon-prompts-"));
    const text = '{"id":"secret","prompt":"private prompt"}\n';
    const path = join(dir, "p.jsonl");
    writeFileSync(path, text);
    const sha = promptFileSha256(text);
    expect(
      loadWorkloadPrompts({ promptSource: `sha256:${sha}`, promptChars: 0 }, { promptFiles: [path] })[0]?.id,
    ).toBe("secret");
    expect(() =>
      loadWorkloadPrompts(
        { promptSource: `sha256:${"0".repeat(64)}`, promptChars: 0 },
        { promptFiles: [path] },
      ),
    ).toThrow(/no prompt file with sha256 0000/);
    expect(() =>
      loadWorkloadPrompts(
        { promptSource: `sha256:${sha}`, promptChars: 0 },
        { promptFiles: [join(dir, "missing")] },
      ),
    ).toThrow(/cannot read prompt file .*missing/);
  });
});

describe("chatRequestBody", () => {
  const prompt = { id: "a", messages: [{ role: "user" as const, content: "hi" }] };
  it("asks for a greedy stream with usage, logprobs with token ids, and a fixed length when set", () => {
    expect(
      chatRequestBody(prompt, {
        model: "m",
        workload: { maxTokens: 8, fixedOutputLength: true, topLogprobs: 5 },
      }),
    ).toEqual({
      model: "m",
      messages: prompt.messages,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
      max_tokens: 8,
      logprobs: true,
      top_logprobs: 5,
      return_tokens_as_token_ids: true,
      ignore_eos: true,
      min_tokens: 8,
    });
  });
  it("leaves logprobs and length fields out when not asked", () => {
    const body = chatRequestBody(prompt, {
      model: "m",
      workload: { maxTokens: 8, fixedOutputLength: false, topLogprobs: 0 },
    });
    expect(body).not.toHaveProperty("logprobs");
    expect(body).not.toHaveProperty("ignore_eos");
    expect(
      chatRequestBody(prompt, {
        model: "m",
        tokenIds: false,
        workload: { maxTokens: 8, fixedOutputLength: false, topLogprobs: 2 },
      }),
    ).not.toHaveProperty("return_tokens_as_token_ids");
  });
});
