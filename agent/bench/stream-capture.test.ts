import { describe, expect, it } from "vitest";
import { seededRandom } from "../../test/support/seeded-random.ts";
import { type CapturedRecording, DeferralPool, endsWithDoneEvent, StreamCapture } from "./stream-capture.ts";
import type { StreamRecorderOptions } from "./stream-recorder.ts";

const entry = (t: string) => ({ token: t, logprob: -0.1, top_logprobs: [{ token: t, logprob: -0.1 }] });
const chunk = (tokens: string[], eol = "\n") =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: tokens.join("") }, logprobs: { content: tokens.map(entry) } }] })}${eol}${eol}`;
const role = 'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null}]}\n\n';
const usage = (n: number) => `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":${n}}}\n\n`;

/** A read of a stream: its bytes and when they arrived. */
interface Read {
  bytes: Buffer;
  at: number;
}

/**
 * Plays reads into a capture the way stream-chat-completion's I/O layer does: parse when asked,
 * stop reading once the stream failed or ended with [DONE], end the response after the last read.
 */
function play(
  reads: Read[],
  options: {
    recorder: StreamRecorderOptions;
    maxEventBytes?: number;
    deferBytes?: number;
    pool?: DeferralPool;
  },
  endAt?: number,
) {
  const capture = new StreamCapture(options);
  const steps: string[] = [];
  let stopped = false;
  for (const read of reads) {
    const step = capture.push(read.bytes, 0, read.bytes.length, read.at);
    steps.push(step);
    if (step === "done") {
      stopped = true;
      break;
    }
    if (step === "parse") {
      capture.parse();
      if (capture.failed || capture.done) {
        stopped = true;
        break;
      }
    }
  }
  if (!stopped && endAt !== undefined) capture.end(endAt);
  return { recording: capture.record(), steps };
}

/** Cuts a stream's text into reads at random byte offsets, arriving 1 ms apart. */
function cut(text: string, random: () => number, maxPiece: number): Read[] {
  const bytes = Buffer.from(text);
  const reads: Read[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = 1 + Math.floor(random() * maxPiece);
    reads.push({ bytes: bytes.subarray(at, at + size), at: 100 + reads.length });
    at += size;
  }
  return reads;
}

const streams: Record<string, string> = {
  honest: role + chunk(["a", "b"]) + chunk(["c"]) + chunk(["d", "e", "f"]) + usage(6) + "data: [DONE]\n\n",
  crlf: chunk(["a"], "\r\n") + chunk(["b"], "\r\n") + "data: [DONE]\r\n\r\n",
  "no space": `${chunk(["a"])}data:[DONE]\n\n`,
  "comment before done": `${chunk(["a"])}: ping\ndata: [DONE]\n\n`,
  "done inside content": chunk(["[DONE]", "\n\ndata: [DONE]\n\n"]) + chunk(["x"]) + "data: [DONE]\n\n",
  "done then more": `${chunk(["a"])}data: [DONE]\n\n${chunk(["b"])}`,
  "done in a multi-line event": `${chunk(["a"])}data: [DONE]\ndata: x\n\n${chunk(["b"])}data: [DONE]\n\n`,
  "done glued to the last event": `data: {"choices":[{"delta":{"content":"a"}}]}\ndata: [DONE]\n\n`,
  "done first": "data: [DONE]\n\n",
  "invalid json": `${chunk(["a"])}data: {nope\n\n${chunk(["b"])}data: [DONE]\n\n`,
  "server error": `${chunk(["a"])}data: {"error":{"message":"boom"}}\n\n${chunk(["b"])}data: [DONE]\n\n`,
  "past max tokens": chunk(["a", "b", "c"]) + chunk(["d", "e", "f", "g"]) + chunk(["h"]) + "data: [DONE]\n\n",
  "lying usage": chunk(["a"]) + usage(9) + "data: [DONE]\n\n",
  "no done": chunk(["a"]) + chunk(["b"]),
  "unterminated last event": `${chunk(["a"])}data: {"choices":[{"delta":{"content":"z"}}]}`,
  "oversized event": `${chunk(["a"])}data: {"x":"${"y".repeat(3000)}"}\n\ndata: [DONE]\n\n`,
  "oversized multi-line event": `${chunk(["a"])}${"data: 1234567890\n".repeat(200)}\ndata: [DONE]\n\n`,
};

const recorder: StreamRecorderOptions = { maxTokens: 7 };

