import { blake2AsHex } from "@polkadot/util-crypto";
import type { DevnetPallet } from "./pallet.ts";

/** frame_system's calls the devnet applies: remark (no effect) and remark_with_event. */
export const systemPallet: DevnetPallet = {
  section: "system",
  calls: {
    remark: () => ({ ok: true, events: [] }),
    remarkWithEvent: ({ who }, args) => ({
      ok: true,
      events: [
        { section: "system", method: "Remarked", data: [who, blake2AsHex(args[0]?.toU8a(true) ?? "")] },
      ],
    }),
  },
};
