import { stat } from "node:fs/promises";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { hotkeyPath, loadHotkey } from "../chain/wallet.ts";
import { type DoctorCheck, fail, ok, warn } from "./doctor-check.ts";

/** The wallet settings the check reads (ControllerSettings.wallet). */
export interface WalletSettings {
  name: string;
  hotkey: string;
  path: string;
  devUri: string;
}

/**
 * Checks the validator's hotkey: the file exists, is readable and unencrypted, its secret derives
 * the ss58 address it names, and nobody else can read it. Returns the address for the chain
 * checks (registered, permit).
 */
export async function checkWallet(wallet: WalletSettings): Promise<{ check: DoctorCheck; address?: string }> {
  const title = "validator hotkey";
  if (wallet.devUri) {
    await cryptoWaitReady();
    const address = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(wallet.devUri).address;
    return {
      address,
      check: warn(
        "wallet",
        title,
        `a dev key (wallet.devUri) signs: ${address}`,
        "dev keys are public: use them on a local chain only; for finney unset wallet.devUri and set wallet.name/wallet.hotkey",
      ),
    };
  }
  const options = { wallet: wallet.name, hotkey: wallet.hotkey, walletPath: wallet.path || undefined };
  let path: string;
  try {
    path = hotkeyPath(options);
  } catch (error) {
    return { check: fail("wallet", title, (error as Error).message, "fix wallet.name / wallet.hotkey") };
  }
  let address: string;
  try {
    address = (await loadHotkey(options)).address;
  } catch (error) {
    return {
      check: fail(
        "wallet",
        title,
        (error as Error).message,
        `the controller signs weights with ${path}: create or restore it (btcli), or point wallet.path/wallet.name/wallet.hotkey at it`,
      ),
    };
  }
  const mode = (await stat(path)).mode & 0o777;
  if (mode & 0o077)
    return {
      address,
      check: warn(
        "wallet",
        title,
        `${address} from ${path}, readable by others (mode ${mode.toString(8).padStart(3, "0")})`,
        `chmod 600 ${path}: the file holds the hotkey's secret`,
      ),
    };
  return {
    address,
    check: ok("wallet", title, `${address} from ${path} (the secret derives the address it names)`),
  };
}
