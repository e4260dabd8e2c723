/**
 * One output scored by the reference model (teacher forcing): for every token of the output, what
 * the reference thinks of it given the prompt and the tokens before it. Covers the whole output,
 * never only a prefix.
 */
export interface TeacherForcedOutput {
  /** Repetition of the output scored. */
  repetition: number;
  /** Request index of the output scored. */
  requestIndex: number;
  /** The reference's logprob of each of the output's tokens, in order, nats. */
  logprobs: number[];
  /** The reference's logprob of its own most likely token at each position, nats. */
  bestLogprobs: number[];
  /** 1-based rank of each of the output's tokens under the reference. */
  ranks: number[];
  /**
   * For an output that ended with finish_reason "stop": the reference's view of ending the turn
   * right after the last token (the end-of-turn token scored at that position).
   */
  stop?: { logprob: number; bestLogprob: number; rank: number };
}

/** Figures of a teacher-forced output the verdict reads. */
export interface TeacherForcedFigures {
  /** Mean logprob per token, nats (NaN for no tokens). */
  meanLogprob: number;
  /** Lowest logprob of any token, nats. */
  minLogprob: number;
  /** Largest gap (best logprob minus the token's) over the output, nats, and where (0-based). */
  maxGap: number;
  maxGapAt: number;
  /** Worst (largest) rank of any token. */
  worstRank: number;
  /** At a stop: best logprob minus the end-of-turn token's, nats; NaN when the output did not stop. */
  stopGap: number;
  /** At a stop: rank of the end-of-turn token; 0 when the output did not stop. */
  stopRank: number;
}

/** The figures of a teacher-forced output. Pure. */
export function teacherForcedFigures(tf: TeacherForcedOutput): TeacherForcedFigures {
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let maxGap = 0;
  let maxGapAt = 0;
  let worstRank = 0;
  for (let i = 0; i < tf.logprobs.length; i++) {
    const lp = tf.logprobs[i] as number;
    sum += lp;
    min = Math.min(min, lp);
    const gap = Math.max(0, (tf.bestLogprobs[i] ?? lp) - lp);
    if (gap > maxGap) {
      maxGap = gap;
      maxGapAt = i;
    }
    worstRank = Math.max(worstRank, tf.ranks[i] ?? 0);
  }
  const n = tf.logprobs.length;
  return {
    meanLogprob: n > 0 ? sum / n : Number.NaN,
    minLogprob: n > 0 ? min : Number.NaN,
    maxGap,
    maxGapAt,
    worstRank,
    stopGap: tf.stop ? Math.max(0, tf.stop.bestLogprob - tf.stop.logprob) : Number.NaN,
    stopRank: tf.stop?.rank ?? 0,
  };
}
