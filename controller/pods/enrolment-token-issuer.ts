/**
 * What the fleet needs from the control plane (controller/control-plane/): a one-time enrolment
 * token minted for one pod, which the pod's cloud-init hands to the agent.
 */
export interface EnrolmentTokenIssuer {
  /** Mints a token for `podId` that stays valid for `ttlMs`; only its hash should be stored. */
  mint(podId: string, ttlMs: number): Promise<string>;
}
