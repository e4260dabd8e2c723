import type { ChainStorage } from "../chain/chain-storage.ts";
import { balancesPallet } from "./balances-pallet.ts";
import { commitmentsPallet } from "./commitments-pallet.ts";
import { commitmentsRevealPallet } from "./commitments-reveal.ts";
import { drandPallet } from "./drand-pallet.ts";
import type {
  BlockHookContext,
  CallHandler,
  DevnetPallet,
  DispatchContext,
  DispatchOutcome,
  ResolvedSeed,
  RuntimeCall,
  RuntimeEvent,
} from "./pallet.ts";
import { subtensorEpochPallet } from "./subtensor-epoch.ts";
import { subtensorRegistrationPallet } from "./subtensor-registration.ts";
import { subtensorSubnetsPallet } from "./subtensor-subnets.ts";
import { subtensorTimelockedWeightsPallet } from "./subtensor-timelocked-weights.ts";
import { subtensorWeightsPallet } from "./subtensor-weights.ts";
import { systemPallet } from "./system-pallet.ts";
import { batchCalls, utilityPallet } from "./utility-pallet.ts";

/**
 * The devnet's runtime: its pallets in the order their genesis and hooks run (as construct_runtime
 * orders them). Add a pallet here and nowhere else.
 */
export const runtimePallets: readonly DevnetPallet[] = [
  systemPallet,
  balancesPallet,
  subtensorSubnetsPallet,
  subtensorRegistrationPallet,
  subtensorWeightsPallet,
  // block_step: timelocked weights are revealed (seeing the look-ahead epoch) before the epoch fires.
  subtensorTimelockedWeightsPallet,
  subtensorEpochPallet,
  commitmentsPallet,
  commitmentsRevealPallet,
  drandPallet,
  utilityPallet,
];

/** The devnet's calls, applied by one runtime. */
export class DevnetRuntime {
  private readonly pallets: readonly DevnetPallet[];
  private readonly handlers = new Map<string, CallHandler>();

  constructor(pallets: readonly DevnetPallet[] = runtimePallets) {
    this.pallets = pallets;
    for (const pallet of pallets)
      for (const [method, handler] of Object.entries(pallet.calls)) {
        const name = `${pallet.section}.${method}`;
        if (this.handlers.has(name)) throw new Error(`two devnet pallets define the call ${name}`);
        this.handlers.set(name, handler);
      }
  }

  /** The calls the devnet applies, as "section.method" (camelCase, as @polkadot/api names them). */
  get supportedCalls(): string[] {
    return [...this.handlers.keys()];
  }

  /** Whether the runtime applies the call (and, for a batch, every call inside it). */
  supports(call: RuntimeCall): boolean {
    if (!this.handlers.has(`${call.section}.${call.method}`)) return false;
    if (call.section === "utility") return batchCalls(call.args[0]).every((inner) => this.supports(inner));
    return true;
  }

  /** Writes every pallet's genesis state. */
  genesis(storage: ChainStorage, seed: ResolvedSeed): void {
    for (const pallet of this.pallets) pallet.genesis?.(storage, seed);
  }

  /** Dispatches one supported call; the caller discards the storage writes of a failed one. */
  dispatch(context: Omit<DispatchContext, "dispatch">, call: RuntimeCall): DispatchOutcome {
    const handler = this.handlers.get(`${call.section}.${call.method}`);
    if (!handler) return { ok: false, error: { section: "system", name: "CallFiltered" } };
    const full: DispatchContext = { ...context, dispatch: (inner) => this.dispatch(context, inner) };
    return handler(full, call.args);
  }

  onInitialize(context: BlockHookContext): RuntimeEvent[] {
    return this.pallets.flatMap((p) => p.onInitialize?.(context) ?? []);
  }

  onFinalize(context: BlockHookContext): RuntimeEvent[] {
    return this.pallets.flatMap((p) => p.onFinalize?.(context) ?? []);
  }
}
