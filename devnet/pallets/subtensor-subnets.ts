import type { DevnetPallet } from "./pallet.ts";

/** Subnets and their hyperparameters at genesis (SubtensorModule storage; no calls yet). */
export const subtensorSubnetsPallet: DevnetPallet = {
  section: "subtensorModule",
  calls: {},
  genesis(storage, { seed }) {
    storage.write("subtensorModule", "totalNetworks", [], seed.subnets.length);
    for (const subnet of seed.subnets) {
      const items: [string, unknown][] = [
        ["networksAdded", true],
        ["tempo", subnet.tempo ?? 360],
        ["weightsVersionKey", subnet.weightsVersionKey ?? 0],
        ["weightsSetRateLimit", subnet.weightsSetRateLimit ?? 100],
        ["commitRevealWeightsEnabled", subnet.commitRevealWeightsEnabled ?? false],
        ["revealPeriodEpochs", subnet.revealPeriodEpochs ?? 1],
        ["minAllowedWeights", subnet.minAllowedWeights ?? 1],
        ["maxWeightsLimit", subnet.maxWeightsLimit ?? 65535],
      ];
      for (const [item, value] of items) storage.write("subtensorModule", item, [subnet.netuid], value);
    }
  },
};
