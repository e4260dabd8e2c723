import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/**
 * Where a pod is in its life. `released` and `failed` are terminal: the provider has been asked
 * to return the machine (a failed pod was returned because something went wrong).
 */
export type PodState =
  | "requested"
  | "booting"
  | "enrolled"
  | "verified"
  | "busy"
  | "idle"
  | "released"
  | "failed";

/** Every state, in life order. */
export const podStates: readonly PodState[] = [
  "requested",
  "booting",
  "enrolled",
  "verified",
  "busy",
  "idle",
  "released",
  "failed",
];

/**
 * The legal moves. Any live state may end in `released` (budget, shutdown, idle) or `failed`
 * (timeout, bad hardware, disappeared); nothing leaves a terminal state.
 */
const allowed: Record<PodState, readonly PodState[]> = {
  requested: ["booting", "released", "failed"],
  booting: ["enrolled", "released", "failed"],
  enrolled: ["verified", "released", "failed"],
  verified: ["busy", "idle", "released", "failed"],
  busy: ["idle", "released", "failed"],
  idle: ["busy", "released", "failed"],
  released: [],
  failed: [],
};

/** True when `state` is `released` or `failed`. */
export function isTerminal(state: PodState): boolean {
  return state === "released" || state === "failed";
}

/** True when the move is legal. */
export function canTransition(from: PodState, to: PodState): boolean {
  return allowed[from].includes(to);
}

/** Throws CacheonError("failed-precondition") naming the pod and the legal moves when `from -> to` is illegal. */
export function assertTransition(podId: string, from: PodState, to: PodState): void {
  if (canTransition(from, to)) return;
  const legal = allowed[from];
  throw new CacheonError(
    "failed-precondition",
    `pod ${podId}: cannot move from ${from} to ${to}; from ${from} a pod may move to ${legal.length ? legal.join(", ") : "nothing (terminal)"}`,
  );
}
