import { hexToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsHex, cryptoWaitReady } from "@polkadot/util-crypto";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { DevnetBeacon, type DevnetBeaconOptions } from "../beacon/devnet-beacon.ts";
import type { DispatchFailure, RuntimeEvent } from "../pallets/pallet.ts";
import { DevnetRuntime } from "../pallets/runtime-pallets.ts";
import { canPayFee, chargeFee, feeFor } from "../pallets/transaction-payment.ts";
import { type ChainMetadata, moduleErrorIndex, storageKey } from "../runtime/chain-metadata.ts";
import { ChainStorage } from "./chain-storage.ts";
import { type DevnetSeed, resolveHotkey } from "./devnet-seed.ts";
import { type EventPhase, encodeEventRecord, encodeEvents } from "./event-records.ts";
import type { PoolFault } from "./pool-faults.ts";
import { type ExtrinsicStatusJson, type PoolEntry, TransactionPool } from "./transaction-pool.ts";

/** A header as the JSON-RPC API returns it. */
export interface HeaderJson {
  parentHash: string;
  number: string;
  stateRoot: string;
  extrinsicsRoot: string;
  digest: { logs: string[] };
}

/** One produced block and the state after it. */
export interface DevnetBlock {
  number: number;
  hash: string;
  header: HeaderJson;
  extrinsics: string[];
  /** State after the block; dropped for blocks older than the pruning window. */
  storage: ChainStorage | undefined;
}

/** What the chain reports after each block. */
export interface ChainListener {
  onNewHead?(block: DevnetBlock): void;
  onFinalized?(block: DevnetBlock): void;
}

/** Options of {@link DevnetChain.create}. */
export interface DevnetChainOptions {
  meta: ChainMetadata;
  seed: DevnetSeed;
  /** Blocks the finalized head trails the best one. @default 1 */
  finalityLag?: number;
  /** State snapshots kept, like a pruning node. @default 4096 */
  stateHistory?: number;
  /** The pallets that apply calls. @default new DevnetRuntime() (every pallet of runtime-pallets.ts) */
  runtime?: DevnetRuntime;
  /** Clock for block hooks (ms since the epoch). @default Date.now */
  now?: () => number;
  /** The drand-style beacon, or how to make one (genesis defaults to the clock at creation). @default a beacon with the default seed */
  beacon?: DevnetBeacon | DevnetBeaconOptions;
  logger?: Logger;
}

/** A devnet operator's change to the state, applied at the start of the next block (phase Initialization). */
export type AdminOperation = (context: { storage: ChainStorage; block: number }) => RuntimeEvent[];

const zeroHash = `0x${"00".repeat(32)}`;
const dispatchWeight = { refTime: 1_000_000_000, proofSize: 10_000 };

/**
 * The local chain: block production over a transaction pool that checks signatures and nonces like
 * Substrate's (transaction-pool.ts), applying calls through the pallets of devnet/pallets/. No
 * networking: see devnet-rpc for the JSON-RPC side.
 */
export class DevnetChain {
  readonly meta: ChainMetadata;
  readonly chainName: string;
  readonly blocks: DevnetBlock[] = [];
  readonly runtime: DevnetRuntime;
  readonly beacon: DevnetBeacon;
  finalizedNumber = 0;
  private readonly pool: TransactionPool;
  private readonly listeners = new Set<ChainListener>();
  private readonly finalizedWatchers = new Map<string, (status: ExtrinsicStatusJson) => void>();
  private readonly admin: {
    op: AdminOperation;
    done: (block: DevnetBlock) => void;
    failed: (error: Error) => void;
  }[] = [];
  private readonly finalityLag: number;
  private readonly stateHistory: number;
  private readonly logger: Logger;
  private readonly now: () => number;

  private constructor(
    options: DevnetChainOptions,
    runtime: DevnetRuntime,
    beacon: DevnetBeacon,
    genesis: ChainStorage,
  ) {
    this.meta = options.meta;
    this.runtime = runtime;
    this.beacon = beacon;
    this.chainName = options.seed.chainName ?? "Cacheon Devnet";
    this.finalityLag = options.finalityLag ?? 1;
    this.stateHistory = options.stateHistory ?? 4096;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.pool = new TransactionPool({
      meta: this.meta,
      genesisHash: () => this.genesisHash,
      bestNumber: () => this.best.number,
      blockHash: (n) => this.blocks[n]?.hash,
      accountNonce: (id) => this.accountNonce(id, this.best.storage),
      canPayFee: (id, length) => {
        const storage = this.best.storage;
        return storage !== undefined && canPayFee(storage, id, length);
      },
      supports: (call) => runtime.supports(call),
      supportedCalls: () => runtime.supportedCalls,
    });
    this.pushBlock(zeroHash, 0, [], genesis);
  }

