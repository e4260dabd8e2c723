import type { Extrinsic } from "@polkadot/types/interfaces";
import { compactToU8a, hexToU8a, stringCamelCase, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsHex, blake2AsU8a, cryptoWaitReady, signatureVerify } from "@polkadot/util-crypto";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { type ChainMetadata, moduleErrorIndex, storageKey } from "../runtime/chain-metadata.ts";
import { ChainStorage } from "./chain-storage.ts";
import { type DevnetSeed, resolveHotkey } from "./devnet-seed.ts";
import { dispatchCall, type RuntimeEvent, supportedCalls } from "./subtensor-rules.ts";

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

/** Status of a watched extrinsic, in the JSON form of author_extrinsicUpdate. */
export type ExtrinsicStatusJson =
  | "ready"
  | "future"
  | "invalid"
  | "dropped"
  | { inBlock: string }
  | { finalized: string };

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

interface PoolEntry {
  hash: string;
  hex: string;
  signer: string;
  nonce: number;
  extrinsic: Extrinsic;
  watcher: ((status: ExtrinsicStatusJson) => void) | undefined;
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
  logger?: Logger;
}

const zeroHash = `0x${"00".repeat(32)}`;
const dispatchWeight = { refTime: 1_000_000_000, proofSize: 10_000 };
/** Fee the devnet quotes for any extrinsic: a base plus a per-byte part (rao). */
const baseFee = 100_000;
const byteFee = 1_000;

/**
 * The local chain: block production, a transaction pool that checks signatures and nonces like
 * Substrate's, and the subtensor dispatch rules. No networking: see devnet-rpc for the JSON-RPC side.
 */
export class DevnetChain {
  readonly meta: ChainMetadata;
  readonly chainName: string;
  readonly blocks: DevnetBlock[] = [];
  finalizedNumber = 0;
  private readonly pool: PoolEntry[] = [];
  private readonly listeners = new Set<ChainListener>();
  private readonly finalityLag: number;
  private readonly stateHistory: number;
  private readonly logger: Logger;

  private constructor(options: DevnetChainOptions, genesis: ChainStorage) {
    this.meta = options.meta;
    this.chainName = options.seed.chainName ?? "Cacheon Devnet";
    this.finalityLag = options.finalityLag ?? 1;
    this.stateHistory = options.stateHistory ?? 4096;
    this.logger = options.logger ?? silentLogger;
    this.pushBlock(zeroHash, 0, [], genesis);
  }

  /** Builds genesis from the seed. */
  static async create(options: DevnetChainOptions): Promise<DevnetChain> {
    await cryptoWaitReady();
    const storage = new ChainStorage(options.meta);
    const balance = options.seed.balance ?? 1_000_000_000_000;
    storage.write("subtensorModule", "totalNetworks", [], options.seed.subnets.length);
    for (const subnet of options.seed.subnets) {
      const { netuid } = subnet;
      const hotkeys = await Promise.all(subnet.neurons.map((n) => resolveHotkey(n.hotkey)));
      storage.write("subtensorModule", "networksAdded", [netuid], true);
      storage.write("subtensorModule", "tempo", [netuid], subnet.tempo ?? 360);
      storage.write("subtensorModule", "subnetworkN", [netuid], hotkeys.length);
      storage.write("subtensorModule", "weightsVersionKey", [netuid], subnet.weightsVersionKey ?? 0);
      storage.write("subtensorModule", "weightsSetRateLimit", [netuid], subnet.weightsSetRateLimit ?? 100);
      storage.write(
        "subtensorModule",
        "commitRevealWeightsEnabled",
        [netuid],
        subnet.commitRevealWeightsEnabled ?? false,
      );
      storage.write("subtensorModule", "revealPeriodEpochs", [netuid], subnet.revealPeriodEpochs ?? 1);
      storage.write("subtensorModule", "minAllowedWeights", [netuid], subnet.minAllowedWeights ?? 1);
      storage.write("subtensorModule", "maxWeightsLimit", [netuid], subnet.maxWeightsLimit ?? 65535);
      storage.write(
        "subtensorModule",
        "validatorPermit",
        [netuid],
        subnet.neurons.map((n) => n.validatorPermit === true),
      );
      storage.write(
        "subtensorModule",
        "active",
        [netuid],
        hotkeys.map(() => true),
      );
      storage.write(
        "subtensorModule",
        "lastUpdate",
        [netuid],
        hotkeys.map(() => 0),
      );
      hotkeys.forEach((hotkey, uid) => {
        storage.write("subtensorModule", "uids", [netuid, hotkey], uid);
        storage.write("subtensorModule", "keys", [netuid, uid], hotkey);
        storage.write("subtensorModule", "blockAtRegistration", [netuid, uid], 0);
        storage.write("system", "account", [hotkey], {
          nonce: 0,
          consumers: 0,
          providers: 1,
          sufficients: 0,
          data: { free: balance, reserved: 0, frozen: 0, flags: "0x80000000000000000000000000000000" },
        });
      });
    }
    return new DevnetChain(options, storage);
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
    const id = this.accountId(account);
    let nonce = this.accountNonce(id, this.best.storage);
    const pending = new Set(this.pool.filter((e) => e.signer === id).map((e) => e.nonce));
    while (pending.has(nonce)) nonce += 1;
    return nonce;
  }

