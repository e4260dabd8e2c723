import type { PaidUids } from "./weight-policy.ts";

// Who is paid, by uid, at the block the weights are built for. The standing names seats by
// submission and hotkey; uids belong to the chain and change hands: a pruned neuron's uid is given
// to whoever registers next, while a round lasts hours and weights are set every few minutes. So
// the uid is looked up at that block (never the uid stored at intake), and a seat whose hotkey has
// left the subnet, or came back with a new registration after its commitment, is not paid: its uid
// may belong to a stranger, and a re-registered hotkey's old commitment is not a submission of its
// new registration (it must commit again, as intake requires).

/** A seat of the standing, with the state of its submission now. */
export interface SeatHolder {
  submissionId: string;
  hotkey: string;
  /** Block of the commitment the seat was won with. */
  commitBlock: number;
  /** The submission's state in the store now ("evaluated" for a seated one). */
  state: string;
}

/** A neuron at the block weights are built for. */
export interface NeuronAt {
  uid: number;
  hotkey: string;
  /** BlockAtRegistration of the uid. */
  registeredAt: number;
}

/** What happens to the leader's share when the leader's seat is dropped. */
export type VacantLeaderRule = "promote-runner-up" | "burn";

/** A seat that is not paid, and why. */
export interface DroppedSeat {
  seat: "leader" | "runner-up";
  hotkey: string;
  reason: string;
}

/** Who is paid at `block`, and who is not. */
export interface SeatResolution {
  paid: PaidUids;
  dropped: DroppedSeat[];
}

const seated = new Set(["evaluated", "pending"]);

/**
 * Resolves the standing's seats to uids at `block`. A dropped leader's share is promoted to the
 * runner-up ("promote-runner-up": the best remaining correct server takes the pool until the next
 * round) or burned ("burn": the runner-up keeps its share only); a dropped runner-up leaves the
 * leader alone. Pure.
 */
export function resolvePaidSeats(options: {
  leader?: SeatHolder | undefined;
  runnerUp?: SeatHolder | undefined;
  neurons: readonly NeuronAt[];
  block: number;
  vacantLeader: VacantLeaderRule;
}): SeatResolution {
  const byHotkey = new Map(options.neurons.map((n) => [n.hotkey, n]));
  const dropped: DroppedSeat[] = [];
  const resolve = (seat: "leader" | "runner-up", holder: SeatHolder | undefined): number | undefined => {
    if (!holder) return undefined;
    const drop = (reason: string) => {
      dropped.push({ seat, hotkey: holder.hotkey, reason });
      return undefined;
    };
    if (!seated.has(holder.state)) return drop(`its submission ${holder.submissionId} is ${holder.state}`);
    const neuron = byHotkey.get(holder.hotkey);
    if (!neuron)
      return drop(`hotkey ${holder.hotkey} is not registered on the subnet at block ${options.block}`);
    if (neuron.registeredAt > holder.commitBlock)
      return drop(
        `hotkey ${holder.hotkey} registered again at block ${neuron.registeredAt}, after its commitment of block ${holder.commitBlock}`,
      );
    return neuron.uid;
  };
  const leaderUid = resolve("leader", options.leader);
  const runnerUpUid = resolve("runner-up", options.runnerUp);
  if (leaderUid !== undefined) return { paid: { leaderUid, runnerUpUid }, dropped };
  if (options.leader && options.vacantLeader === "burn" && runnerUpUid !== undefined)
    return { paid: { vacantLeader: true, runnerUpUid }, dropped };
  return { paid: { leaderUid: runnerUpUid }, dropped };
}
