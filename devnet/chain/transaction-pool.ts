import type { Extrinsic } from "@polkadot/types/interfaces";
import { hexToU8a } from "@polkadot/util";
import { blake2AsHex, blake2AsU8a, signatureVerify } from "@polkadot/util-crypto";
import type { RuntimeCall } from "../pallets/pallet.ts";
import type { ChainMetadata } from "../runtime/chain-metadata.ts";
import type { PoolFault, PoolFaultKind } from "./pool-faults.ts";

/** Status of a watched extrinsic, in the JSON form of author_extrinsicUpdate. */
export type ExtrinsicStatusJson =
  | "ready"
  | "future"
  | "invalid"
  | "dropped"
  | { inBlock: string }
  | { retracted: string }
  | { finalityTimeout: string }
  | { finalized: string }
  | { usurped: string };

/** A JSON-RPC error the pool answers with, as Substrate's author API does (codes 1001-1014). */
export class PoolError extends Error {
  readonly code: number;
  readonly rpcMessage: string;
  readonly data: string;
  constructor(code: number, message: string, data: string) {
    super(`${code}: ${message}: ${data}`);
    this.code = code;
    this.rpcMessage = message;
    this.data = data;
  }
}

/** One extrinsic waiting in the pool. */
export interface PoolEntry {
  hash: string;
  hex: string;
  /** Signer's account id (hex). */
  signer: string;
  nonce: number;
  extrinsic: Extrinsic;
  watcher: ((status: ExtrinsicStatusJson) => void) | undefined;
  /** Best block when it entered the pool. */
  submittedAt: number;
  /** First block it can no longer be included in (its mortal era's death); Infinity when immortal. */
  death: number;
  /** Misbehaviour injected for it (pool-faults.ts). */
  fault?: PoolFaultKind | undefined;
}

/** What the pool reads of the chain to validate a transaction. */
export interface PoolChainView {
  meta: ChainMetadata;
  genesisHash(): string;
  /** Number of the best block. */
  bestNumber(): number;
  /** Hash of block `number`, undefined when unknown. */
  blockHash(number: number): string | undefined;
  /** The account's nonce in the best block's state. */
  accountNonce(id: string): number;
  /** Whether the runtime applies this call. */
  supports(call: RuntimeCall): boolean;
  /** Whether the signer can pay the fee of an extrinsic of `length` bytes in the best block's state. */
  canPayFee(id: string, length: number): boolean;
  /** The calls the runtime applies, for the refusal's text. */
  supportedCalls(): string[];
}

/**
 * The transaction pool: checks an extrinsic as Substrate's pool does (format, call, era,
 * signature, nonce, duplicates) and keeps it until a block includes or drops it.
 */
export class TransactionPool {
  readonly entries: PoolEntry[] = [];
  private readonly chain: PoolChainView;
  private readonly faults: PoolFault[] = [];

  constructor(chain: PoolChainView) {
    this.chain = chain;
  }

  /** The nonce the account's next transaction must carry, counting ready ones in the pool. */
  nextNonce(id: string): number {
    let nonce = this.chain.accountNonce(id);
    const pending = new Set(this.entries.filter((e) => e.signer === id).map((e) => e.nonce));
    while (pending.has(nonce)) nonce += 1;
    return nonce;
  }

  /**
   * Checks an extrinsic and queues it. Throws PoolError with Substrate's code and text for
   * everything the pool would refuse.
   */
  submit(hex: string, watcher?: (status: ExtrinsicStatusJson) => void): PoolEntry {
    const { registry } = this.chain.meta;
    let extrinsic: Extrinsic;
    try {
      extrinsic = registry.createType("Extrinsic", hexToU8a(hex));
    } catch (error) {
      throw new PoolError(1001, "Extrinsic has invalid format", (error as Error).message);
    }
    const hash = blake2AsHex(hexToU8a(hex));
    if (!extrinsic.isSigned)
      throw new PoolError(
        1011,
        "Unknown Transaction Validity",
        "Could not find an unsigned validator for the unsigned transaction",
      );
    const call = `${extrinsic.method.section}.${extrinsic.method.method}`;
    if (!this.chain.supports(extrinsic.method))
      throw new PoolError(
        1010,
        "Invalid Transaction",
        `Transaction call is not expected (the devnet applies only ${this.chain.supportedCalls().join(", ")}; ${call} is not implemented)`,
      );
    const { hash: birthHash, death } = this.mortality(extrinsic);
    const signer = registry.createType("AccountId32", extrinsic.signer.toString()).toHex();
    if (!this.signatureValid(extrinsic, birthHash))
      throw new PoolError(1010, "Invalid Transaction", "Transaction has a bad signature");
    const nonce = extrinsic.nonce.toNumber();
    if (nonce < this.chain.accountNonce(signer))
      throw new PoolError(1010, "Invalid Transaction", "Transaction is outdated");
    if (this.entries.some((e) => e.hash === hash))
      throw new PoolError(1013, "Transaction Already Imported", "Transaction is already in the pool");
    if (this.entries.some((e) => e.signer === signer && e.nonce === nonce))
      throw new PoolError(
        1014,
        "Priority is too low: (0 vs 0)",
        "The transaction has too low priority to replace another transaction already in the pool.",
      );
    if (!this.chain.canPayFee(signer, hexToU8a(hex).length))
      throw new PoolError(
        1010,
        "Invalid Transaction",
        "Inability to pay some fees (e.g. account balance too low)",
      );
    const entry: PoolEntry = {
      hash,
      hex: hex.toLowerCase(),
      signer,
      nonce,
      extrinsic,
      watcher,
      submittedAt: this.chain.bestNumber(),
      death,
      fault: this.takeFault(call, signer),
    };
    this.entries.push(entry);
    watcher?.(nonce <= this.nextNonce(signer) - 1 ? "ready" : "future");
    return entry;
  }

