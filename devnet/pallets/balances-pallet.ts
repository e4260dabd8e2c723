import type { DevnetPallet } from "./pallet.ts";

/** Balances: every seeded hotkey starts with the seed's free balance in System.Account. */
export const balancesPallet: DevnetPallet = {
  section: "balances",
  calls: {},
  genesis(storage, { seed, hotkeys }) {
    const balance = seed.balance ?? 1_000_000_000_000;
    for (const hotkey of hotkeys.flat()) {
      storage.write("system", "account", [hotkey], {
        nonce: 0,
        consumers: 0,
        providers: 1,
        sufficients: 0,
        data: { free: balance, reserved: 0, frozen: 0, flags: "0x80000000000000000000000000000000" },
      });
    }
  },
};
