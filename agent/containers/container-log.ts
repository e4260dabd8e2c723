import type Docker from "dockerode";

/** A capped tail of a container's log. */
export interface LogTail {
  /** Log text (stdout and stderr interleaved), at most `maxBytes` bytes of UTF-8. */
  text: string;
  /** True when older output was cut. */
  truncated: boolean;
}

/** Largest excerpt the contract carries (LogExcerpt.text). */
export const maxLogExcerptBytes = 64 * 1024;

/**
 * Reads the last lines of a container's log, capped at `maxBytes` (keeping the newest bytes).
 * Never throws: a container that is gone, or an engine that refuses, yields an explanatory line.
 */
export async function readLogTail(
  container: Docker.Container,
  options: { maxBytes?: number; tailLines?: number } = {},
): Promise<LogTail> {
  const maxBytes = options.maxBytes ?? maxLogExcerptBytes;
  try {
    const raw = (await container.logs({
      stdout: true,
      stderr: true,
      follow: false,
      tail: options.tailLines ?? 400,
    })) as unknown as Buffer;
    const text = demultiplex(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
    return capTail(text, maxBytes);
  } catch (error) {
    return { text: `(log unavailable: ${(error as Error).message})`, truncated: false };
  }
}

/**
 * Joins the payloads of Docker's multiplexed log format (8-byte header: stream, 3 zero bytes,
 * big-endian length). A buffer not in that format (a TTY container) is returned as is.
 */
export function demultiplex(buffer: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset];
    if (!(stream === 0 || stream === 1 || stream === 2) || buffer.readUIntBE(offset + 1, 3) !== 0) {
      return offset === 0 ? buffer : Buffer.concat(parts);
    }
    const length = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, Math.min(buffer.length, offset + 8 + length)));
    offset += 8 + length;
  }
  return Buffer.concat(parts);
}

/** The newest `maxBytes` bytes of a log, cut at a character boundary. */
export function capTail(buffer: Buffer, maxBytes: number): LogTail {
  if (buffer.length <= maxBytes) return { text: buffer.toString("utf8"), truncated: false };
  let start = buffer.length - maxBytes;
  // Skip UTF-8 continuation bytes so the cut never splits a character.
  while (start < buffer.length && ((buffer[start] ?? 0) & 0xc0) === 0x80) start += 1;
  return { text: buffer.subarray(start).toString("utf8"), truncated: true };
}
