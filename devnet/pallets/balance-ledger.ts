import type { ChainStorage } from "../chain/chain-storage.ts";
import type { RuntimeEvent, TokenError } from "./pallet.ts";

// System.Account balances as pallet-balances keeps them (free, reserved, frozen; an account exists
// while it has a provider, i.e. while free + reserved >= the existential deposit). Amounts are rao
// as bigint. Every function writes the state it is given; the caller's transactional dispatch
// discards the writes of a failed call.

/** The finney runtime's ExistentialDeposit (rao), from the metadata's Balances constant. */
export function existentialDeposit(storage: ChainStorage): bigint {
  const value = storage.meta.decorated.consts.balances?.existentialDeposit;
  return BigInt(value?.toString() ?? 500);
}

interface AccountInfo {
  nonce: number;
  consumers: number;
  providers: number;
  sufficients: number;
  data: { free: bigint; reserved: bigint; frozen: bigint; flags: string };
}

const newAccountFlags = "0x80000000000000000000000000000000";

/** The account's System.Account entry (the default, all zero, when it does not exist). */
export function readAccount(storage: ChainStorage, who: string): AccountInfo {
  const json = storage.read("system", "account", who)?.toJSON() as
    | {
        nonce: number;
        consumers: number;
        providers: number;
        sufficients: number;
        data: Record<string, unknown>;
      }
    | undefined;
  return {
    nonce: json?.nonce ?? 0,
    consumers: json?.consumers ?? 0,
    providers: json?.providers ?? 0,
    sufficients: json?.sufficients ?? 0,
    data: {
      free: BigInt(String(json?.data.free ?? 0)),
      reserved: BigInt(String(json?.data.reserved ?? 0)),
      frozen: BigInt(String(json?.data.frozen ?? 0)),
      flags: String(json?.data.flags ?? newAccountFlags),
    },
  };
}

/** Free balance of `who` (rao). */
export function freeBalance(storage: ChainStorage, who: string): bigint {
  return readAccount(storage, who).data.free;
}

function writeAccount(storage: ChainStorage, who: string, info: AccountInfo): void {
  storage.write("system", "account", [who], {
    ...info,
    data: {
      ...info.data,
      free: info.data.free.toString(),
      reserved: info.data.reserved.toString(),
      frozen: info.data.frozen.toString(),
    },
  });
}

function adjustIssuance(storage: ChainStorage, delta: bigint): void {
  const issuance = BigInt(storage.read("balances", "totalIssuance")?.toString() ?? 0);
  storage.write("balances", "totalIssuance", [], (issuance + delta).toString());
}

/** Whether `who` may lose `amount` of free balance: enough funds, and alive after it when `keepAlive`. */
export function canWithdraw(
  storage: ChainStorage,
  who: string,
  amount: bigint,
  keepAlive: boolean,
): { ok: true } | { ok: false; error: TokenError } {
  const { data } = readAccount(storage, who);
  if (amount > data.free - data.frozen) return { ok: false, error: "FundsUnavailable" };
  if (keepAlive && data.free - amount + data.reserved < existentialDeposit(storage))
    return { ok: false, error: "NotExpendable" };
  return { ok: true };
}

/**
 * Takes `amount` from `who`'s free balance. An account left below the existential deposit is
 * reaped (its dust lost, System.Account removed, nonce included, as Substrate does). Returns the
 * events; refuses like canWithdraw.
 */
export function withdraw(
  storage: ChainStorage,
  who: string,
  amount: bigint,
  keepAlive: boolean,
): { ok: true; events: RuntimeEvent[]; dust: bigint } | { ok: false; error: TokenError } {
  const check = canWithdraw(storage, who, amount, keepAlive);
  if (!check.ok) return check;
  const info = readAccount(storage, who);
  info.data.free -= amount;
  const events: RuntimeEvent[] = [];
  if (info.data.free + info.data.reserved < existentialDeposit(storage)) {
    const dust = info.data.free;
    storage.remove("system", "account", [who]);
    adjustIssuance(storage, -dust);
    if (dust > 0n) events.push({ section: "balances", method: "DustLost", data: [who, dust.toString()] });
    events.push({ section: "system", method: "KilledAccount", data: [who] });
    return { ok: true, events, dust };
  }
  writeAccount(storage, who, info);
  return { ok: true, events, dust: 0n };
}

/**
 * Adds `amount` to `who`'s free balance, creating the account (NewAccount, Endowed) when it does
 * not exist; refuses with BelowMinimum when a new account would hold less than the existential deposit.
 */
export function deposit(
  storage: ChainStorage,
  who: string,
  amount: bigint,
): { ok: true; events: RuntimeEvent[] } | { ok: false; error: TokenError } {
  const info = readAccount(storage, who);
  const events: RuntimeEvent[] = [];
  if (info.providers === 0) {
    if (amount < existentialDeposit(storage)) return { ok: false, error: "BelowMinimum" };
    info.providers = 1;
    info.data.flags = newAccountFlags;
    events.push({ section: "system", method: "NewAccount", data: [who] });
    events.push({ section: "balances", method: "Endowed", data: [who, amount.toString()] });
  }
  info.data.free += amount;
  writeAccount(storage, who, info);
  return { ok: true, events };
}

/** Creates rao out of nothing (genesis endowments, devnet faucet): deposit plus issuance. */
export function mint(storage: ChainStorage, who: string, amount: bigint): RuntimeEvent[] {
  const done = deposit(storage, who, amount);
  if (!done.ok) throw new Error(`cannot endow ${who} with ${amount} rao: ${done.error}`);
  adjustIssuance(storage, amount);
  return done.events;
}

/** Destroys rao taken by withdraw (fees, registration burns): issuance falls by `amount`. */
export function burnIssuance(storage: ChainStorage, amount: bigint): void {
  adjustIssuance(storage, -amount);
}
