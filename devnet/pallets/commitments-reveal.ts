import type { Codec } from "@polkadot/types/types";
import { u8aToHex } from "@polkadot/util";
import { timelockDecrypt } from "../../shared/timelock/timelock-cipher.ts";
import type { ChainStorage } from "../chain/chain-storage.ts";
import { timelockedIndex } from "./commitments-pallet.ts";
import type { BlockHookContext, DevnetPallet, RuntimeEvent } from "./pallet.ts";

// pallets/commitments/src/lib.rs reveal_timelocked_commitments (on_initialize): for every
// commitment in TimelockedIndex, each TimelockEncrypted field whose round's pulse is stored is
// taken out of CommitmentOf and, when it decrypts to non-empty bytes, appended with the block to
// RevealedCommitments (the last 10 kept) and announced with CommitmentRevealed. A field that does
// not parse or decrypt is dropped silently, as the chain drops it. A commitment left with no
// fields is removed.

/** RevealedCommitments keeps this many reveals per hotkey (MAX_REVEALS). */
export const maxReveals = 10;

type Field = Codec & { type: string; value: Codec & { encrypted: Codec; revealRound: Codec } };

/** The Commitments pallet's reveal hook. */
export const commitmentsRevealPallet: DevnetPallet = {
  section: "commitments",
  calls: {},
  onInitialize: revealTimelockedCommitments,
};

function revealTimelockedCommitments({ storage, block }: BlockHookContext): RuntimeEvent[] {
  const events: RuntimeEvent[] = [];
  let index = timelockedIndex(storage);
  const drop = (netuid: number, who: string) => {
    index = index.filter(([n, a]) => !(n === netuid && a === who));
  };
  for (const [netuid, who] of [...index]) {
    const registration = storage.read("commitments", "commitmentOf", netuid, who) as
      | (Codec & { deposit: Codec; block: Codec; info: { fields: Field[] } })
      | undefined;
    if (!registration) {
      drop(netuid, who);
      continue;
    }
    const remain: Field[] = [];
    const revealed: Uint8Array[] = [];
    let sawTimelock = false;
    let processed = false;
    for (const field of registration.info.fields) {
      if (field.type !== "TimelockEncrypted") {
        remain.push(field);
        continue;
      }
      sawTimelock = true;
      const signature = pulseSignature(storage, Number(field.value.revealRound.toString()));
      if (!signature) {
        remain.push(field);
        continue;
      }
      processed = true;
      try {
        const plaintext = timelockDecrypt(field.value.encrypted.toU8a(true), signature);
        if (plaintext.length > 0) revealed.push(plaintext);
      } catch {
        // Dropped, as the runtime drops a field it cannot deserialize or decrypt.
      }
    }
    if (!sawTimelock) {
      drop(netuid, who);
      continue;
    }
    // Nothing to reveal yet: leave CommitmentOf as it is.
    if (!processed) continue;
    if (revealed.length > 0) {
      const existing =
        (storage.read("commitments", "revealedCommitments", netuid, who)?.toJSON() as
          | [string, number][]
          | null) ?? [];
      for (const bytes of revealed) {
        existing.push([u8aToHex(bytes), block]);
        events.push({ section: "commitments", method: "CommitmentRevealed", data: [netuid, who] });
      }
      storage.write("commitments", "revealedCommitments", [netuid, who], existing.slice(-maxReveals));
    }
    if (remain.length === 0) {
      storage.remove("commitments", "commitmentOf", [netuid, who]);
      drop(netuid, who);
      continue;
    }
    storage.write("commitments", "commitmentOf", [netuid, who], {
      deposit: registration.deposit,
      block: registration.block,
      info: { fields: remain },
    });
    if (!remain.some((f) => f.type === "TimelockEncrypted")) drop(netuid, who);
  }
  storage.write("commitments", "timelockedIndex", [], index);
  return events;
}

/** The stored pulse's signature for `round`, without a "0x" text prefix, or undefined. */
function pulseSignature(storage: ChainStorage, round: number): Uint8Array | undefined {
  const pulse = storage.read("drand", "pulses", round) as (Codec & { signature: Codec }) | undefined;
  if (!pulse) return undefined;
  const bytes = pulse.signature.toU8a(true);
  const text = new TextDecoder().decode(bytes.subarray(0, 2));
  return text === "0x" ? bytes.subarray(2) : bytes;
}
