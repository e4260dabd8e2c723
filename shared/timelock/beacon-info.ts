import { hexToBytes } from "@noble/hashes/utils.js";

/** A drand-style beacon that signs each round with BLS on G1 (public key on G2, "unchained"). */
export interface BeaconInfo {
  /** Compressed G2 public key, 96 bytes. */
  publicKey: Uint8Array;
  /** Unix seconds of round 1. */
  genesisSeconds: number;
  /** Seconds between rounds. */
  periodSeconds: number;
  /** Hash-to-curve domain separation tag of the scheme. */
  dst: string;
}

/** RFC 9380 suite drand's `bls-unchained-g1-rfc9380` scheme hashes round messages with. */
export const quicknetDst = "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/**
 * drand quicknet, the beacon finney's Drand pallet ingests (chain hash
 * 52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971).
 */
export const quicknet: Readonly<BeaconInfo> = Object.freeze({
  publicKey: hexToBytes(
    "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a",
  ),
  genesisSeconds: 1692803367,
  periodSeconds: 3,
  dst: quicknetDst,
});

/** The latest round published at `unixSeconds` (0 before genesis). */
export function roundAt(
  beacon: Pick<BeaconInfo, "genesisSeconds" | "periodSeconds">,
  unixSeconds: number,
): number {
  if (unixSeconds < beacon.genesisSeconds) return 0;
  return Math.floor((unixSeconds - beacon.genesisSeconds) / beacon.periodSeconds) + 1;
}

/** Unix seconds at which `round` is published. */
export function roundTime(
  beacon: Pick<BeaconInfo, "genesisSeconds" | "periodSeconds">,
  round: number,
): number {
  return beacon.genesisSeconds + (round - 1) * beacon.periodSeconds;
}
