import type { Codec } from "@polkadot/types/types";
import type { ChainStorage } from "../chain/chain-storage.ts";
import { num } from "./codec-values.ts";
import { type DevnetPallet, type DispatchContext, type DispatchOutcome, fail } from "./pallet.ts";
import { epochIndex } from "./subtensor-epoch.ts";

// pallets/commitments/src/lib.rs set_commitment, check by check.

type CommitmentInfo = Codec & { fields: Codec[] & { length: number } };

/** set_commitment meters at least this many bytes per call (min_used_space). */
const minUsedSpace = 100;

/** The Commitments pallet: set_commitment for registered hotkeys, metered per epoch. */
export const commitmentsPallet: DevnetPallet = {
  section: "commitments",
  calls: {
    setCommitment: (context, args) => setCommitment(context, num(args[0]), args[1] as CommitmentInfo),
  },
};

function setCommitment(
  { storage, who, block }: DispatchContext,
  netuid: number,
  info: CommitmentInfo,
): DispatchOutcome {
  if (storage.read("subtensorModule", "uids", netuid, who) === undefined)
    return fail("commitments", "AccountNotAllowedCommit");
  const maxFields = storage.meta.decorated.consts.commitments?.maxFields;
  if (info.fields.length > Number(maxFields?.toString() ?? 3))
    return fail("commitments", "TooManyFieldsInCommitmentInfo");
  // Space used per epoch, as the pallet meters it (bytes of each field, 32 for hashes, at least 100).
  const required = Math.max(
    minUsedSpace,
    [...info.fields].reduce((sum, field) => sum + fieldSpace(field), 0),
  );
  const epoch = epochIndex(storage, netuid);
  const usage = storage.read("commitments", "usedSpaceOf", netuid, who)?.toJSON() as
    | { lastEpoch: number; usedSpace: number }
    | undefined;
  const used = usage && usage.lastEpoch === epoch ? usage.usedSpace : 0;
  const maxSpace = num(storage.read("commitments", "maxSpace"));
  if (used + required > maxSpace) return fail("commitments", "SpaceLimitExceeded");
  storage.write("commitments", "usedSpaceOf", [netuid, who], {
    lastEpoch: epoch,
    usedSpace: used + required,
  });
  const previous = storage.read("commitments", "commitmentOf", netuid, who)?.toJSON() as
    | { deposit: number }
    | undefined;
  storage.write("commitments", "commitmentOf", [netuid, who], {
    deposit: previous?.deposit ?? 0,
    block,
    info: info.toU8a(),
  });
  storage.write("commitments", "lastCommitment", [netuid, who], block);
  // A timelocked field puts the commitment in TimelockedIndex for the reveal hook
  // (commitments-reveal.ts); a plain commitment takes it out.
  const timelocked = [...info.fields].find(
    (f) => (f as Codec & { type?: string }).type === "TimelockEncrypted",
  ) as (Codec & { value: { revealRound: Codec } }) | undefined;
  const index = timelockedIndex(storage).filter(([n, account]) => !(n === netuid && account === who));
  if (timelocked) index.push([netuid, who]);
  storage.write("commitments", "timelockedIndex", [], index);
  return {
    ok: true,
    events: timelocked
      ? [
          {
            section: "commitments",
            method: "TimelockCommitment",
            data: [netuid, who, timelocked.value.revealRound.toString()],
          },
        ]
      : [{ section: "commitments", method: "Commitment", data: [netuid, who] }],
  };
}

/** TimelockedIndex as (netuid, account id hex) pairs. */
export function timelockedIndex(storage: ChainStorage): [number, string][] {
  const set = storage.read("commitments", "timelockedIndex") as unknown as
    | Iterable<[Codec, Codec]>
    | undefined;
  return [...(set ?? [])].map(([n, account]) => [num(n), account.toHex()]);
}

function fieldSpace(field: Codec): number {
  const json = field.toJSON() as Record<string, unknown> | null;
  if (json === null || typeof json !== "object") return 0;
  const [variant, value] = Object.entries(json)[0] ?? ["None", null];
  if (variant === "none") return 0;
  if (typeof value === "string" && value.startsWith("0x")) return (value.length - 2) / 2;
  // TimelockEncrypted meters its ciphertext's length.
  const encrypted = (value as { encrypted?: unknown } | null)?.encrypted;
  if (typeof encrypted === "string" && encrypted.startsWith("0x")) return (encrypted.length - 2) / 2;
  return 32;
}
