import { type ControllerSettings, resolveControllerSettings } from "../cli/controller-settings.ts";
import { checkBaselineImage } from "./check-baseline-image.ts";
import { checkChain } from "./check-chain.ts";
import { checkProviders } from "./check-providers.ts";
import { checkPublishTarget } from "./check-publish-target.ts";
import { checkStore } from "./check-store.ts";
import { checkTls } from "./check-tls.ts";
import { checkWallet } from "./check-wallet.ts";
import { type DoctorCheck, fail, ok, skip } from "./doctor-check.ts";

/** Groups of checks, in the order they run (the ids `--only` takes). */
export const doctorGroups = [
  "config",
  "wallet",
  "chain",
  "store",
  "publish",
  "providers",
  "tls",
  "baseline-image",
] as const;

/** A group of checks. */
export type DoctorGroup = (typeof doctorGroups)[number];

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  /** The configuration as loadConfig returned it, or the error it threw. */
  config: { values: Record<string, unknown> } | { error: Error };
  /** Only these groups ("config" always runs). @default all */
  only?: readonly DoctorGroup[];
  env?: NodeJS.ProcessEnv;
  /** @default Date.now */
  nowMs?: number;
  /** Told as each group starts (progress on a terminal). */
  onGroup?: (group: DoctorGroup) => void;
}

/**
 * Everything `serve` depends on, checked the way `serve` uses it, without changing anything but
 * a probe object in the publish target: the configuration (the round secret included), the hotkey, the chain (endpoints,
 * subnet, permit, commit-reveal), the store and its lock, the publish target, where jobs run, the
 * control plane's TLS and the baseline image. Each finding says what to fix.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const wanted = (g: DoctorGroup) => g === "config" || !options.only || options.only.includes(g);
  options.onGroup?.("config");
  if ("error" in options.config) {
    return [
      fail(
        "config",
        "configuration",
        "it does not load",
        "fix every problem listed (`cacheon-controller config --reference` lists the settings)",
        options.config.error.message
          .split("\n")
          .map((l) => l.replace(/^\s*- /, ""))
          .slice(1),
      ),
      ...doctorGroups.slice(1).map((g) => skip(g, g, "the configuration does not load")),
    ];
  }
  const values = options.config.values;
  const checks: DoctorCheck[] = [];
  let settings: ControllerSettings;
  try {
    settings = resolveControllerSettings(values, { forServe: true });
    checks.push(ok("config", "configuration", "loads, and has what `serve` needs"));
  } catch (error) {
    checks.push(
      fail(
        "config",
        "configuration",
        "`serve` would refuse it",
        "each line above names a setting to fix",
        (error as Error).message
          .split("\n")
          .slice(1)
          .map((l) => l.replace(/^\s*- /, "")),
      ),
    );
    try {
      settings = resolveControllerSettings(values);
    } catch {
      return [
        ...checks,
        ...doctorGroups.slice(1).map((g) => skip(g, g, "the configuration does not resolve")),
      ];
    }
  }

  let hotkey: string | undefined;
  if (wanted("wallet")) {
    options.onGroup?.("wallet");
    const wallet = await checkWallet(settings.wallet);
    hotkey = wallet.address;
    checks.push(wallet.check);
  }
  if (wanted("chain")) {
    options.onGroup?.("chain");
    checks.push(
      ...(await checkChain({
        endpoints: settings.chain.endpoints,
        netuid: settings.chain.netuid,
        hotkey,
        drand: settings.chain.drand,
        commitReveal: settings.chain.commitReveal,
        ...(options.nowMs !== undefined ? { nowMs: options.nowMs } : {}),
      })),
    );
  }
  if (wanted("store")) {
    options.onGroup?.("store");
    checks.push(
      ...checkStore(settings.storePath, options.nowMs !== undefined ? { nowMs: options.nowMs } : {}),
    );
  }
  if (wanted("publish")) {
    options.onGroup?.("publish");
    checks.push(
      ...(await checkPublishTarget(settings.publish, settings.artefacts, {
        agentsMode: settings.agents.mode,
      })),
    );
  }
  if (wanted("providers")) {
    options.onGroup?.("providers");
    checks.push(...(await checkProviders(settings, options.env ? { env: options.env } : {})));
  }
  if (wanted("tls")) {
    options.onGroup?.("tls");
    checks.push(await checkTls({ ...settings.controlPlane, used: settings.agents.mode === "remote" }));
  }
  if (wanted("baseline-image")) {
    options.onGroup?.("baseline-image");
    checks.push(await checkBaselineImage(settings.rounds.baselineImage));
  }
  return checks;
}
