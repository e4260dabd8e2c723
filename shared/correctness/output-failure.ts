/**
 * Why one output fails, as a stable code with a sentence. Codes group the reasons of many outputs
 * into one line of a report and let tests and miners match them.
 *
 * - integrity: the output cannot be what it claims (ids the reference does not know, text that is
 *   not those ids, counts that disagree, a failed request). Never excused.
 * - tolerance: the output is measurably unlike the reference model's (teacher-forced gaps and
 *   log-likelihood, reported logprobs, length, where it stopped). Outputs of scored prompts may fail
 *   a tolerance up to the calibrated share; canaries may not.
 */
export interface OutputFailure {
  code: OutputFailureCode;
  kind: "integrity" | "tolerance";
  /** What was wrong with this output, with its figures. */
  detail: string;
}

/** Every failure code, with what it means. */
export const outputFailureCodes = {
  "request-failed": "the candidate's request failed (its stream broke the protocol, or it timed out)",
  "no-logprobs": "the candidate sent no per-token logprobs",
  "no-token-ids": "a logprobs entry is not a token id (the request asks return_tokens_as_token_ids)",
  "unknown-token-id": "a claimed token id is not a token of the reference's vocabulary",
  "special-token": "a claimed token is a special token (end of turn, padding), which carries no text",
  "text-mismatch": "the streamed text is not the reference tokenizer's decoding of the claimed ids",
  "retokenized-count": "re-tokenising the streamed text gives a token count far from the claimed one",
  "usage-mismatch": "usage.completion_tokens is absent or differs from the tokens streamed",
  "finish-reason":
    "the finish reason disagrees with the output (length before max_tokens, none, or a stop when a fixed length was asked)",
  "too-short": "fewer tokens than max(2, ceil(minLengthRatio x the reference's tokens))",
  "divergence-not-in-top-k": "at the first divergence a token is not in the other side's top-k",
  "divergence-gap":
    "at the first divergence the reference prefers its own token by more than the gap tolerance",
  "reported-logprobs": "the logprobs the candidate reported are not the reference model's for those tokens",
  "teacher-forced-rank": "the reference ranks one of the candidate's tokens below its top-k",
  "teacher-forced-gap":
    "at some position the reference prefers its best token by more than the gap tolerance",
  "teacher-forced-min":
    "one of the candidate's tokens is less likely under the reference than the minimum allowed",
  "teacher-forced-mean":
    "the output's mean log-likelihood under the reference is too far below the reference's own",
  "premature-stop": "the candidate stopped where the reference model would not end its turn",
} as const;

/** A failure code. */
export type OutputFailureCode = keyof typeof outputFailureCodes;

/** A failure with its kind filled in from the code. */
export function failure(code: OutputFailureCode, detail: string): OutputFailure {
  return { code, kind: integrityCodes.has(code) ? "integrity" : "tolerance", detail };
}

const integrityCodes = new Set<OutputFailureCode>([
  "request-failed",
  "no-logprobs",
  "no-token-ids",
  "unknown-token-id",
  "special-token",
  "text-mismatch",
  "retokenized-count",
  "usage-mismatch",
  "finish-reason",
]);
