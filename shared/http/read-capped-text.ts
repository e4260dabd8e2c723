/** Default cap of bodies read from servers the agent does not trust (readiness, error replies): 64 KiB. */
export const defaultBodyCapBytes = 64 * 1024;

/** A body read up to a cap. */
export interface CappedText {
  /** The first `capBytes` bytes (or all of them) as UTF-8. */
  text: string;
  /** True when the body was longer than the cap: the rest was never read. */
  truncated: boolean;
}

/**
 * Reads at most `capBytes` of a fetch Response's body and cancels the rest, so a server that
 * answers with an endless (or 10 GB) body costs the reader 64 KiB and one cancelled stream, not its
 * memory. Never throws for the body: a stream that fails midway returns what arrived.
 */
export async function readCappedText(
  response: Response,
  capBytes: number = defaultBodyCapBytes,
): Promise<CappedText> {
  const body = response.body;
  if (!body) return { text: "", truncated: false };
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = capBytes - size;
      if (value.byteLength > room) {
        parts.push(value.subarray(0, room));
        size += room;
        truncated = true;
        break;
      }
      parts.push(value);
      size += value.byteLength;
    }
  } catch {
    // What arrived before the stream broke is still worth reporting.
  } finally {
    if (truncated) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  return { text: Buffer.concat(parts).toString("utf8"), truncated };
}