  /** Fee the devnet quotes for an extrinsic of `length` bytes (rao). */
  quoteFee(length: number): { weight: typeof dispatchWeight; partialFee: number } {
    return { weight: dispatchWeight, partialFee: baseFee + byteFee * length };
  }

  /**
   * Checks an extrinsic like the transaction pool (format, call, era, signature, nonce) and queues
   * it. Throws PoolError with Substrate's code and text for everything the pool would refuse.
   */
  submit(hex: string, watcher?: (status: ExtrinsicStatusJson) => void): string {
    const { registry } = this.meta;
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
    if (!supportedCalls.has(call))
      throw new PoolError(
        1010,
        "Invalid Transaction",
        `Transaction call is not expected (the devnet applies only ${[...supportedCalls].join(", ")}; ${call} is not implemented)`,
      );
    const birthHash = this.birthHash(extrinsic);
    const signer = this.accountId(extrinsic.signer.toString());
    if (!this.signatureValid(extrinsic, birthHash))
      throw new PoolError(1010, "Invalid Transaction", "Transaction has a bad signature");
    const nonce = extrinsic.nonce.toNumber();
    if (nonce < this.accountNonce(signer, this.best.storage))
      throw new PoolError(1010, "Invalid Transaction", "Transaction is outdated");
    if (this.pool.some((e) => e.hash === hash))
      throw new PoolError(1013, "Transaction Already Imported", "Transaction is already in the pool");
    if (this.pool.some((e) => e.signer === signer && e.nonce === nonce))
      throw new PoolError(
        1014,
        "Priority is too low: (0 vs 0)",
        "The transaction has too low priority to replace another transaction already in the pool.",
      );
    const entry: PoolEntry = { hash, hex: hex.toLowerCase(), signer, nonce, extrinsic, watcher };
    this.pool.push(entry);
    watcher?.(nonce <= this.nextNonce(signer) - 1 ? "ready" : "future");
    this.logger.debug("extrinsic queued", { hash, call, signer, nonce });
    return hash;
  }

  /** Extrinsics waiting in the pool, as hex. */
  pending(): string[] {
    return this.pool.map((e) => e.hex);
  }

