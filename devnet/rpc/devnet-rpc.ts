import { compactToU8a, hexToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import type { Logger } from "../../shared/log/logger.ts";
import type { DevnetBlock, DevnetChain } from "../chain/devnet-chain.ts";
import { parsePoolFault } from "../chain/pool-faults.ts";
import { type ExtrinsicStatusJson, PoolError } from "../chain/transaction-pool.ts";
import { endowOperation, replaceNeuronOperation } from "../pallets/admin-operations.ts";
import { nextEpochStartBlock } from "../pallets/subtensor-epoch.ts";
import type { WebSocketConnection } from "../ws/websocket-server.ts";

/** A JSON-RPC error: code, message and optional data, as Substrate nodes send them. */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

type Params = unknown[];
type Handler = (params: Params, session: RpcSession) => unknown;

/** Subscriptions of one connection; all are dropped when it closes. */
export interface RpcSession {
  connection: WebSocketConnection;
  subscriptions: Map<string, () => void>;
}

let nextSubscriptionId = 1;

/**
 * The JSON-RPC methods @polkadot/api uses, answered from the devnet chain. Names, parameters and
 * result shapes follow Substrate's RPC (sc-rpc), so @polkadot/api cannot tell it from a node.
 */
export function createRpcHandlers(chain: DevnetChain, logger: Logger): Map<string, Handler> {
  const { meta } = chain;
  const handlers = new Map<string, Handler>();
  const on = (name: string, handler: Handler) => handlers.set(name, handler);

  const blockAt = (at: unknown): DevnetBlock => {
    const block = chain.block(at === undefined || at === null ? undefined : (at as string | number));
    if (!block) throw new RpcError(4003, `Client error: UnknownBlock: header not found for ${String(at)}`);
    return block;
  };
  const stateAt = (at: unknown) => {
    const block = blockAt(at);
    if (!block.storage)
      throw new RpcError(
        4003,
        `Client error: State already discarded for ${block.hash} (the devnet keeps recent state only)`,
      );
    return block.storage;
  };
  const subscribe = (
    session: RpcSession,
    method: string,
    start: (send: (result: unknown) => void) => () => void,
  ) => {
    const id = String(nextSubscriptionId++);
    const send = (result: unknown) => {
      if (session.connection.open)
        session.connection.send(
          JSON.stringify({ jsonrpc: "2.0", method, params: { subscription: id, result } }),
        );
    };
    // The id must reach the client before the first notification.
    queueMicrotask(() => {
      if (session.subscriptions.has(id)) session.subscriptions.set(id, start(send));
    });
    session.subscriptions.set(id, () => {});
    return id;
  };
  const unsubscribe = (params: Params, session: RpcSession) => {
    const id = String(params[0]);
    const stop = session.subscriptions.get(id);
    if (!stop) return false;
    stop();
    session.subscriptions.delete(id);
    return true;
  };

  on("rpc_methods", () => ({ version: 1, methods: [...handlers.keys()].sort() }));
  on("system_chain", () => chain.chainName);
  on("system_name", () => "cacheon-devnet");
  on("system_version", () => "0.1.0");
  on("system_chainType", () => "Development");
  on("system_properties", () => ({ ss58Format: 42, tokenDecimals: 9, tokenSymbol: "TAO" }));
  on("system_health", () => ({ peers: 0, isSyncing: false, shouldHavePeers: false }));
  on("system_accountNextIndex", (p) => chain.nextNonce(String(p[0])));

  on("chain_getBlockHash", (p) => {
    const at = p[0];
    if (Array.isArray(at)) return at.map((n) => chain.block(toNumber(n))?.hash ?? null);
    return (at === undefined || at === null ? chain.best : chain.block(toNumber(at)))?.hash ?? null;
  });
  on("chain_getHeader", (p) => chain.block((p[0] as string | undefined) ?? undefined)?.header ?? null);
  on("chain_getBlock", (p) => {
    const block = chain.block((p[0] as string | undefined) ?? undefined);
    return block
      ? { block: { header: block.header, extrinsics: block.extrinsics }, justifications: null }
      : null;
  });
  on("chain_getFinalizedHead", () => chain.finalized.hash);
  on("chain_getFinalisedHead", () => chain.finalized.hash);
  const headSubscription = (kind: "new" | "finalized", method: string) => (_: Params, session: RpcSession) =>
    subscribe(session, method, (send) => {
      send((kind === "new" ? chain.best : chain.finalized).header);
      return chain.subscribe(
        kind === "new" ? { onNewHead: (b) => send(b.header) } : { onFinalized: (b) => send(b.header) },
      );
    });
  on("chain_subscribeNewHeads", headSubscription("new", "chain_newHead"));
  on("chain_subscribeNewHead", headSubscription("new", "chain_newHead"));
  on("chain_subscribeAllHeads", headSubscription("new", "chain_allHead"));
  on("chain_subscribeFinalizedHeads", headSubscription("finalized", "chain_finalizedHead"));
  on("chain_subscribeFinalisedHeads", headSubscription("finalized", "chain_finalizedHead"));
  for (const name of [
    "chain_unsubscribeNewHeads",
    "chain_unsubscribeNewHead",
    "chain_unsubscribeAllHeads",
    "chain_unsubscribeFinalizedHeads",
    "chain_unsubscribeFinalisedHeads",
    "state_unsubscribeStorage",
    "state_unsubscribeRuntimeVersion",
    "author_unwatchExtrinsic",
  ])
    on(name, unsubscribe);

  on("state_getMetadata", (p) => {
    blockAt(p[0]);
    return u8aToHex(meta.bytes);
  });
  on("state_getRuntimeVersion", (p) => {
    blockAt(p[0]);
    return meta.runtimeVersion;
  });
  on("chain_getRuntimeVersion", (p) => {
    blockAt(p[0]);
    return meta.runtimeVersion;
  });
  on("state_subscribeRuntimeVersion", (_, session) =>
    subscribe(session, "state_runtimeVersion", (send) => {
      send(meta.runtimeVersion);
      return () => {};
    }),
  );
  on("state_getStorage", (p) => stateAt(p[1]).raw(String(p[0])) ?? null);
  on("state_getStorageAt", (p) => stateAt(p[1]).raw(String(p[0])) ?? null);
  on("state_getStorageHash", (p) => {
    const value = stateAt(p[1]).raw(String(p[0]));
    return value === undefined ? null : blake2AsHex(hexToU8a(value));
  });
  on("state_getStorageSize", (p) => {
    const value = stateAt(p[1]).raw(String(p[0]));
    return value === undefined ? null : hexToU8a(value).length;
  });
  on("state_queryStorageAt", (p) => {
    const block = blockAt(p[1]);
    const storage = stateAt(p[1]);
    const keys = (p[0] as string[]) ?? [];
    return [{ block: block.hash, changes: keys.map((k) => [k, storage.raw(k) ?? null]) }];
  });
  on("state_getKeysPaged", (p) =>
    stateAt(p[3]).keysPaged(
      String(p[0] ?? "0x"),
      Math.min(Number(p[1] ?? 1000), 1000),
      p[2] as string | undefined,
    ),
  );
  on("state_getKeys", (p) => stateAt(p[1]).keysPaged(String(p[0] ?? "0x"), 100_000));
  on("state_subscribeStorage", (p, session) => {
    const keys = ((p[0] as string[] | undefined) ?? []).map((k) => k.toLowerCase());
    return subscribe(session, "state_storage", (send) => {
      let last = new Map(keys.map((k) => [k, chain.best.storage?.raw(k) ?? null]));
      send({ block: chain.best.hash, changes: keys.map((k) => [k, last.get(k) ?? null]) });
      return chain.subscribe({
        onNewHead: (block) => {
          const now = new Map(keys.map((k) => [k, block.storage?.raw(k) ?? null]));
          const changes = keys.filter((k) => now.get(k) !== last.get(k)).map((k) => [k, now.get(k) ?? null]);
          last = now;
          if (changes.length > 0) send({ block: block.hash, changes });
        },
      });
    });
  });

  on("state_call", (p) => {
    const at = blockAt(p[2]);
    return stateCall(chain, String(p[0]), String(p[1] ?? "0x"), at);
  });
  on("payment_queryInfo", (p) => {
    const length = hexToU8a(String(p[0])).length;
    const quote = chain.quoteFee(length);
    return { weight: quote.weight, class: "normal", partialFee: String(quote.partialFee) };
  });

  const submit = (hex: string, watcher?: (status: ExtrinsicStatusJson) => void) => {
    try {
      return chain.submit(hex, watcher);
    } catch (error) {
      if (error instanceof PoolError) throw new RpcError(error.code, error.rpcMessage, error.data);
      throw error;
    }
  };
  on("author_submitExtrinsic", (p) => submit(String(p[0])));
  on("author_pendingExtrinsics", () => chain.pending());
  on("author_submitAndWatchExtrinsic", (p, session) => {
    const hex = String(p[0]);
    // Validate first so a refused extrinsic answers with an error, not a subscription.
    const id = String(nextSubscriptionId++);
    const queued: ExtrinsicStatusJson[] = [];
    let send: ((status: ExtrinsicStatusJson) => void) | undefined;
    const watcher = (status: ExtrinsicStatusJson) => {
      if (send) send(status);
      else queued.push(status);
      if (isFinal(status)) session.subscriptions.delete(id);
    };
    submit(hex, watcher);
    session.subscriptions.set(id, () => chain.unwatch(watcher));
    queueMicrotask(() => {
      send = (status) => {
        if (session.connection.open)
          session.connection.send(
            JSON.stringify({
              jsonrpc: "2.0",
              method: "author_extrinsicUpdate",
              params: { subscription: id, result: status },
            }),
          );
      };
      for (const status of queued.splice(0)) send(status);
    });
    logger.debug("extrinsic watched", { subscription: id });
    return id;
  });
  // The devnet operator's methods (no Substrate node has them): deregistration by replacement,
  // pool misbehaviour for one or more extrinsics, and a faucet.
  on("devnet_replaceNeuron", (p) => {
    const [netuid, uid, hotkey] = p;
    if (!Number.isInteger(netuid) || !Number.isInteger(uid) || typeof hotkey !== "string")
      throw new RpcError(-32602, "devnet_replaceNeuron takes [netuid, uid, hotkey SS58]");
    chain
      .scheduleAdmin(replaceNeuronOperation(Number(netuid), Number(uid), hotkey))
      .catch((error) => logger.warn("devnet_replaceNeuron failed", { error }));
    return null;
  });
  on("devnet_injectFault", (p) => {
    try {
      chain.injectFault(parsePoolFault(p[0]));
    } catch (error) {
      throw new RpcError(-32602, `devnet_injectFault: ${(error as Error).message}`);
    }
    return null;
  });
  on("devnet_endow", (p) => {
    const [account, amount] = p;
    if (typeof account !== "string" || !(typeof amount === "number" || typeof amount === "string"))
      throw new RpcError(-32602, "devnet_endow takes [account SS58, rao]");
    chain
      .scheduleAdmin(endowOperation(account, BigInt(amount)))
      .catch((error) => logger.warn("devnet_endow failed", { error }));
    return null;
  });
  return handlers;
}

/** Statuses after which Substrate ends an author_submitAndWatchExtrinsic subscription. */
function isFinal(status: ExtrinsicStatusJson): boolean {
  if (typeof status === "string") return status === "invalid" || status === "dropped";
  return "finalized" in status || "usurped" in status || "finalityTimeout" in status;
}

function toNumber(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string")
    return value.startsWith("0x") ? Number.parseInt(value.slice(2), 16) : Number(value);
  return Number.NaN;
}

/** The runtime APIs the devnet answers through state_call, encoded with the metadata's types. */
function stateCall(chain: DevnetChain, method: string, data: string, at: DevnetBlock): string {
  const { meta } = chain;
  const { registry } = meta;
  const input = hexToU8a(data);
  switch (method) {
    case "Metadata_metadata_versions":
      return u8aToHex(registry.createType("Vec<u32>", [16]).toU8a());
    case "Metadata_metadata_at_version": {
      const version = registry.createType("u32", input).toNumber();
      if (version !== 16) return "0x00";
      return u8aToHex(u8aConcat(new Uint8Array([1]), compactToU8a(meta.bytes.length), meta.bytes));
    }
    case "Metadata_metadata":
      return u8aToHex(u8aConcat(compactToU8a(meta.bytes.length), meta.bytes));
    case "Core_version":
      return u8aToHex(registry.createType("RuntimeVersion", meta.runtimeVersion).toU8a());
    case "SubnetInfoRuntimeApi_get_next_epoch_start_block": {
      // The chain's own epoch schedule, which CRv4 reveal rounds are computed from.
      const netuid = registry.createType("u16", input.subarray(0, 2)).toNumber();
      const next = at.storage && nextEpochStartBlock(at.storage, netuid);
      return u8aToHex(registry.createType("Option<u64>", next).toU8a());
    }
    case "AccountNonceApi_account_nonce": {
      const account = registry.createType("AccountId32", input.subarray(0, 32)).toString();
      return u8aToHex(registry.createType("u32", chain.nextNonce(account)).toU8a());
    }
    case "TransactionPaymentApi_query_info": {
      // (uxt, len): the fee depends only on the length the caller states.
      const length =
        input.length >= 4 ? registry.createType("u32", input.subarray(input.length - 4)).toNumber() : 0;
      const quote = chain.quoteFee(length);
      const info = registry.createType(
        '{"weight":"SpWeightsWeightV2Weight","class":"FrameSupportDispatchDispatchClass","partialFee":"u64"}',
        {
          weight: quote.weight,
          class: "Normal",
          partialFee: quote.partialFee,
        },
      );
      return u8aToHex(info.toU8a());
    }
    default:
      throw new RpcError(
        4003,
        `Client error: Execution failed: the devnet does not implement the runtime API call ${method}`,
      );
  }
}