  /** Makes the next matching extrinsics misbehave (see pool-faults.ts). */
  injectFault(fault: PoolFault): void {
    const signer =
      fault.signer === undefined
        ? undefined
        : this.chain.meta.registry.createType("AccountId32", fault.signer).toHex();
    this.faults.push({ ...fault, signer, times: fault.times ?? 1 });
  }

  private takeFault(call: string, signer: string): PoolFaultKind | undefined {
    const rule = this.faults.find(
      (f) => (f.call === undefined || f.call === call) && (f.signer === undefined || f.signer === signer),
    );
    if (!rule) return undefined;
    rule.times = (rule.times ?? 1) - 1;
    if (rule.times <= 0) this.faults.splice(this.faults.indexOf(rule), 1);
    const { call: _call, signer: _signer, times: _times, ...kind } = rule;
    return kind as PoolFaultKind;
  }

  remove(entry: PoolEntry): void {
    const index = this.entries.indexOf(entry);
    if (index >= 0) this.entries.splice(index, 1);
  }

  /** Whether the entry's mortal era has ended by block `number` (it cannot be included in it). */
  expired(entry: PoolEntry, number: number): boolean {
    return number >= entry.death;
  }

  /** Drops a watcher (on unsubscribe or connection close). */
  unwatch(watcher: (status: ExtrinsicStatusJson) => void): void {
    for (const entry of this.entries) if (entry.watcher === watcher) entry.watcher = undefined;
  }

  /**
   * The block hash a signature commits to (CheckMortality) and the era's death, both relative to
   * the block being built (best + 1), as Substrate validates: a mortal extrinsic can be included in
   * blocks birth..death-1. Refuses an unknown birth block.
   */
  private mortality(extrinsic: Extrinsic): { hash: string; death: number } {
    const era = extrinsic.era;
    if (!era.isMortalEra) return { hash: this.chain.genesisHash(), death: Number.POSITIVE_INFINITY };
    const best = this.chain.bestNumber();
    const birth = era.asMortalEra.birth(best + 1);
    const hash = this.chain.blockHash(birth);
    if (!hash || birth > best)
      throw new PoolError(1010, "Invalid Transaction", "Transaction has an ancient birth block");
    return { hash, death: era.asMortalEra.death(best + 1) };
  }

  /** Verifies the signature over the payload the signer saw: call, extra and implicit data. */
  private signatureValid(extrinsic: Extrinsic, birthHash: string): boolean {
    const { registry, runtimeVersion } = this.chain.meta;
    const signature = extrinsic.signature as unknown as {
      mode?: { toNumber(): number };
      metadataHash?: { unwrap(): { toHex(): string }; isSome: boolean };
    };
    const payload = registry.createType(
      "ExtrinsicPayload",
      {
        method: extrinsic.method.toHex(),
        era: extrinsic.era,
        nonce: extrinsic.nonce,
        tip: extrinsic.tip,
        specVersion: runtimeVersion.specVersion,
        transactionVersion: runtimeVersion.transactionVersion,
        genesisHash: this.chain.genesisHash(),
        blockHash: birthHash,
        mode: signature.mode?.toNumber() ?? 0,
        metadataHash: signature.metadataHash?.isSome ? signature.metadataHash.unwrap().toHex() : undefined,
      },
      { version: 4 },
    );
    const bytes = payload.toU8a({ method: true });
    const message = bytes.length > 256 ? blake2AsU8a(bytes) : bytes;
    try {
      return signatureVerify(message, extrinsic.signature.toU8a(), extrinsic.signer.toString()).isValid;
    } catch {
      return false;
    }
  }
}
