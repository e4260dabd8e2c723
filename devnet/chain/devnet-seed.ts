import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady, decodeAddress, encodeAddress } from "@polkadot/util-crypto";
import { parse as parseYaml } from "yaml";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** One neuron of a seeded subnet; its uid is its position in the list. */
export interface SeedNeuron {
  /** SS58 address, or a dev URI such as "//Alice" (sr25519). */
  hotkey: string;
  /** Whether it holds a validator permit (may set weights on others). @default false */
  validatorPermit?: boolean;
  /** Its Emission entry (rao), which the devnet uses as the pruning score: the lowest is deregistered first. @default 0 */
  emission?: number;
}

/** One seeded subnet and its hyperparameters (names as in subtensor's storage). */
export interface SeedSubnet {
  netuid: number;
  /** Blocks per epoch. @default 360 */
  tempo?: number;
  /** Minimum version key set_weights accepts. @default 0 */
  weightsVersionKey?: number;
  /** Blocks between two set_weights of one uid. @default 100 */
  weightsSetRateLimit?: number;
  /** set_weights refused; weights go through commit_weights/reveal_weights. @default false */
  commitRevealWeightsEnabled?: boolean;
  /** Epochs between a commit and its reveal window. @default 1 */
  revealPeriodEpochs?: number;
  /** Fewest weights a validator must set (capped at the subnet's size). @default 1 */
  minAllowedWeights?: number;
  /** Largest normalised weight one uid may get, of 65535. @default 65535 */
  maxWeightsLimit?: number;
  /** Uids the subnet holds; a registration on a full subnet replaces the neuron to prune. @default 256 */
  maxAllowedUids?: number;
  /** Blocks after registration during which a neuron is pruned only if every neuron is immune. @default 4096 */
  immunityPeriod?: number;
  /** Rao burned_register takes from the coldkey. @default 100000000 (0.1 TAO) */
  burn?: number;
  /** Whether burned_register is open. @default true */
  registrationAllowed?: boolean;
  /** Registrations per block. @default 1 */
  maxRegistrationsPerBlock?: number;
  /** Neurons by uid. */
  neurons: SeedNeuron[];
}

/** Everything the devnet starts from. */
export interface DevnetSeed {
  /** Reported by system_chain. @default "Cacheon Devnet" */
  chainName?: string;
  subnets: SeedSubnet[];
  /** Free balance (rao) given to every neuron's hotkey. @default 1e12 (1000 TAO) */
  balance?: number;
  /** Other funded accounts (coldkeys, fee payers): SS58 or dev URI -> free balance (rao). */
  accounts?: Record<string, number>;
}

/** The default chain: netuid 1 whose neurons are the sr25519 dev accounts, //Alice the only validator. */
export function defaultSeed(): DevnetSeed {
  return {
    chainName: "Cacheon Devnet",
    subnets: [
      {
        netuid: 1,
        tempo: 360,
        weightsVersionKey: 0,
        weightsSetRateLimit: 100,
        commitRevealWeightsEnabled: false,
        neurons: [
          { hotkey: "//Alice", validatorPermit: true },
          { hotkey: "//Bob" },
          { hotkey: "//Charlie" },
          { hotkey: "//Dave" },
          { hotkey: "//Eve" },
          { hotkey: "//Ferdie" },
        ],
      },
    ],
  };
}

const subnetKeys = new Set([
  "netuid",
  "tempo",
  "weightsVersionKey",
  "weightsSetRateLimit",
  "commitRevealWeightsEnabled",
  "revealPeriodEpochs",
  "minAllowedWeights",
  "maxWeightsLimit",
  "maxAllowedUids",
  "immunityPeriod",
  "burn",
  "registrationAllowed",
  "maxRegistrationsPerBlock",
  "neurons",
]);

/**
 * Parses a seed file (YAML or JSON) and checks every field, reporting all problems at once.
 * Throws CacheonError("invalid-config").
 */
