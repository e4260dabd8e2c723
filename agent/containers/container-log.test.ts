import { describe, expect, it } from "vitest";
import { capTail, demultiplex } from "./container-log.ts";

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe("container logs", () => {
  it("joins stdout and stderr frames in order", () => {
    const raw = Buffer.concat([frame(1, "out 1\n"), frame(2, "err 1\n"), frame(1, "out 2\n")]);
    expect(demultiplex(raw).toString()).toBe("out 1\nerr 1\nout 2\n");
  });

  it("passes a log that is not multiplexed (a TTY container) through", () => {
    expect(demultiplex(Buffer.from("plain text log\n")).toString()).toBe("plain text log\n");
  });

  it("keeps what it can of a frame cut short", () => {
    const whole = frame(1, "abcdef");
    expect(demultiplex(whole.subarray(0, 11)).toString()).toBe("abc");
  });

  it("keeps the newest bytes and never splits a character", () => {
    const text = Buffer.from(`old ${"é".repeat(10)}`);
    const tail = capTail(text, 7);
    expect(tail.truncated).toBe(true);
    expect(Buffer.byteLength(tail.text)).toBeLessThanOrEqual(7);
    expect(tail.text).toBe("ééé");
    expect(capTail(Buffer.from("short"), 100)).toEqual({ text: "short", truncated: false });
  });
});
