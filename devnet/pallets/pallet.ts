import type { Codec } from "@polkadot/types/types";
import type { BeaconInfo } from "../../shared/timelock/beacon-info.ts";
import type { DevnetBeacon } from "../beacon/devnet-beacon.ts";
import type { ChainStorage } from "../chain/chain-storage.ts";
import type { DevnetSeed } from "../chain/devnet-seed.ts";

// One devnet pallet = the calls, hooks and genesis of one runtime pallet (System, Commitments,
// SubtensorModule's weights, ...), each in its own file under devnet/pallets/. The block builder
// (devnet/chain/devnet-chain.ts) knows pallets only through this interface, so a new pallet is a
// new file plus one line in runtime-pallets.ts.

/** An event to deposit: pallet section and event name as in the metadata, fields in order. */
export interface RuntimeEvent {
  section: string;
  method: string;
  data: unknown[];
}

/**
 * A runtime refusal: a pallet error (section camelCase and name, as in the metadata), or one of
 * sp_runtime's TokenError variants (what pallet-balances' fungible transfers fail with).
 */
export type DispatchFailure = { section: string; name: string } | { token: TokenError };

/** sp_runtime::TokenError, by variant name. */
export type TokenError =
  | "FundsUnavailable"
  | "OnlyProvider"
  | "BelowMinimum"
  | "CannotCreate"
  | "UnknownAsset"
  | "Frozen"
  | "Unsupported"
  | "CannotCreateHold"
  | "NotExpendable"
  | "Blocked";

/** The outcome of dispatching one call. */
export type DispatchOutcome = { ok: true; events: RuntimeEvent[] } | { ok: false; error: DispatchFailure };

/** A decoded call: section and method camelCase, as @polkadot/api names them. */
export interface RuntimeCall {
  section: string;
  method: string;
  args: Codec[];
}

/** What a call sees of the chain. */
export interface DispatchContext {
  /** The state being built; a failing call's writes are discarded by the caller. */
  storage: ChainStorage;
  /** The signer's account id (hex). */
  who: string;
  /** Number of the block being built. */
  block: number;
  /** Dispatches a nested call as the same origin (for batches); the caller owns rollback. */
  dispatch(call: RuntimeCall): DispatchOutcome;
}

/** What a block hook sees. */
export interface BlockHookContext {
  storage: ChainStorage;
  /** Number of the block being built. */
  block: number;
  /** Wall-clock time the block is built at (ms since the epoch), from the chain's clock. */
  nowMs: number;
  /** The randomness beacon the node's offchain worker reads (the Drand pallet's pulses come from it). */
  beacon: DevnetBeacon;
}

/** A call handler: checks in the runtime's order, writes storage only once every check passed. */
export type CallHandler = (context: DispatchContext, args: Codec[]) => DispatchOutcome;

/** One pallet of the devnet's runtime. */
export interface DevnetPallet {
  /** Section as @polkadot/api names it (camelCase), e.g. "subtensorModule". */
  section: string;
  /** Calls by camelCase method name. Several files may serve one section; their calls merge. */
  calls: Record<string, CallHandler>;
  /** Writes the pallet's genesis state from the seed. Runs in runtimePallets order. */
  genesis?(storage: ChainStorage, seed: ResolvedSeed): void;
  /** Runs before the block's extrinsics (on_initialize); its events have phase Initialization. */
  onInitialize?(context: BlockHookContext): RuntimeEvent[];
  /** Runs after the block's extrinsics (on_finalize); its events have phase Finalization. */
  onFinalize?(context: BlockHookContext): RuntimeEvent[];
}

/** The seed with every dev URI resolved to an SS58 address (subnet i's neuron j -> hotkeys[i][j]). */
export interface ResolvedSeed {
  seed: DevnetSeed;
  /** SS58 hotkeys by subnet (same order as seed.subnets) and uid. */
  hotkeys: string[][];
  /** The devnet beacon's public parameters (Drand.BeaconConfig at genesis). */
  beacon: BeaconInfo;
  /** The seed's extra accounts: SS58 address and free balance (rao). */
  accounts: [string, bigint][];
}

/** A refusal naming the pallet error, as the runtime's DispatchError::Module. */
export function fail(section: string, name: string): DispatchOutcome {
  return { ok: false, error: { section, name } };
}

/** A refusal with DispatchError::Token(error). */
export function tokenFail(error: TokenError): DispatchOutcome {
  return { ok: false, error: { token: error } };
}
