import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady, mnemonicGenerate } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadHotkey } from "./wallet.ts";

let dir: string;
let phrase: string;
let address: string;

async function hotkeyFile(name: string, content: string): Promise<void> {
  await mkdir(join(dir, name, "hotkeys"), { recursive: true });
  await writeFile(join(dir, name, "hotkeys", "default"), content);
}

beforeAll(async () => {
  await cryptoWaitReady();
  dir = await mkdtemp(join(tmpdir(), "cacheon-wallet-"));
  phrase = mnemonicGenerate();
  address = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(phrase).address;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("loadHotkey", () => {
  it("loads a btcli hotkey file by phrase and checks its ss58Address", async () => {
    await hotkeyFile("ok", JSON.stringify({ secretPhrase: phrase, ss58Address: address, publicKey: "0x" }));
    const pair = await loadHotkey({ wallet: "ok", hotkey: "default", walletPath: dir });
    expect(pair.address).toBe(address);
  });

  it("loads by secretSeed when there is no phrase", async () => {
    const seed = `0x${"11".repeat(32)}`;
    const expected = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(seed).address;
    await hotkeyFile("seed", JSON.stringify({ secretSeed: seed, ss58Address: expected }));
    expect((await loadHotkey({ wallet: "seed", hotkey: "default", walletPath: dir })).address).toBe(expected);
  });

  // Contents are built lazily: the phrase exists only once beforeAll ran.
  const bad: [string, () => string, RegExp][] = [
    [
      "a mismatched address",
      () =>
        JSON.stringify({
          secretPhrase: phrase,
          ss58Address: "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        }),
      /derives .* corrupt or edited/,
    ],
    ["an encrypted file", () => "$NACL...", /is encrypted/],
    ["a file that is not JSON", () => "not json", /is not JSON/],
    ["no secret", () => JSON.stringify({ ss58Address: address }), /neither "secretPhrase" nor/],
    ["no address", () => JSON.stringify({ secretPhrase: phrase }), /no "ss58Address"/],
    [
      "an invalid phrase",
      () => JSON.stringify({ secretPhrase: "not a real mnemonic at all", ss58Address: address }),
      /not valid|corrupt or edited/,
    ],
  ];
  for (const [name, content, expected] of bad) {
    it(`refuses ${name}`, async () => {
      const wallet = name.replace(/\W+/g, "-");
      await hotkeyFile(wallet, content());
      await expect(loadHotkey({ wallet, hotkey: "default", walletPath: dir })).rejects.toThrow(expected);
    });
  }

  it("refuses a missing file and names that could escape the wallet folder", async () => {
    await expect(loadHotkey({ wallet: "absent", hotkey: "default", walletPath: dir })).rejects.toThrow(
      /ENOENT.*btcli wallet new_hotkey/,
    );
    await expect(loadHotkey({ wallet: "..", hotkey: "default", walletPath: dir })).rejects.toThrow(
      /wallet name ".." is not valid/,
    );
    await expect(loadHotkey({ wallet: "ok", hotkey: "../x", walletPath: dir })).rejects.toThrow(
      /hotkey name/,
    );
  });
});