  /** Builds, imports and announces the next block. */
  produceBlock(): DevnetBlock {
    const parent = this.best;
    const number = parent.number + 1;
    const storage = (parent.storage ?? new ChainStorage(this.meta)).clone();
    storage.write("system", "number", [], number);
    storage.write("system", "parentHash", [], parent.hash);
    storage.write("system", "blockHash", [parent.number], parent.hash);
    const included: PoolEntry[] = [];
    const records: Uint8Array[] = [];
    let progress = true;
    while (progress) {
      progress = false;
      for (const entry of [...this.pool]) {
        const expected = this.accountNonce(entry.signer, storage);
        if (entry.nonce < expected || this.expired(entry.extrinsic, number)) {
          this.pool.splice(this.pool.indexOf(entry), 1);
          entry.watcher?.("invalid");
          continue;
        }
        if (entry.nonce !== expected) continue;
        this.pool.splice(this.pool.indexOf(entry), 1);
        const index = included.length;
        included.push(entry);
        progress = true;
        const account = storage.read("system", "account", entry.signer)?.toJSON() as Record<string, unknown>;
        storage.write("system", "account", [entry.signer], { ...account, nonce: expected + 1 });
        const scratch = storage.clone();
        const outcome = dispatchCall(
          { storage: scratch, who: entry.signer, block: number },
          entry.extrinsic.method,
        );
        if (outcome.ok) {
          // Commit the call's writes and removals: the scratch copy becomes the state.
          storage.entries.clear();
          for (const [key, value] of scratch.entries) storage.entries.set(key, value);
          for (const event of outcome.events) records.push(this.eventRecord(index, event));
          records.push(
            this.eventRecord(index, {
              section: "system",
              method: "ExtrinsicSuccess",
              data: [dispatchInfo()],
            }),
          );
        } else {
          const { index: pallet, error } = moduleErrorIndex(
            this.meta,
            outcome.error.section,
            outcome.error.name,
          );
          records.push(
            this.eventRecord(index, {
              section: "system",
              method: "ExtrinsicFailed",
              data: [
                { Module: { index: pallet, error: u8aToHex(new Uint8Array([error, 0, 0, 0])) } },
                dispatchInfo(),
              ],
            }),
          );
          this.logger.debug("extrinsic failed", { hash: entry.hash, error: outcome.error.name });
        }
      }
    }
    storage.entries.set(
      storageKey(this.meta, "system", "events"),
      u8aToHex(u8aConcat(compactToU8a(records.length), ...records)),
    );
    storage.write("system", "eventCount", [], records.length);
    const block = this.pushBlock(
      parent.hash,
      number,
      included.map((e) => e.hex),
      storage,
    );
    for (const entry of included) entry.watcher?.({ inBlock: block.hash });
    for (const listener of this.listeners) listener.onNewHead?.(block);
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
    for (const entry of included) {
      if (entry.watcher && number > this.finalizedNumber)
        this.finalizedWatchers.set(entry.hex, entry.watcher);
      else entry.watcher?.({ finalized: block.hash });
    }
    return block;
  }

  private readonly finalizedWatchers = new Map<string, (status: ExtrinsicStatusJson) => void>();

  /** Drops the watchers of extrinsics (on unsubscribe or connection close). */
  unwatch(watcher: (status: ExtrinsicStatusJson) => void): void {
    for (const entry of this.pool) if (entry.watcher === watcher) entry.watcher = undefined;
    for (const [hex, w] of this.finalizedWatchers) if (w === watcher) this.finalizedWatchers.delete(hex);
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

  /** The block hash a signature commits to (CheckMortality); refuses unknown and expired eras. */
  private birthHash(extrinsic: Extrinsic): string {
    const era = extrinsic.era;
    if (!era.isMortalEra) return this.genesisHash;
    const current = this.best.number;
    const birth = era.asMortalEra.birth(current);
    const block = this.blocks[birth];
    if (!block || birth > current)
      throw new PoolError(1010, "Invalid Transaction", "Transaction has an ancient birth block");
    if (current >= era.asMortalEra.death(current))
      throw new PoolError(1010, "Invalid Transaction", "Transaction is outdated");
    return block.hash;
  }

  private expired(extrinsic: Extrinsic, number: number): boolean {
    const era = extrinsic.era;
    return era.isMortalEra && number - 1 >= era.asMortalEra.death(number - 1);
  }

  /** Verifies the signature over the payload the signer saw: call, extra and implicit data. */
  private signatureValid(extrinsic: Extrinsic, birthHash: string): boolean {
    const { registry, runtimeVersion } = this.meta;
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
        genesisHash: this.genesisHash,
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

  /** One EventRecord, SCALE-encoded as frame_system stores it: phase, event, topics. */
  private eventRecord(extrinsicIndex: number, event: RuntimeEvent): Uint8Array {
    const { registry, metadata } = this.meta;
    const pallet = metadata.asV16.pallets.find((p) => stringCamelCase(p.name) === event.section);
    if (!pallet || pallet.events.isNone) throw new Error(`the metadata has no events for ${event.section}`);
    const variants = registry.lookup.getSiType(pallet.events.unwrap().type).def.asVariant.variants;
    const variant = variants.find((v) => v.name.toString() === event.method);
    if (!variant) throw new Error(`the metadata has no event ${event.section}.${event.method}`);
    const fields = variant.fields.map((field, i) =>
      registry.createTypeUnsafe(registry.createLookupType(field.type), [event.data[i]]).toU8a(),
    );
    const phase = u8aConcat(new Uint8Array([0]), registry.createType("u32", extrinsicIndex).toU8a());
    return u8aConcat(
      phase,
      new Uint8Array([pallet.index.toNumber(), variant.index.toNumber()]),
      ...fields,
      new Uint8Array([0]),
    );
  }
}

function dispatchInfo(): unknown {
  return { weight: dispatchWeight, class: "Normal", paysFee: "Yes" };
}
