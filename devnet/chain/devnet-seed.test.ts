import { describe, expect, it } from "vitest";
import { defaultSeed, parseSeed, resolveHotkey } from "./devnet-seed.ts";

describe("devnet seed", () => {
  it("parses YAML and JSON seeds", () => {
    const yaml =
      "subnets:\n  - netuid: 3\n    tempo: 10\n    neurons:\n      - hotkey: //Alice\n        validatorPermit: true\n";
    expect(parseSeed(yaml).subnets[0]).toEqual({
      netuid: 3,
      tempo: 10,
      neurons: [{ hotkey: "//Alice", validatorPermit: true }],
    });
    expect(parseSeed(JSON.stringify(defaultSeed()))).toEqual(defaultSeed());
  });

  it("reports every problem at once", () => {
    const text = JSON.stringify({
      extra: 1,
      subnets: [
        { netuid: 0, tempo: 0, neurons: [{ hotkey: "nope" }, { hotkey: "//Bob", validatorPermit: "yes" }] },
        {
          netuid: 2,
          weightsSetRateLimit: -1,
          neurons: [{ hotkey: "//Bob" }, { hotkey: "//Bob" }],
          colour: "red",
        },
      ],
    });
    let message = "";
    try {
      parseSeed(text, "seed.json");
    } catch (error) {
      message = (error as Error).message;
    }
    for (const part of [
      'unknown field "extra"',
      "subnets[0].netuid must be an integer 1-65535",
      "subnets[0].tempo must be at least 1",
      "subnets[0].neurons[0].hotkey must be an SS58 address",
      "subnets[0].neurons[1].validatorPermit must be true or false",
      "subnets[1].weightsSetRateLimit must be an integer",
      "subnets[1].neurons[1].hotkey //Bob is registered twice",
      'subnets[1]: unknown field "colour"',
    ])
      expect(message).toContain(part);
  });

  it("refuses text that is not YAML and seeds without subnets", () => {
    expect(() => parseSeed("a: [")).toThrow(/not valid YAML/);
    expect(() => parseSeed("subnets: []")).toThrow(/subnets must be a non-empty list/);
    expect(() => parseSeed("- 1")).toThrow(/must be an object/);
  });

  it("resolves dev URIs to the well-known addresses", async () => {
    expect(await resolveHotkey("//Alice")).toBe("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    expect(await resolveHotkey("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty")).toBe(
      "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
    );
  });
});

describe("devnet seed: economy fields", () => {
  it("takes funded accounts, registration hyperparameters and neuron emissions", () => {
    const seed = parseSeed(
      JSON.stringify({
        accounts: { "//Coldkey": 5_000_000_000 },
        subnets: [
          {
            netuid: 1,
            maxAllowedUids: 2,
            immunityPeriod: 10,
            burn: 1,
            registrationAllowed: false,
            maxRegistrationsPerBlock: 3,
            neurons: [{ hotkey: "//Alice", emission: 7 }],
          },
        ],
      }),
    );
    expect(seed.accounts).toEqual({ "//Coldkey": 5_000_000_000 });
    expect(seed.subnets[0]).toMatchObject({ maxAllowedUids: 2, registrationAllowed: false });
  });

  it("refuses bad accounts, more neurons than uids and a negative emission", () => {
    const text = JSON.stringify({
      accounts: { nope: 1, "//Ok": -5 },
      subnets: [
        {
          netuid: 1,
          maxAllowedUids: 1,
          registrationAllowed: "yes",
          neurons: [{ hotkey: "//Alice", emission: -1 }, { hotkey: "//Bob" }],
        },
      ],
    });
    expect(() => parseSeed(text)).toThrow(
      /accounts: "nope" is not an SS58 address[\s\S]*accounts\.\/\/Ok must be a non-negative integer[\s\S]*registrationAllowed must be true or false[\s\S]*seeds 2 neurons but maxAllowedUids is 1[\s\S]*emission must be a non-negative integer/,
    );
  });
});