  /** Builds genesis from the seed. */
  static async create(options: DevnetChainOptions): Promise<DevnetChain> {
    await cryptoWaitReady();
    const runtime = options.runtime ?? new DevnetRuntime();
    const storage = new ChainStorage(options.meta);
    const hotkeys = await Promise.all(
      options.seed.subnets.map((s) => Promise.all(s.neurons.map((n) => resolveHotkey(n.hotkey)))),
    );
    const accounts = await Promise.all(
      Object.entries(options.seed.accounts ?? {}).map(
        async ([account, amount]) => [await resolveHotkey(account), BigInt(amount)] as [string, bigint],
      ),
    );
    const beacon =
      options.beacon instanceof DevnetBeacon
        ? options.beacon
        : new DevnetBeacon({
            genesisSeconds: Math.floor((options.now ?? Date.now)() / 1000),
            ...options.beacon,
          });
    runtime.genesis(storage, { seed: options.seed, hotkeys, accounts, beacon: beacon.info });
    return new DevnetChain(options, runtime, beacon, storage);
  }

  get genesisHash(): string {
    return this.blocks[0]?.hash ?? zeroHash;
  }

  get best(): DevnetBlock {
    const block = this.blocks[this.blocks.length - 1];
    if (!block) throw new Error("the devnet has no blocks");
    return block;
  }

  get finalized(): DevnetBlock {
    return this.blocks[this.finalizedNumber] ?? this.best;
  }

  /** The block with this hash or number; undefined when unknown. The best block when omitted. */
  block(at?: string | number | null): DevnetBlock | undefined {
    if (at === undefined || at === null) return this.best;
    if (typeof at === "number") return this.blocks[at];
    const lower = at.toLowerCase();
    for (let i = this.blocks.length - 1; i >= 0; i -= 1)
      if (this.blocks[i]?.hash === lower) return this.blocks[i];
    return undefined;
  }

