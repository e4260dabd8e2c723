import { ApiPromise, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { Codec } from "@polkadot/types/types";
import { u8aToHex } from "@polkadot/util";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import {
  type CommitmentRecord,
  type PendingReveal,
  type RevealEvent,
  readRevealEvents,
  readSubmissions,
} from "./commitments-client.ts";
import {
  type ExtrinsicFate,
  extrinsicFate,
  type SentExtrinsic,
  type SubmitOptions,
  submitExtrinsic,
} from "./extrinsic-submitter.ts";
import { sealCommitment, type TimelockCommitOptions } from "./seal-commitment.ts";
import { type SetChainWeightsOptions, type SetWeightsResult, setChainWeights } from "./weights-client.ts";

/** One neuron of a subnet's metagraph. */
export interface Neuron {
  uid: number;
  hotkey: string;
  validatorPermit: boolean;
  /** Block of the uid's last weights (0 = never). */
  lastUpdate: number;
  /** BlockAtRegistration: when this hotkey took the uid (a later one means a new neuron). */
  registeredAt: number;
}

/** A subnet's metagraph and weight-setting hyperparameters, read at one finalized block. */
export interface Metagraph {
  netuid: number;
  blockNumber: number;
  blockHash: string;
  neurons: Neuron[];
  tempo: number;
  weightsVersionKey: bigint;
  weightsSetRateLimit: number;
  commitRevealWeightsEnabled: boolean;
}

/** A finalized block seen by {@link ChainClient.followFinalized}. */
export interface FinalizedBlock {
  number: number;
  hash: string;
}

/** Options of {@link ChainClient.connect}. */
export interface ChainClientOptions {
  /** WebSocket endpoints in order of preference; the first that answers is used, the rest are fallbacks. */
  endpoints: string[];
  /** Time to wait for one endpoint. @default 10000 */
  connectTimeoutMs?: number;
  /** Rounds over all endpoints before giving up. @default 3 */
  rounds?: number;
  /** Delay before round n (1-based) in ms, with jitter. @default 500 * 2^(n-1), +-20% */
  backoffMs?: (round: number) => number;
  logger?: Logger;
}

/** Backoff between connection rounds: doubling from 500 ms, +-20% jitter. */
export function defaultBackoffMs(round: number): number {
  const base = 500 * 2 ** (round - 1);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** The controller's view of Subtensor through @polkadot/api. */
export class ChainClient {
  readonly api: ApiPromise;
  /** The endpoint that answered. */
  readonly endpoint: string;
  private readonly logger: Logger;

  private constructor(api: ApiPromise, endpoint: string, logger: Logger) {
    this.api = api;
    this.endpoint = endpoint;
    this.logger = logger;
  }

  /** Connects to the first endpoint that answers; later disconnects fail over to the others. */
  static async connect(options: ChainClientOptions): Promise<ChainClient> {
    const logger = options.logger ?? silentLogger;
    if (options.endpoints.length === 0)
      throw new CacheonError(
        "invalid-config",
        "no chain endpoints configured: give at least one ws:// or wss:// URL",
      );
    for (const url of options.endpoints) {
      if (!/^wss?:\/\/\S+$/.test(url))
        throw new CacheonError("invalid-config", `chain endpoint "${url}" is not a ws:// or wss:// URL`);
    }
    const timeout = options.connectTimeoutMs ?? 10_000;
    const rounds = options.rounds ?? 3;
    const backoff = options.backoffMs ?? defaultBackoffMs;
    const failures: string[] = [];
    for (let round = 1; round <= rounds; round += 1) {
      if (round > 1) await new Promise((r) => setTimeout(r, backoff(round - 1)));
      for (const [i, url] of options.endpoints.entries()) {
        const ordered = [...options.endpoints.slice(i), ...options.endpoints.slice(0, i)];
        // A provider over every endpoint (starting with this one) reconnects to the next one on loss.
        const provider = new WsProvider(ordered.length === 1 ? url : ordered, 2_000, {}, timeout);
        try {
          const api = await withTimeout(
            ApiPromise.create({ provider, noInitWarn: true, throwOnConnect: true }),
            timeout,
            url,
          );
          logger.info("chain connected", { endpoint: url, chain: (await api.rpc.system.chain()).toString() });
          return new ChainClient(api, url, logger);
        } catch (error) {
          failures.push(`${url}: ${(error as Error).message}`);
          logger.warn("chain endpoint failed", { endpoint: url, error });
          await provider.disconnect().catch(() => {});
        }
      }
    }
    throw new CacheonError(
      "unavailable",
      `no chain endpoint answered after ${rounds} rounds (${failures.slice(-options.endpoints.length).join("; ")}): check the URLs and that the node is up`,
    );
  }

  async close(): Promise<void> {
    await this.api.disconnect();
  }

  /** The latest finalized block. */
  async finalizedHead(): Promise<FinalizedBlock> {
    const hash = await this.api.rpc.chain.getFinalizedHead();
    const header = await this.api.rpc.chain.getHeader(hash);
    return { hash: hash.toHex(), number: header.number.toNumber() };
  }

  /** Reads a subnet's neurons and weight hyperparameters at the finalized head (or `at`). */
  async readMetagraph(netuid: number, at?: FinalizedBlock): Promise<Metagraph> {
    const head = at ?? (await this.finalizedHead());
    const q = (await this.api.at(head.hash)).query.subtensorModule;
    if (!q) throw new CacheonError("internal", "the chain's metadata has no SubtensorModule pallet");
    const added = await q.networksAdded?.(netuid);
    if (added?.toJSON() !== true)
      throw new CacheonError(
        "not-found",
        `subnet ${netuid} does not exist on ${this.endpoint} at block ${head.number}`,
      );
    const [n, permits, lastUpdate, tempo, versionKey, rateLimit, commitReveal] = await Promise.all([
      call(q.subnetworkN, netuid),
      call(q.validatorPermit, netuid),
      call(q.lastUpdate, netuid),
      call(q.tempo, netuid),
      call(q.weightsVersionKey, netuid),
      call(q.weightsSetRateLimit, netuid),
      call(q.commitRevealWeightsEnabled, netuid),
    ]);
    const count = Number(n.toString());
    const uidKeys = Array.from({ length: count }, (_, uid) => [netuid, uid]);
    const [keys, registered] = await Promise.all([
      q.keys?.multi(uidKeys),
      q.blockAtRegistration?.multi(uidKeys),
    ]);
    const permitList = permits.toJSON() as boolean[];
    const updates = lastUpdate.toJSON() as number[];
    return {
      netuid,
      blockNumber: head.number,
      blockHash: head.hash,
      neurons: (keys ?? []).map((key, uid) => ({
        uid,
        hotkey: key.toString(),
        validatorPermit: permitList[uid] === true,
        lastUpdate: updates[uid] ?? 0,
        registeredAt: Number(registered?.[uid]?.toString() ?? 0),
      })),
      tempo: Number(tempo.toString()),
      weightsVersionKey: BigInt(versionKey.toString()),
      weightsSetRateLimit: Number(rateLimit.toString()),
      commitRevealWeightsEnabled: commitReveal.toJSON() === true,
    };
  }

  /**
   * Reads every hotkey's current submission (plain, or revealed from a drand-timelocked commitment)
   * and parses each; a bad one is recorded, never thrown. See commitments-client.ts.
   */
  async readCommitments(netuid: number, at?: FinalizedBlock): Promise<CommitmentRecord[]> {
    return (await readSubmissions(this, netuid, at)).records;
  }

  /** Reveals of finalized blocks `from`..`to` from their CommitmentRevealed events (history beyond the last 10). */
  async readRevealEvents(netuid: number, from: number, to: number): Promise<RevealEvent[]> {
    return readRevealEvents(this, netuid, from, to);
  }

  /** Submissions and the timelocked commitments still waiting for their round. */
  async readSubmissions(
    netuid: number,
    at?: FinalizedBlock,
  ): Promise<{ records: CommitmentRecord[]; pending: PendingReveal[] }> {
    return readSubmissions(this, netuid, at);
  }

  /**
   * Calls `onBlock` for every finalized block, in order and one at a time (gaps are filled), until
   * `signal` aborts. Resolves on abort; rejects when the subscription fails.
   */
  async followFinalized(
    signal: AbortSignal,
    onBlock: (block: FinalizedBlock) => Promise<void> | void,
  ): Promise<void> {
    let last: number | undefined;
    let chain = Promise.resolve();
    let failed: ((error: unknown) => void) | undefined;
    const failure = new Promise<never>((_, reject) => {
      failed = reject;
    });
    const unsubscribe = await this.api.rpc.chain.subscribeFinalizedHeads((header) => {
      const number = header.number.toNumber();
      chain = chain
        .then(async () => {
          if (signal.aborted) return;
          const from = last === undefined ? number : last + 1;
          for (let n = from; n <= number && !signal.aborted; n += 1) {
            const hash =
              n === number ? header.hash.toHex() : (await this.api.rpc.chain.getBlockHash(n)).toHex();
            await onBlock({ number: n, hash });
            last = n;
          }
        })
        .catch((error) => failed?.(error));
    });
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          signal.addEventListener("abort", () => resolve(), { once: true });
        }),
        failure,
      ]);
      await chain;
    } finally {
      unsubscribe();
    }
  }

  /** Waits until the finalized head reaches `number`. */
  async waitForFinalized(number: number, signal?: AbortSignal): Promise<FinalizedBlock> {
    const local = new AbortController();
    const stop = () => local.abort();
    signal?.addEventListener("abort", stop, { once: true });
    let reached: FinalizedBlock | undefined;
    try {
      await this.followFinalized(local.signal, (block) => {
        if (block.number >= number && !reached) {
          reached = block;
          local.abort();
        }
      });
    } finally {
      signal?.removeEventListener("abort", stop);
    }
    if (!reached) throw new CacheonError("cancelled", `stopped waiting for block ${number}`);
    return reached;
  }

  /**
   * Sets weights for the signer's uid: set_weights, or the subnet's commit-reveal (drand timelock
   * or blake2 hash), confirmed by reading `Weights` back from finalized state. See weights-client.ts.
   */
  async setWeights(
    netuid: number,
    weightsByUid: ReadonlyMap<number, number>,
    options: SetChainWeightsOptions,
  ): Promise<SetWeightsResult> {
    return setChainWeights(this, netuid, weightsByUid, { logger: this.logger, ...options });
  }

  /**
   * Writes a commitment (one Raw field, or BigRaw above 128 bytes) and waits for finality. With
   * `timelock`, the text is sealed to a drand round instead (set_reveal_commitment): one
   * TimelockEncrypted field the chain reveals `revealInBlocks` blocks from now.
   */
  async commit(
    netuid: number,
    text: string,
    signer: KeyringPair,
    signal?: AbortSignal,
    timelock?: TimelockCommitOptions,
  ): Promise<FinalizedBlock & { revealRound?: number }> {
    const { extrinsic, revealRound } = await this.commitmentCall(netuid, text, timelock);
    const block = await this.submit(extrinsic, signer, signal);
    return revealRound === undefined ? block : { ...block, revealRound };
  }

  /** The set_commitment call for `text`: one Raw/BigRaw field, or sealed to a drand round with `timelock`. */
  async commitmentCall(
    netuid: number,
    text: string,
    timelock?: TimelockCommitOptions,
  ): Promise<{ extrinsic: SubmittableExtrinsic<"promise">; revealRound?: number }> {
    const bytes = new TextEncoder().encode(text);
    if (bytes.length > 512)
      throw new CacheonError("invalid-argument", `the commitment is ${bytes.length} bytes; the limit is 512`);
    const tx = this.api.tx.commitments?.setCommitment;
    if (!tx) throw new CacheonError("internal", "the chain's metadata has no Commitments.set_commitment");
    if (timelock) {
      const sealed = await sealCommitment(this, text, timelock);
      const field = {
        TimelockEncrypted: { encrypted: u8aToHex(sealed.ciphertext), reveal_round: sealed.revealRound },
      };
      return { extrinsic: tx(netuid, { fields: [field] }), revealRound: sealed.revealRound };
    }
    const field = bytes.length <= 128 ? { [`Raw${bytes.length}`]: bytes } : { BigRaw: bytes };
    return { extrinsic: tx(netuid, { fields: [field] }) };
  }

  /**
   * Signs (mortal), submits and waits for finality within a deadline (extrinsic-submitter.ts): the
   * block, or ChainDispatchError, ExtrinsicNotLanded, ExtrinsicInDoubt (may still land: never
   * resend before extrinsicFate() says "lost").
   */
  async submit(
    extrinsic: SubmittableExtrinsic<"promise">,
    signer: KeyringPair,
    signal?: AbortSignal,
    options: Omit<SubmitOptions, "signal"> = {},
  ): Promise<FinalizedBlock> {
    return submitExtrinsic(this.api, extrinsic, signer, { ...options, signal });
  }

  /** Where an extrinsic that was in doubt stands now: landed, pending (may land) or lost. */
  extrinsicFate(sent: SentExtrinsic): Promise<ExtrinsicFate> {
    return extrinsicFate(this.api, sent);
  }
}

async function call(
  fn: ((...args: unknown[]) => Promise<Codec>) | undefined,
  ...args: unknown[]
): Promise<Codec> {
  if (!fn) throw new CacheonError("internal", "the chain's metadata lacks a storage item the client reads");
  return fn(...args);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
