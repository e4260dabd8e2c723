import { blake2AsHex, decodeAddress, encodeAddress } from "@polkadot/util-crypto";

// The remark that says what a submission fee pays for, written by the payer in the same extrinsic
// as the transfer (utility.batch_all) or as its very next transaction:
//
//   cacheon-fee:1:<netuid>:<hotkey SS58>:sha256:<64 hex>      the image digest, in the clear
//   cacheon-fee:1:<netuid>:<hotkey SS58>:sealed:<64 hex>      blake2_256("<hotkey>|sha256:<hex>")
//
// The sealed form is for timelocked commitments: naming the digest in the clear before the reveal
// would hand it to copiers; its hash names it without showing it, and is checked after the reveal.

/** What a fee remark names. */
export interface FeeRemark {
  netuid: number;
  /** SS58 (prefix 42). */
  hotkey: string;
  /** "sha256:<hex>" in the clear, or undefined for the sealed form. */
  digest: string | undefined;
  /** blake2_256 of "<hotkey>|<digest>" (0x-hex), for either form. */
  sealed: string;
}

const prefix = "cacheon-fee:1:";
const pattern = /^cacheon-fee:1:(\d{1,5}):([1-9A-HJ-NP-Za-km-z]{40,60}):(sha256|sealed):([0-9a-f]{64})$/;

/** The sealed name of a digest: blake2_256("<hotkey>|<digest>"). */
export function sealDigest(hotkey: string, digest: string): string {
  return blake2AsHex(`${hotkey}|${digest}`);
}

/** The remark paying for `digest` committed by `hotkey` on `netuid`; sealed hides the digest. */
export function formatFeeRemark(netuid: number, hotkey: string, digest: string, sealed = false): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`"${digest}" is not a sha256:<64 hex> digest`);
  const tail = sealed ? `sealed:${sealDigest(hotkey, digest).slice(2)}` : digest;
  return `${prefix}${netuid}:${hotkey}:${tail}`;
}

/** Parses a remark (UTF-8 text); undefined for anything that is not a well-formed fee remark. */
export function parseFeeRemark(text: string): FeeRemark | undefined {
  if (!text.startsWith(prefix)) return undefined;
  const m = pattern.exec(text);
  if (!m) return undefined;
  const netuid = Number(m[1]);
  if (netuid > 65535) return undefined;
  let hotkey: string;
  try {
    hotkey = encodeAddress(decodeAddress(m[2] as string), 42);
  } catch {
    return undefined;
  }
  if (hotkey !== m[2]) return undefined;
  if (m[3] === "sha256") {
    const digest = `sha256:${m[4]}`;
    return { netuid, hotkey, digest, sealed: sealDigest(hotkey, digest) };
  }
  return { netuid, hotkey, digest: undefined, sealed: `0x${m[4]}` };
}

/** Whether a remark pays for `digest` committed by `hotkey` on `netuid`. */
export function remarkNames(remark: FeeRemark, netuid: number, hotkey: string, digest: string): boolean {
  return remark.netuid === netuid && remark.hotkey === hotkey && remark.sealed === sealDigest(hotkey, digest);
}
