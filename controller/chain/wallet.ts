import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** Options of {@link loadHotkey}. */
export interface LoadHotkeyOptions {
  /** Wallet name (folder under the wallet path). */
  wallet: string;
  /** Hotkey name (file under `hotkeys/`). */
  hotkey: string;
  /** Folder holding the wallets. @default ~/.bittensor/wallets */
  walletPath?: string;
}

const namePattern = /^[A-Za-z0-9_.-]+$/;

/** Path of a Bittensor hotkey file: `WALLET_PATH/NAME/hotkeys/HOTKEY`. */
export function hotkeyPath(options: LoadHotkeyOptions): string {
  for (const [what, name] of [
    ["wallet", options.wallet],
    ["hotkey", options.hotkey],
  ] as const) {
    if (!namePattern.test(name) || name === "." || name === "..")
      throw new CacheonError(
        "invalid-argument",
        `the ${what} name "${name}" is not valid: use letters, digits, ".", "_" and "-"`,
      );
  }
  const base = options.walletPath ?? join(homedir(), ".bittensor", "wallets");
  return join(base, options.wallet, "hotkeys", options.hotkey);
}

/**
 * Loads a Bittensor hotkey (unencrypted JSON with `secretPhrase` or `secretSeed`, and
 * `ss58Address`) as an sr25519 pair, and checks the derived address equals `ss58Address`.
 */
export async function loadHotkey(options: LoadHotkeyOptions): Promise<KeyringPair> {
  const path = hotkeyPath(options);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CacheonError(
      "not-found",
      `cannot read the hotkey file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. Create it with \`btcli wallet new_hotkey --wallet.name ${options.wallet} --wallet.hotkey ${options.hotkey}\` or pass --wallet-path`,
    );
  }
  if (text.startsWith("$NACL") || text.startsWith("$BT") || text.startsWith("gAAAAA"))
    throw new CacheonError(
      "invalid-config",
      `the hotkey file ${path} is encrypted; hotkeys are read unencrypted (btcli's default). Regenerate it without --use-password`,
    );
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CacheonError("invalid-config", `the hotkey file ${path} is not JSON`);
  }
  if (typeof data !== "object" || data === null)
    throw new CacheonError("invalid-config", `the hotkey file ${path} is not a JSON object`);
  const secret =
    typeof data.secretPhrase === "string" && data.secretPhrase.trim() !== ""
      ? data.secretPhrase.trim()
      : typeof data.secretSeed === "string" && /^0x[0-9a-fA-F]{64}$/.test(data.secretSeed)
        ? data.secretSeed
        : undefined;
  if (!secret)
    throw new CacheonError(
      "invalid-config",
      `the hotkey file ${path} has neither "secretPhrase" nor a 32-byte hex "secretSeed"`,
    );
  if (typeof data.ss58Address !== "string")
    throw new CacheonError(
      "invalid-config",
      `the hotkey file ${path} has no "ss58Address" to check the key against`,
    );
  await cryptoWaitReady();
  let pair: KeyringPair;
  try {
    pair = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(secret);
  } catch (error) {
    throw new CacheonError(
      "invalid-config",
      `the secret in ${path} is not valid: ${(error as Error).message}`,
    );
  }
  if (pair.address !== data.ss58Address)
    throw new CacheonError(
      "invalid-config",
      `the hotkey file ${path} says ss58Address ${data.ss58Address} but its secret derives ${pair.address}: the file is corrupt or edited`,
    );
  return pair;
}
