import type { DispatchError } from "@polkadot/types/interfaces";
import type { Registry } from "@polkadot/types/types";
import { CacheonError, type ErrorCode } from "../../shared/errors/cacheon-error.ts";

/**
 * A refusal by the runtime, from an extrinsic that landed and failed: the pallet error's section
 * and name as in the metadata ("SubtensorModule", "NeuronNoValidatorPermit"), or "Token" and the
 * TokenError variant for balance failures ("Token", "FundsUnavailable").
 */
export class ChainDispatchError extends CacheonError {
  readonly section: string;
  readonly errorName: string;
  constructor(code: ErrorCode, section: string, errorName: string, docs: string) {
    super(code, `the chain refused the extrinsic: ${section}.${errorName}${docs ? ` (${docs})` : ""}`);
    this.section = section;
    this.errorName = errorName;
  }
}

/**
 * Which runtime errors are the caller's to fix (no retry) and which pass with time. One table, so
 * retry decisions are made in one place.
 */
const dispatchErrorCodes: Record<string, ErrorCode> = {
  // Permission problems: retrying cannot help; fix keys or registration.
  NeuronNoValidatorPermit: "permission-denied",
  HotKeyNotRegisteredInSubNet: "permission-denied",
  AccountNotAllowedCommit: "permission-denied",
  // Timing: retry after the rate limit or in the reveal window.
  SettingWeightsTooFast: "failed-precondition",
  CommittingWeightsTooFast: "failed-precondition",
  RevealTooEarly: "failed-precondition",
  SpaceLimitExceeded: "resource-exhausted",
  // Configuration drift: re-read the chain's hyperparameters and retry once.
  IncorrectWeightVersionKey: "failed-precondition",
  CommitRevealEnabled: "failed-precondition",
  CommitRevealDisabled: "failed-precondition",
  // Money: fund the account, then retry.
  FundsUnavailable: "resource-exhausted",
  NotExpendable: "resource-exhausted",
  BelowMinimum: "invalid-argument",
};

/** The ChainDispatchError of a runtime DispatchError (module and token errors by name). */
export function chainDispatchError(registry: Registry, dispatch: DispatchError): CacheonError {
  if (dispatch.isModule) {
    const meta = registry.findMetaError(dispatch.asModule);
    const section = meta.section.charAt(0).toUpperCase() + meta.section.slice(1);
    return new ChainDispatchError(
      dispatchErrorCodes[meta.name] ?? "failed-precondition",
      section,
      meta.name,
      meta.docs.join(" ").trim(),
    );
  }
  if (dispatch.isToken) {
    const name = dispatch.asToken.type;
    return new ChainDispatchError(dispatchErrorCodes[name] ?? "failed-precondition", "Token", name, "");
  }
  return new CacheonError("failed-precondition", `the chain refused the extrinsic: ${dispatch.toString()}`);
}

/** Translates the pool's JSON-RPC refusals (1010 Invalid Transaction, ...) into CacheonErrors. */
export function translateRpcError(error: Error): CacheonError {
  const message = error.message;
  if (message.includes("bad signature"))
    return new CacheonError("permission-denied", `the chain refused the signature: ${message}`, {
      cause: error,
    });
  if (message.includes("Inability to pay some fees"))
    return new CacheonError(
      "resource-exhausted",
      `the signer cannot pay the transaction fee (fund the account; it must keep the existential deposit): ${message}`,
      { cause: error },
    );
  if (message.includes("outdated") || message.includes("Priority is too low"))
    return new CacheonError(
      "failed-precondition",
      `the nonce is stale (another transaction used it): ${message}`,
      {
        cause: error,
      },
    );
  if (message.startsWith("1010") || message.startsWith("1011") || message.startsWith("1001"))
    return new CacheonError("invalid-argument", `the chain refused the extrinsic: ${message}`, {
      cause: error,
    });
  return CacheonError.from(error, "unavailable");
}
