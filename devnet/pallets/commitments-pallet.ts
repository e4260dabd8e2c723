import type { Codec } from "@polkadot/types/types";
import { num } from "./codec-values.ts";
import { type DevnetPallet, type DispatchContext, type DispatchOutcome, fail } from "./pallet.ts";
import { epochIndex } from "./subtensor-epoch.ts";

// pallets/commitments/src/lib.rs set_commitment, check by check.

type CommitmentInfo = Codec & { fields: Codec[] & { length: number } };

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
  // Space used per epoch, as the pallet meters it (bytes of each field, 32 for hashes).
  const required = [...info.fields].reduce((sum, field) => sum + fieldSpace(field), 0);
  const epoch = epochIndex(storage, netuid, block);
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
  return { ok: true, events: [{ section: "commitments", method: "Commitment", data: [netuid, who] }] };
}

function fieldSpace(field: Codec): number {
  const json = field.toJSON() as Record<string, unknown> | null;
  if (json === null || typeof json !== "object") return 0;
  const [variant, value] = Object.entries(json)[0] ?? ["None", null];
  if (variant === "none") return 0;
  if (typeof value === "string" && value.startsWith("0x")) return (value.length - 2) / 2;
  return 32;
}
