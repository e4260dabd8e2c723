import { describe, expect, it } from "vitest";
import { verifyBeaconSignature } from "../../shared/timelock/beacon-signature.ts";
import { timelockDecrypt, timelockEncrypt } from "../../shared/timelock/timelock-cipher.ts";
import { DevnetBeacon } from "./devnet-beacon.ts";

describe("DevnetBeacon", () => {
  const beacon = new DevnetBeacon({ genesisSeconds: 1000, periodSeconds: 3 });

  it("signs rounds that verify against its own public key, and opens what was sealed to them", () => {
    const pulse = beacon.pulse(42);
    expect(pulse && verifyBeaconSignature(beacon.info, 42, pulse.signature)).toBe(true);
    expect(pulse && verifyBeaconSignature(beacon.info, 43, pulse.signature)).toBe(false);
    const sealed = timelockEncrypt(new TextEncoder().encode("hi"), 42, beacon.info);
    expect(new TextDecoder().decode(timelockDecrypt(sealed, pulse?.signature ?? new Uint8Array()))).toBe(
      "hi",
    );
  });

  it("the same seed gives the same key; another seed another key", () => {
    expect(new DevnetBeacon({ genesisSeconds: 0 }).publicKeyHex).toBe(beacon.publicKeyHex);
    expect(new DevnetBeacon({ genesisSeconds: 0, seed: "other" }).publicKeyHex).not.toBe(beacon.publicKeyHex);
  });

  it("publishes a round every period from genesis; pauses and drops on request", () => {
    expect(beacon.latestRound(999_000)).toBe(0);
    expect(beacon.latestRound(1_000_000)).toBe(1);
    expect(beacon.latestRound(1_006_000)).toBe(3);
    const faulty = new DevnetBeacon({ genesisSeconds: 1000 });
    faulty.pause();
    expect(faulty.latestRound(1_006_000)).toBe(0);
    faulty.resume();
    faulty.drop(2);
    expect(faulty.pulse(2)).toBeUndefined();
    expect(faulty.pulse(3)?.round).toBe(3);
  });
});
