import { create } from "@bufbuild/protobuf";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { type TokenKTiming, TokenKTimingSchema } from "../../shared/gen/cacheon/v1/metrics_pb.ts";

/** Input of {@link tokenKTimings}. */
export interface TokenKTimingsInput {
  /** The arm whose requests are timed. */
  arm: readonly GeneratedOutput[];
  /** The opening baseline's outputs of the same requests. */
  opening: readonly GeneratedOutput[];
  /** The closing baseline's outputs; absent (one reference, as in `compare`) it is the opening's. */
  closing?: readonly GeneratedOutput[];
}

/**
 * Times to token k of an arm's timed requests against the baselines' times for the same requests
 * (same repetition, request index and prompt). Per request k = min(tokens of the arm, of the
 * opening baseline, of the closing baseline), counted from per-token logprobs entries; each time
 * runs from sending the request to the arrival of the k-th token. A request that failed, carried
 * no per-token times, or is a probe (repeated on purpose; judged by the probe check) gives no
 * timing. Pure.
 */
export function tokenKTimings(input: TokenKTimingsInput): TokenKTiming[] {
  const opening = byRequest(input.opening);
  const closing = input.closing ? byRequest(input.closing) : opening;
  const out: TokenKTiming[] = [];
  for (const a of input.arm) {
    if (a.kind === "probe") continue;
    const key = keyOf(a);
    const o = opening.get(key);
    const c = closing.get(key);
    if (!o || !c || o.promptId !== a.promptId || c.promptId !== a.promptId) continue;
    const times = [a, o, c].map(usableTimes);
    if (times.some((t) => t.length === 0)) continue;
    const [at, ot, ct] = times as [number[], number[], number[]];
    const k = Math.min(at.length, ot.length, ct.length);
    out.push(
      create(TokenKTimingSchema, {
        repetition: a.repetition,
        requestIndex: a.requestIndex,
        promptId: a.promptId,
        k,
        armMs: at[k - 1] as number,
        openingMs: ot[k - 1] as number,
        closingMs: ct[k - 1] as number,
      }),
    );
  }
  return out.sort((x, y) => x.repetition - y.repetition || x.requestIndex - y.requestIndex);
}

function keyOf(o: GeneratedOutput): string {
  return `${o.repetition}/${o.requestIndex}`;
}

function byRequest(outputs: readonly GeneratedOutput[]): Map<string, GeneratedOutput> {
  return new Map(outputs.map((o) => [keyOf(o), o]));
}

/** The per-token times of an ok output, or none when any is missing or not a positive number. */
function usableTimes(o: GeneratedOutput): number[] {
  const times = o.tokenTimesMs ?? [];
  if (!o.ok || times.length === 0) return [];
  return times.every((t) => Number.isFinite(t) && t > 0) ? times : [];
}
