import { describe, expect, it } from "vitest";
import { SseLimitError, SseParser } from "./sse-parser.ts";

function collect(max?: number) {
  const events: [string, number][] = [];
  const parser = new SseParser((d, at) => events.push([d, at]), max);
  return { events, parser };
}

describe("SseParser", () => {
  it("splits events on blank lines and stamps each with the arrival of its last byte", () => {
    const { events, parser } = collect();
    parser.push(Buffer.from('data: {"a":1}\n\ndata: {"b"'), 1);
    parser.push(Buffer.from(":2}\n"), 2);
    parser.push(Buffer.from("\n"), 3);
    parser.push(Buffer.from("data: [DONE]\r\n\r\n"), 4);
    expect(events).toEqual([
      ['{"a":1}', 1],
      ['{"b":2}', 3],
      ["[DONE]", 4],
    ]);
  });

  it("joins multi-line data, ignores comments and other fields, keeps UTF-8 split across chunks", () => {
    const { events, parser } = collect();
    const euro = Buffer.from("data: 5€\n\n");
    parser.push(Buffer.from(": keep-alive\n\nevent: x\nid: 7\ndata: one\ndata:two\n\n"), 1);
    parser.push(euro.subarray(0, 8), 2);
    parser.push(euro.subarray(8), 3);
    expect(events).toEqual([
      ["one\ntwo", 1],
      ["5€", 3],
    ]);
  });

  it("dispatches an unterminated last event at end of stream", () => {
    const { events, parser } = collect();
    parser.push(Buffer.from("data: [DONE]"), 1);
    expect(events).toEqual([]);
    parser.end(2);
    expect(events).toEqual([["[DONE]", 2]]);
  });

  it("throws SseLimitError for an event or an unterminated line past the cap", () => {
    const a = collect(100);
    expect(() => a.parser.push(Buffer.from(`data: ${"x".repeat(200)}`), 1)).toThrow(SseLimitError);
    const b = collect(100);
    expect(() => {
      for (let i = 0; i < 10; i++) b.parser.push(Buffer.from(`data: ${"y".repeat(20)}\n`), i);
    }).toThrow(/grew past 100 bytes/);
    const c = collect(100);
    for (let i = 0; i < 10; i++) c.parser.push(Buffer.from(`data: ${"z".repeat(60)}\n\n`), i);
    expect(c.events).toHaveLength(10);
  });
});
