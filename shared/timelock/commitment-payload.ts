import { compactFromU8aLim, compactToU8a, u8aConcat } from "@polkadot/util";
import { TimelockError } from "./timelock-error.ts";

/** At most this many plaintext bytes go into a timelocked commitment (the SDK's limit). */
export const maxCommitmentPlaintextBytes = 1024;

/**
 * What `set_reveal_commitment` encrypts and what the chain later stores in RevealedCommitments:
 * the text as a SCALE `str` (compact length, then UTF-8).
 */
export function encodeCommitmentText(text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text);
  if (utf8.length > maxCommitmentPlaintextBytes)
    throw new TimelockError(
      "bad-payload",
      `the commitment is ${utf8.length} bytes; a timelocked commitment holds at most ${maxCommitmentPlaintextBytes}`,
    );
  return u8aConcat(compactToU8a(utf8.length), utf8);
}

/**
 * Decodes revealed bytes as a SCALE `str`, strictly: the length must cover exactly the rest and
 * the bytes must be UTF-8. (The SDK only strips the prefix; a validator must not guess.)
 */
export function decodeCommitmentText(bytes: Uint8Array): string {
  let header: number;
  let length: number;
  if (bytes.length === 0) throw new TimelockError("bad-payload", "the revealed bytes are empty");
  try {
    const [read, value] = compactFromU8aLim(bytes);
    header = read;
    length = Number(value.toString());
  } catch {
    throw new TimelockError("bad-payload", "the revealed bytes do not start with a SCALE length");
  }
  if (header + length !== bytes.length)
    throw new TimelockError(
      "bad-payload",
      `the revealed text claims ${length} bytes but ${bytes.length - header} follow its length`,
    );
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(header));
  } catch {
    throw new TimelockError("bad-payload", "the revealed text is not UTF-8");
  }
}
