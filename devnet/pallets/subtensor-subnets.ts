import type { DevnetPallet } from "./pallet.ts";

/** Subnets and their hyperparameters at genesis (SubtensorModule storage; no calls yet). */
export const subtensorSubnetsPallet: DevnetPallet = {
  section: "subtensorModule",
  calls: {},
  genesis(storage, { seed }) {
    storage.write("subtensorModule", "totalNetworks", [], seed.subnets.length);
    for (const subnet of seed.subnets) {
      const { netuid } = subnet;
      storage.write("subtensorModule", "networksAdded", [netuid], true);
      storage.write("subtensorModule", "tempo", [netuid], subnet.tempo ?? 360);
      storage.write("subtensorModule", "weightsVersionKey", [netuid], subnet.weightsVersionKey ?? 0);
      storage.write("subtensorModule", "weightsSetRateLimit", [netuid], subnet.weightsSetRateLimit ?? 100);
      storage.write(
        "subtensorModule",
        "commitRevealWeightsEnabled",
        [netuid],
        subnet.commitRevealWeightsEnabled ?? false,
      );
      storage.write("subtensorModule", "revealPeriodEpochs", [netuid], subnet.revealPeriodEpochs ?? 1);
      storage.write("subtensorModule", "minAllowedWeights", [netuid], subnet.minAllowedWeights ?? 1);
      storage.write("subtensorModule", "maxWeightsLimit", [netuid], subnet.maxWeightsLimit ?? 65535);
    }
  },
};