  subscribe(listener: ChainListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The nonce the account's next transaction must carry, counting ready ones in the pool. */
  nextNonce(account: string): number {
    return this.pool.nextNonce(this.accountId(account));
  }

  /** Fee the devnet charges an extrinsic of `length` bytes (rao); transaction-payment.ts has the model. */
  quoteFee(length: number): { weight: typeof dispatchWeight; partialFee: bigint } {
    return { weight: dispatchWeight, partialFee: feeFor(length) };
  }

  /** Makes the next matching extrinsics misbehave (hang, drop, invalid, usurp, ...; pool-faults.ts). */
  injectFault(fault: PoolFault): void {
    this.pool.injectFault(fault);
  }

  /**
   * Applies an operator's change at the start of the next block; resolves with that block, or
   * rejects (changing nothing) when the operation throws.
   */
  scheduleAdmin(op: AdminOperation): Promise<DevnetBlock> {
    return new Promise((done, failed) => this.admin.push({ op, done, failed }));
  }

  /**
   * Checks an extrinsic like the transaction pool (format, call, era, signature, nonce) and queues
   * it. Throws PoolError with Substrate's code and text for everything the pool would refuse.
   */
  submit(hex: string, watcher?: (status: ExtrinsicStatusJson) => void): string {
    const entry = this.pool.submit(hex, watcher);
    this.logger.debug("extrinsic queued", {
      hash: entry.hash,
      call: `${entry.extrinsic.method.section}.${entry.extrinsic.method.method}`,
      signer: entry.signer,
      nonce: entry.nonce,
    });
    return entry.hash;
  }

  /** Extrinsics waiting in the pool, as hex. */
  pending(): string[] {
    return this.pool.entries.map((e) => e.hex);
  }

  /** Builds, imports and announces the next block. */
  produceBlock(): DevnetBlock {
    const parent = this.best;
    const number = parent.number + 1;
    const storage = (parent.storage ?? new ChainStorage(this.meta)).clone();
    storage.write("system", "number", [], number);
    storage.write("system", "parentHash", [], parent.hash);
    storage.write("system", "blockHash", [parent.number], parent.hash);
    const records: Uint8Array[] = [];
    const deposit = (phase: EventPhase, events: RuntimeEvent[]) => {
      for (const event of events) records.push(encodeEventRecord(this.meta, phase, event));
    };
    const hook = { storage, block: number, nowMs: this.now(), beacon: this.beacon };
    deposit("initialization", this.runtime.onInitialize(hook));
    const admin = this.admin.splice(0).filter(({ op, failed }) => {
      const scratch = storage.clone();
      try {
        deposit("initialization", op({ storage: scratch, block: number }));
      } catch (error) {
        failed(error as Error);
        return false;
      }
      storage.entries.clear();
      for (const [key, value] of scratch.entries) storage.entries.set(key, value);
      return true;
    });
    this.applyFaults(number);
    const included = this.applyExtrinsics(storage, number, deposit);
    deposit("finalization", this.runtime.onFinalize(hook));
    storage.entries.set(storageKey(this.meta, "system", "events"), encodeEvents(records));
    storage.write("system", "eventCount", [], records.length);
    const block = this.pushBlock(
      parent.hash,
      number,
      included.map((e) => e.hex),
      storage,
    );
    for (const entry of included) {
      entry.watcher?.({ inBlock: block.hash });
      if (entry.fault?.kind === "retract") {
        entry.watcher?.({ retracted: block.hash });
        entry.watcher?.({ inBlock: block.hash });
      }
      const watcher = entry.watcher;
      if (entry.fault?.kind === "finalityTimeout" && watcher)
        // When its block finalizes, the watcher hears that finality timed out instead.
        entry.watcher = (status) =>
          watcher(
            typeof status === "object" && "finalized" in status
              ? { finalityTimeout: status.finalized }
              : status,
          );
    }
    for (const listener of this.listeners) listener.onNewHead?.(block);
    this.finalize(number);
    for (const entry of included) {
      if (entry.watcher && number > this.finalizedNumber)
        this.finalizedWatchers.set(entry.hex, entry.watcher);
      else entry.watcher?.({ finalized: block.hash });
    }
    for (const { done } of admin) done(block);
    return block;
  }

  /** Drops the watchers of extrinsics (on unsubscribe or connection close). */
  unwatch(watcher: (status: ExtrinsicStatusJson) => void): void {
    this.pool.unwatch(watcher);
    for (const [hex, w] of this.finalizedWatchers) if (w === watcher) this.finalizedWatchers.delete(hex);
  }

  /** Reports and removes extrinsics whose injected fault ends them before this block. */
  private applyFaults(number: number): void {
    for (const entry of [...this.pool.entries]) {
      const fault = entry.fault;
      if (fault?.kind === "invalid" || fault?.kind === "usurp" || fault?.kind === "drop") {
        if (fault.kind === "invalid") entry.watcher?.("invalid");
        if (fault.kind === "usurp") entry.watcher?.({ usurped: blake2AsHex(hexToU8a(entry.hash)) });
        if (fault.kind === "drop") entry.watcher?.("dropped");
        entry.watcher = undefined;
        if (fault.kind === "drop" && fault.landAfterBlocks !== undefined)
          entry.fault = { kind: "delay", blocks: number - entry.submittedAt + fault.landAfterBlocks };
        else this.pool.remove(entry);
      }
    }
  }

  /** Whether an injected fault keeps the entry out of block `number`. */
  private heldBack(entry: PoolEntry, number: number): boolean {
    if (entry.fault?.kind === "hang") return true;
    return entry.fault?.kind === "delay" && number < entry.submittedAt + entry.fault.blocks;
  }

  /**
   * Applies the pool's ready extrinsics in nonce order, dropping stale, expired and unpayable ones.
   * The fee is withdrawn first and kept whatever the call does; the call runs on a scratch copy of
   * the state, kept only when it succeeds (transactional dispatch); the nonce is bumped either way.
   */
  private applyExtrinsics(
    storage: ChainStorage,
    number: number,
    deposit: (phase: EventPhase, events: RuntimeEvent[]) => void,
  ): PoolEntry[] {
    const included: PoolEntry[] = [];
    let progress = true;
    while (progress) {
      progress = false;
      for (const entry of [...this.pool.entries]) {
        const expected = this.accountNonce(entry.signer, storage);
        if (entry.nonce < expected || this.pool.expired(entry, number)) {
          this.pool.remove(entry);
          entry.watcher?.("invalid");
          continue;
        }
        if (entry.nonce !== expected || this.heldBack(entry, number)) continue;
        this.pool.remove(entry);
        const fee = chargeFee(storage, entry.signer, hexToU8a(entry.hex).length);
        if (!fee) {
          // The balance fell since the pool took it: Payment-invalid, not included.
          entry.watcher?.("invalid");
          continue;
        }
        const phase = { applyExtrinsic: included.length };
        included.push(entry);
        progress = true;
        const account = storage.read("system", "account", entry.signer)?.toJSON() as Record<string, unknown>;
        storage.write("system", "account", [entry.signer], { ...account, nonce: expected + 1 });
        const scratch = storage.clone();
        const outcome = this.runtime.dispatch(
          { storage: scratch, who: entry.signer, block: number },
          entry.extrinsic.method,
        );
        if (outcome.ok) {
          // Commit the call's writes and removals: the scratch copy becomes the state.
          storage.entries.clear();
          for (const [key, value] of scratch.entries) storage.entries.set(key, value);
          deposit(phase, [
            ...fee.before,
            ...outcome.events,
            ...fee.after,
            { section: "system", method: "ExtrinsicSuccess", data: [dispatchInfo()] },
          ]);
        } else {
          deposit(phase, [
            ...fee.before,
            ...fee.after,
            {
              section: "system",
              method: "ExtrinsicFailed",
              data: [this.dispatchError(outcome.error), dispatchInfo()],
            },
          ]);
          this.logger.debug("extrinsic failed", { hash: entry.hash, error: outcome.error });
        }
      }
    }
    return included;
  }

  /** A DispatchError as the runtime encodes it: Module { index, error } or Token(variant). */
  private dispatchError(error: DispatchFailure): unknown {
    if ("token" in error) return { Token: error.token };
    const { index, error: code } = moduleErrorIndex(this.meta, error.section, error.name);
    return { Module: { index, error: u8aToHex(new Uint8Array([code, 0, 0, 0])) } };
  }

  /** Moves the finalized head up to `number - finalityLag`, telling watchers and listeners. */
  private finalize(number: number): void {
    const finalTarget = Math.max(0, number - this.finalityLag);
    while (this.finalizedNumber < finalTarget) {
      this.finalizedNumber += 1;
      const finalized = this.blocks[this.finalizedNumber];
      if (!finalized) break;
      for (const hex of finalized.extrinsics)
        this.finalizedWatchers.get(hex)?.({ finalized: finalized.hash });
      for (const hex of finalized.extrinsics) this.finalizedWatchers.delete(hex);
      for (const listener of this.listeners) listener.onFinalized?.(finalized);
    }
  }

  private pushBlock(
    parentHash: string,
    number: number,
    extrinsics: string[],
    storage: ChainStorage,
  ): DevnetBlock {
    const header: HeaderJson = {
      parentHash,
      number: `0x${number.toString(16)}`,
      stateRoot: storage.root(),
      extrinsicsRoot: blake2AsHex(u8aConcat(...extrinsics.map((e) => hexToU8a(e)))),
      digest: { logs: [] },
    };
    const hash = this.meta.registry
      .createType("Header", { ...header, number })
      .hash.toHex()
      .toLowerCase();
    const block: DevnetBlock = { number, hash, header, extrinsics, storage };
    this.blocks.push(block);
    const old = this.blocks[number - this.stateHistory];
    if (old) old.storage = undefined;
    return block;
  }

  private accountId(account: string): string {
    return this.meta.registry.createType("AccountId32", account).toHex();
  }

  private accountNonce(id: string, storage: ChainStorage | undefined): number {
    const info = storage?.read("system", "account", id)?.toJSON() as { nonce?: number } | undefined;
    return info?.nonce ?? 0;
  }
}

function dispatchInfo(): unknown {
  return { weight: dispatchWeight, class: "Normal", paysFee: "Yes" };
}
