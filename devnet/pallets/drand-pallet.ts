import { sha256 } from "@noble/hashes/sha2.js";
import { stringToHex, u8aToHex } from "@polkadot/util";
import { num } from "./codec-values.ts";
import type { BlockHookContext, DevnetPallet, RuntimeEvent } from "./pallet.ts";

// pallets/drand/src/lib.rs: the node's offchain worker fetches the rounds after LastStoredRound
// (at most 50 a block) and submits them with write_pulse, which stores each verified pulse in
// Pulses(round), requires rounds to increase, and emits NewPulse. The devnet does the same at the
// end of each block from its own beacon, so a pulse written in block N is seen by the reveal hooks
// of block N+1, as on finney (they run in on_initialize, before write_pulse is applied).

/** Most rounds stored per block (MAX_PULSES_TO_FETCH). */
export const maxPulsesPerBlock = 50;

/** The Drand pallet: BeaconConfig at genesis, pulses from the devnet beacon after each block. */
export const drandPallet: DevnetPallet = {
  section: "drand",
  calls: {},
  genesis(storage, { beacon }) {
    storage.write("drand", "beaconConfig", [], {
      publicKey: u8aToHex(beacon.publicKey),
      period: Math.max(1, Math.round(beacon.periodSeconds)),
      genesisTime: Math.floor(beacon.genesisSeconds),
      hash: u8aToHex(sha256(beacon.publicKey)),
      groupHash: u8aToHex(sha256(beacon.publicKey)),
      schemeId: stringToHex("bls-unchained-g1-rfc9380"),
      metadata: { beaconId: stringToHex("cacheon-devnet") },
    });
  },
  onFinalize: writePulses,
};

function writePulses({ storage, beacon, nowMs }: BlockHookContext): RuntimeEvent[] {
  const latest = beacon.latestRound(nowMs);
  const last = num(storage.read("drand", "lastStoredRound"));
  if (latest <= last) return [];
  // A fresh chain starts at the beacon's latest round; later it catches up round by round.
  const from = last === 0 ? latest : last + 1;
  const to = Math.min(latest, from + maxPulsesPerBlock - 1);
  const written: number[] = [];
  for (let round = from; round <= to; round += 1) {
    const pulse = beacon.pulse(round);
    if (!pulse) continue;
    // Hex, so the codec takes the bytes as content rather than as SCALE-encoded input.
    storage.write("drand", "pulses", [round], {
      round,
      randomness: u8aToHex(pulse.randomness),
      signature: u8aToHex(pulse.signature),
    });
    written.push(round);
  }
  // Like write_pulse, a round left out now is never written later: LastStoredRound only grows.
  storage.write("drand", "lastStoredRound", [], to);
  if (last === 0 && written.length > 0) storage.write("drand", "oldestStoredRound", [], written[0]);
  return written.length > 0 ? [{ section: "drand", method: "NewPulse", data: [written] }] : [];
}
