/** Small real-HTTP helpers for the sim's tests: POST JSON, read a whole SSE stream with arrival times. */

/** One server-sent event's data and when its bytes arrived (ms since the request was sent). */
export interface SseEvent {
  data: string;
  at: number;
}

/** POSTs JSON with fetch. */
export function postJson(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** POSTs a streaming request and reads every `data:` event with its arrival time. */
export async function streamEvents(
  url: string,
  body: unknown,
): Promise<{ status: number; events: SseEvent[] }> {
  const started = performance.now();
  const response = await postJson(url, body);
  const events: SseEvent[] = [];
  if (!response.body) return { status: response.status, events };
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body) {
    const at = performance.now() - started;
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n"))
        if (line.startsWith("data: ")) events.push({ data: line.slice(6), at });
      end = buffer.indexOf("\n\n");
    }
  }
  return { status: response.status, events };
}

/** The JSON chunks of a stream (everything but `[DONE]`). */
export function chunksOf(events: SseEvent[]): Array<Record<string, any>> {
  return events.filter((e) => e.data !== "[DONE]").map((e) => JSON.parse(e.data) as Record<string, any>);
}

/** Concatenated content deltas of chat chunks. */
export function contentOf(chunks: Array<Record<string, any>>): string {
  return chunks.map((c) => c.choices?.[0]?.delta?.content ?? "").join("");
}
