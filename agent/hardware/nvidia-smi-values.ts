/**
 * nvidia-smi's ways of saying "no value": `N/A`, `[N/A]`, `Not Supported`, `[Not Supported]`,
 * `Unknown Error`, `[Insufficient Permissions]`, a deprecation notice. None of them is zero.
 */
const noValue =
  /^\[?(n\/a|not supported|not available|unknown error|insufficient permissions|gpu is lost|unknown|none)\]?$|^requested functionality has been deprecated$/i;

/** The text, or "" when nvidia-smi printed a no-value marker or nothing. */
export function valueOrEmpty(text: string | undefined): string {
  const trimmed = (text ?? "").trim();
  return noValue.test(trimmed) ? "" : trimmed;
}

/**
 * The number at the start of a value such as `143771 MiB`, `38 C`, `0 %`, `700.00 W`;
 * undefined when there is none (`N/A` included).
 */
export function leadingNumber(text: string | undefined): number | undefined {
  const value = valueOrEmpty(text);
  const match = /^(-?\d+(?:\.\d+)?)(?:\s*[A-Za-z%/()]*)*$/.exec(value);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** True for `Enabled`/`Yes`/`Active`, false for everything else (unknown included). */
export function isOn(text: string | undefined): boolean {
  return /^(enabled|yes|active|on)$/i.test(valueOrEmpty(text));
}

/** A non-negative integer as bigint for uint64 proto fields; 0n when unknown. */
export function toUint64(value: number | undefined): bigint {
  return value === undefined || !Number.isFinite(value) || value < 0 ? 0n : BigInt(Math.round(value));
}
