import { CacheonError } from "../errors/cacheon-error.ts";

/**
 * Why a timelock ciphertext, signature or payload was refused. Closed, so callers (the devnet's
 * reveal logic, the controller's checks, tests) can branch on the reason rather than the text.
 */
export type TimelockFailure =
  /** The bytes end before a field does. */
  | "truncated"
  /** Bytes are left over after the last field. */
  | "trailing-bytes"
  /** A field has a length the scheme does not allow (V or W not 32 bytes, a 12-byte nonce, ...). */
  | "bad-length"
  /** A curve point does not decode, is not on the curve or not in the prime-order subgroup. */
  | "bad-point"
  /** The cipher suite is not AES_GCM_. */
  | "unknown-suite"
  /** The signature is not the beacon's for this round (BLS verification failed). */
  | "bad-signature"
  /** The signature does not open this ciphertext (it was encrypted to another round or key). */
  | "wrong-signature"
  /** The symmetric layer's tag does not match: the body was altered. */
  | "corrupt-body"
  /** The plaintext does not decode as the payload it should be. */
  | "bad-payload";

/** A refused ciphertext, signature or payload; `failure` says why in one word. */
export class TimelockError extends CacheonError {
  readonly failure: TimelockFailure;
  constructor(failure: TimelockFailure, message: string) {
    super("invalid-argument", message);
    this.name = "TimelockError";
    this.failure = failure;
  }
}
