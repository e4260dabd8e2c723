import type { DevnetPallet } from "./pallet.ts";

/** Neurons: uids, keys, permits and registration blocks (SubtensorModule storage). */
export const subtensorRegistrationPallet: DevnetPallet = {
  section: "subtensorModule",
  calls: {},
  genesis(storage, { seed, hotkeys: bySubnet }) {
    seed.subnets.forEach((subnet, i) => {
      const { netuid } = subnet;
      const hotkeys = bySubnet[i] ?? [];
      storage.write("subtensorModule", "subnetworkN", [netuid], hotkeys.length);
      storage.write(
        "subtensorModule",
        "validatorPermit",
        [netuid],
        subnet.neurons.map((n) => n.validatorPermit === true),
      );
      storage.write(
        "subtensorModule",
        "active",
        [netuid],
        hotkeys.map(() => true),
      );
      storage.write(
        "subtensorModule",
        "lastUpdate",
        [netuid],
        hotkeys.map(() => 0),
      );
      hotkeys.forEach((hotkey, uid) => {
        storage.write("subtensorModule", "uids", [netuid, hotkey], uid);
        storage.write("subtensorModule", "keys", [netuid, uid], hotkey);
        storage.write("subtensorModule", "blockAtRegistration", [netuid, uid], 0);
      });
    });
  },
};