describe("StreamCapture", () => {
  it("records every stream exactly as parsing each read on arrival does, however the bytes are cut", () => {
    for (const [name, text] of Object.entries(streams)) {
      for (let seed = 1; seed <= 40; seed++) {
        const random = seededRandom(seed);
        const reads = cut(text, random, seed % 4 === 0 ? 3 : 1 + Math.floor(random() * 400));
        const endAt = 100 + reads.length;
        const eager = play(reads, { recorder, maxEventBytes: 2048, deferBytes: 0 }, endAt).recording;
        const deferred = play(reads, { recorder, maxEventBytes: 2048 }, endAt).recording;
        expect(deferred, `${name}, seed ${seed}`).toEqual(eager);
      }
    }
  });

  it("parses nothing while an honest stream arrives: every read is 'more' until the one ending with [DONE]", () => {
    const reads = cut(streams.honest as string, seededRandom(7), 50);
    const { recording, steps } = play(reads, { recorder });
    expect(steps.slice(0, -1).every((s) => s === "more")).toBe(true);
    expect(steps.at(-1)).toBe("done");
    expect(recording).toMatchObject({ failure: "", outputTokens: 6, text: "abcdef", sawDone: true });
    expect(recording.stoppedAt).toBe(reads.at(-1)?.at);
    // Junk in the middle is found only when the recording is made (the timed window is over by then).
    const junk = cut(streams["invalid json"] as string, seededRandom(8), 50);
    const late = play(junk, { recorder });
    expect(late.steps.at(-1)).toBe("done");
    expect(late.recording.failure).toBe("invalid-json");
    // The failure is dated by the read that carried the bad event, not by the read that ended the stream.
    expect(late.recording.stoppedAt).toBeLessThan(junk.at(-1)?.at as number);
  });

  it("parses as bytes arrive once the stream or the run holds too much unparsed", () => {
    const reads = cut(streams.honest as string, seededRandom(9), 40);
    const { steps } = play(reads, { recorder, deferBytes: 100 });
    const first = steps.indexOf("parse");
    expect(first).toBeGreaterThan(0);
    expect(steps.slice(first).every((s) => s === "parse")).toBe(true);

    const one = Buffer.from(chunk(["a"]));
    const pool = new DeferralPool(one.length + 10);
    const a = new StreamCapture({ recorder, pool });
    const b = new StreamCapture({ recorder, pool });
    expect(a.push(one, 0, one.length, 1)).toBe("more");
    expect(pool.held).toBeGreaterThan(0);
    const two = Buffer.from(chunk(["b"]));
    expect(b.push(two, 0, two.length, 2)).toBe("parse");
    b.parse();
    a.parse();
    expect(pool.held).toBe(0);
  });

  it("applies a failure of the request after the bytes that arrived before it", () => {
    const capture = new StreamCapture({ recorder });
    const bad = Buffer.from(`${chunk(["a"])}data: {bad\n\n`);
    capture.push(bad, 0, bad.length, 1);
    capture.fail("stall", "the server sent nothing for 10 ms");
    expect(capture.record()).toMatchObject({ failure: "invalid-json", outputTokens: 1 });
    const silent = new StreamCapture({ recorder });
    const a = Buffer.from(chunk(["a"]));
    silent.push(a, 0, a.length, 1);
    silent.fail("stall", "the server sent nothing for 10 ms");
    silent.fail("timeout", "later");
    const r: CapturedRecording = silent.record();
    expect(r).toMatchObject({
      failure: "stall",
      failureDetail: "the server sent nothing for 10 ms",
      text: "a",
    });
    expect(r.stoppedAt).toBeNaN();
  });
});

describe("endsWithDoneEvent", () => {
  const cases: [string, string, boolean][] = [
    ["after an event", 'data: {"a":1}\n\ndata: [DONE]\n\n', true],
    ["without the space", 'data: {"a":1}\n\ndata:[DONE]\n\n', true],
    ["with CRLF", 'data: {"a":1}\r\n\r\ndata: [DONE]\r\n\r\n', true],
    ["alone in the stream", "data: [DONE]\n\n", true],
    ["after a blank first line", "\ndata: [DONE]\n\n", true],
    ["without the blank line after", 'data: {"a":1}\n\ndata: [DONE]\n', false],
    ["in a multi-line event", 'data: {"a":1}\ndata: [DONE]\n\n', false],
    ["after a comment (the parser decides)", 'data: {"a":1}\n\n: c\ndata: [DONE]\n\n', false],
    ["with two spaces", 'data: {"a":1}\n\ndata:  [DONE]\n\n', false],
    ["as another field", 'data: {"a":1}\n\nevent: [DONE]\n\n', false],
    ["in a JSON event", 'data: {"a":1}\n\ndata: {"t":"[DONE]"}\n\n', false],
    ["lower case", 'data: {"a":1}\n\ndata: [done]\n\n', false],
    ["a line ending in a lone CR", 'data: {"a":1}\r\rdata: [DONE]\n\n', false],
  ];
  it.each(cases)("%s", (_name, text, expected) => {
    const bytes = Buffer.from(text);
    expect(endsWithDoneEvent(bytes, bytes.length, bytes.length)).toBe(expected);
  });

  it("does not claim the stream's start from a tail that does not reach it", () => {
    const tail = Buffer.from("data: [DONE]\n\n");
    expect(endsWithDoneEvent(tail, tail.length, tail.length + 10)).toBe(false);
    const blank = Buffer.from("\ndata: [DONE]\n\n");
    expect(endsWithDoneEvent(blank, blank.length, blank.length + 10)).toBe(false);
  });
});