export function parseSeed(text: string, source = "seed"): DevnetSeed {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new CacheonError("invalid-config", `${source}: not valid YAML/JSON: ${(error as Error).message}`);
  }
  const problems = validateSeed(raw);
  if (problems.length > 0) {
    throw new CacheonError(
      "invalid-config",
      `${source} is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
  return raw as DevnetSeed;
}

function validateSeed(raw: unknown): string[] {
  const problems: string[] = [];
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return ["the seed must be an object"];
  const seed = raw as Record<string, unknown>;
  for (const key of Object.keys(seed)) {
    if (!["chainName", "subnets", "balance", "accounts"].includes(key))
      problems.push(`unknown field "${key}"`);
  }
  if (seed.chainName !== undefined && typeof seed.chainName !== "string")
    problems.push("chainName must be a string");
  if (seed.balance !== undefined && !isUint(seed.balance, Number.MAX_SAFE_INTEGER))
    problems.push("balance must be a non-negative integer (rao)");
  if (seed.accounts !== undefined) {
    if (typeof seed.accounts !== "object" || seed.accounts === null || Array.isArray(seed.accounts))
      problems.push("accounts must map an SS58 address or dev URI to a balance in rao");
    else
      for (const [account, amount] of Object.entries(seed.accounts)) {
        if (!isHotkey(account)) problems.push(`accounts: "${account}" is not an SS58 address or a dev URI`);
        if (!isUint(amount, Number.MAX_SAFE_INTEGER))
          problems.push(`accounts.${account} must be a non-negative integer (rao)`);
      }
  }
  if (!Array.isArray(seed.subnets) || seed.subnets.length === 0) {
    problems.push("subnets must be a non-empty list");
    return problems;
  }
  const netuids = new Set<number>();
  seed.subnets.forEach((value, i) => {
    const at = `subnets[${i}]`;
    if (typeof value !== "object" || value === null) {
      problems.push(`${at} must be an object`);
      return;
    }
    const subnet = value as Record<string, unknown>;
    for (const key of Object.keys(subnet))
      if (!subnetKeys.has(key)) problems.push(`${at}: unknown field "${key}"`);
    if (!isUint(subnet.netuid, 65535) || subnet.netuid === 0)
      problems.push(`${at}.netuid must be an integer 1-65535 (0 is the root network)`);
    else if (netuids.has(subnet.netuid as number)) problems.push(`${at}.netuid ${subnet.netuid} is repeated`);
    else netuids.add(subnet.netuid as number);
    for (const [key, max] of [
      ["tempo", 65535],
      ["weightsVersionKey", Number.MAX_SAFE_INTEGER],
      ["weightsSetRateLimit", Number.MAX_SAFE_INTEGER],
      ["revealPeriodEpochs", 1000],
      ["minAllowedWeights", 65535],
      ["maxWeightsLimit", 65535],
      ["maxAllowedUids", 65535],
      ["immunityPeriod", 65535],
      ["burn", Number.MAX_SAFE_INTEGER],
      ["maxRegistrationsPerBlock", 65535],
    ] as const) {
      if (subnet[key] !== undefined && !isUint(subnet[key], max))
        problems.push(`${at}.${key} must be an integer 0-${max}`);
    }
    if (subnet.tempo === 0) problems.push(`${at}.tempo must be at least 1`);
    for (const key of ["commitRevealWeightsEnabled", "registrationAllowed"] as const)
      if (subnet[key] !== undefined && typeof subnet[key] !== "boolean")
        problems.push(`${at}.${key} must be true or false`);
    if (!Array.isArray(subnet.neurons)) {
      problems.push(`${at}.neurons must be a list`);
      return;
    }
    if (subnet.neurons.length > 4096) problems.push(`${at}.neurons has more than 4096 entries`);
    if (typeof subnet.maxAllowedUids === "number" && subnet.neurons.length > subnet.maxAllowedUids)
      problems.push(
        `${at} seeds ${subnet.neurons.length} neurons but maxAllowedUids is ${subnet.maxAllowedUids}`,
      );
    const seen = new Set<string>();
    subnet.neurons.forEach((n, uid) => {
      const nat = `${at}.neurons[${uid}]`;
      if (typeof n !== "object" || n === null) {
        problems.push(`${nat} must be an object`);
        return;
      }
      const neuron = n as Record<string, unknown>;
      for (const key of Object.keys(neuron))
        if (!["hotkey", "validatorPermit", "emission"].includes(key))
          problems.push(`${nat}: unknown field "${key}"`);
      if (typeof neuron.hotkey !== "string" || !isHotkey(neuron.hotkey))
        problems.push(`${nat}.hotkey must be an SS58 address or a dev URI such as "//Alice"`);
      else if (seen.has(neuron.hotkey)) problems.push(`${nat}.hotkey ${neuron.hotkey} is registered twice`);
      else seen.add(neuron.hotkey);
      if (neuron.validatorPermit !== undefined && typeof neuron.validatorPermit !== "boolean")
        problems.push(`${nat}.validatorPermit must be true or false`);
      if (neuron.emission !== undefined && !isUint(neuron.emission, Number.MAX_SAFE_INTEGER))
        problems.push(`${nat}.emission must be a non-negative integer (rao)`);
    });
  });
  return problems;
}

function isUint(value: unknown, max: number): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max;
}

function isHotkey(text: string): boolean {
  if (/^\/\/[A-Za-z0-9/]+$/.test(text)) return true;
  try {
    decodeAddress(text);
    return true;
  } catch {
    return false;
  }
}

/** Resolves a seed hotkey (dev URI or SS58) to its SS58 address (prefix 42). */
export async function resolveHotkey(hotkey: string): Promise<string> {
  if (!hotkey.startsWith("//")) return encodeAddress(decodeAddress(hotkey), 42);
  await cryptoWaitReady();
  return new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(hotkey).address;
}
