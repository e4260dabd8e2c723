import type { Codec } from "@polkadot/types/types";
import { deposit, mint, withdraw } from "./balance-ledger.ts";
import { big } from "./codec-values.ts";
import { type DevnetPallet, type DispatchContext, type DispatchOutcome, tokenFail } from "./pallet.ts";

// pallet-balances' transfers as the fungible traits run them: the sender must hold the amount
// (Token::FundsUnavailable), transfer_keep_alive must leave it at least the existential deposit
// (Token::NotExpendable), a new recipient must receive at least that much (Token::BelowMinimum);
// transfer_allow_death reaps a sender left below it (DustLost, KilledAccount).

/** Balances: transfers, and every seeded hotkey (and seed account) endowed at genesis. */
export const balancesPallet: DevnetPallet = {
  section: "balances",
  calls: {
    transferAllowDeath: (context, args) => transfer(context, args, false),
    transferKeepAlive: (context, args) => transfer(context, args, true),
  },
  genesis(storage, { seed, hotkeys, accounts }) {
    const balance = BigInt(seed.balance ?? 1_000_000_000_000);
    const endowed = new Map<string, bigint>();
    for (const hotkey of hotkeys.flat()) endowed.set(hotkey, balance);
    for (const [account, amount] of accounts) endowed.set(account, amount);
    for (const [account, amount] of endowed) if (amount > 0n) mint(storage, account, amount);
  },
};

/** The account id (hex) of a MultiAddress argument; undefined for forms the devnet does not resolve. */
export function multiAddressId(address: Codec | undefined): string | undefined {
  const a = address as (Codec & { type?: string; value?: Codec }) | undefined;
  return a?.type === "Id" && a.value ? a.value.toHex() : undefined;
}

function transfer({ storage, who }: DispatchContext, args: Codec[], keepAlive: boolean): DispatchOutcome {
  const dest = multiAddressId(args[0]);
  if (!dest) return { ok: false, error: { section: "system", name: "CallFiltered" } };
  const amount = big(args[1]);
  const taken = withdraw(storage, who, amount, keepAlive);
  if (!taken.ok) return tokenFail(taken.error);
  const given = deposit(storage, dest, amount);
  if (!given.ok) return tokenFail(given.error);
  return {
    ok: true,
    events: [
      ...given.events,
      { section: "balances", method: "Transfer", data: [who, dest, amount.toString()] },
      ...taken.events,
    ],
  };
}
