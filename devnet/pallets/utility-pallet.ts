import type { Codec } from "@polkadot/types/types";
import { num } from "./codec-values.ts";
import {
  type DevnetPallet,
  type DispatchOutcome,
  fail,
  type RuntimeCall,
  type RuntimeEvent,
} from "./pallet.ts";

// pallet-utility's batch_all: the calls run in order as the same origin, all or nothing (the first
// failure fails the whole extrinsic with that call's error, and the block builder discards every
// write of the batch). Events: each call's events and ItemCompleted, then BatchCompleted.

/** The calls inside a batch argument (Vec<RuntimeCall>). */
export function batchCalls(arg: Codec | undefined): RuntimeCall[] {
  return [...((arg as unknown as RuntimeCall[] | undefined) ?? [])];
}

/** Utility: batch_all. */
export const utilityPallet: DevnetPallet = {
  section: "utility",
  calls: {
    batchAll: (context, args) => {
      const calls = batchCalls(args[0]);
      const limit = num(context.storage.meta.decorated.consts.utility?.batchedCallsLimit);
      if (limit > 0 && calls.length > limit) return fail("utility", "TooManyCalls");
      const events: RuntimeEvent[] = [];
      for (const call of calls) {
        const outcome: DispatchOutcome = context.dispatch(call);
        if (!outcome.ok) return outcome;
        events.push(...outcome.events, { section: "utility", method: "ItemCompleted", data: [] });
      }
      events.push({ section: "utility", method: "BatchCompleted", data: [] });
      return { ok: true, events };
    },
  },
};
