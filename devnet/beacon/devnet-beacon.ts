import { bls12_381 } from "@noble/curves/bls12-381.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type BeaconInfo, quicknetDst, roundAt } from "../../shared/timelock/beacon-info.ts";
import { roundMessage } from "../../shared/timelock/round-identity.ts";

/** One beacon round as the Drand pallet stores it. */
export interface BeaconPulse {
  round: number;
  /** SHA-256 of the signature, as drand derives it. */
  randomness: Uint8Array;
  /** Compressed G1 BLS signature of the round (48 bytes). */
  signature: Uint8Array;
}

/** Options of {@link DevnetBeacon}. */
export interface DevnetBeaconOptions {
  /** Text the secret key is derived from; the same seed gives the same public key. @default "cacheon devnet beacon" */
  seed?: string;
  /** Unix seconds of round 1. @default the chain's clock when the devnet starts, rounded down */
  genesisSeconds?: number;
  /** Seconds between rounds (fractions allowed for fast tests). @default 3 */
  periodSeconds?: number;
}

/** The public key of the beacon with the default seed, for configuration examples and docs. */
export const defaultDevnetBeaconSeed = "cacheon devnet beacon";

/**
 * A drand-style beacon for the devnet: its own BLS key, quicknet's scheme (unchained, signatures
 * on G1, RFC 9380 hash-to-curve), a round every `periodSeconds`. The Drand pallet asks it for the
 * rounds out at each block, as the node's offchain worker asks drand. Faults can be injected: an
 * outage (nothing is served until it ends, then the chain catches up) and dropped rounds (never
 * served, so the chain skips them for good).
 */
export class DevnetBeacon {
  readonly info: BeaconInfo;
  private readonly secretKey: Uint8Array;
  private readonly dropped = new Set<number>();
  private paused = false;

  constructor(options: DevnetBeaconOptions & { genesisSeconds: number }) {
    const period = options.periodSeconds ?? 3;
    if (!(period > 0) || !Number.isFinite(period))
      throw new CacheonError("invalid-config", `beacon period ${period} must be a number of seconds > 0`);
    const seed = sha512(new TextEncoder().encode(options.seed ?? defaultDevnetBeaconSeed)).slice(0, 48);
    this.secretKey = bls12_381.utils.randomSecretKey(seed);
    this.info = {
      publicKey: bls12_381.shortSignatures.getPublicKey(this.secretKey).toBytes(true),
      genesisSeconds: options.genesisSeconds,
      periodSeconds: period,
      dst: quicknetDst,
    };
  }

  /** The public key as hex (what a controller is configured with). */
  get publicKeyHex(): string {
    return bytesToHex(this.info.publicKey);
  }

  /** The latest round the beacon has published at `nowMs` (0 before genesis or during an outage). */
  latestRound(nowMs: number): number {
    if (this.paused) return 0;
    return roundAt(this.info, nowMs / 1000);
  }

  /** The pulse of `round`, or undefined when the round was dropped. */
  pulse(round: number): BeaconPulse | undefined {
    if (this.dropped.has(round)) return undefined;
    const hashed = bls12_381.shortSignatures.hash(roundMessage(round), this.info.dst);
    const signature = bls12_381.shortSignatures.sign(hashed, this.secretKey).toBytes(true);
    return { round, randomness: sha256(signature), signature };
  }

  /** Fault injection: stop serving rounds (a beacon outage) until {@link resume}. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  /** Fault injection: these rounds are never served, so the chain never stores them. */
  drop(...rounds: number[]): void {
    for (const round of rounds) this.dropped.add(round);
  }
}
