import type { ChainStorage } from "../chain/chain-storage.ts";
import { burnIssuance, canWithdraw, withdraw } from "./balance-ledger.ts";
import { big, bool, num } from "./codec-values.ts";
import {
  type DevnetPallet,
  type DispatchContext,
  type DispatchOutcome,
  fail,
  type RuntimeEvent,
} from "./pallet.ts";

// SubtensorModule registration as subtensor's do_burned_registration runs it (checks in its order,
// pallets/subtensor/src/subnets/registration.rs), and the neuron bookkeeping of append_neuron /
// replace_neuron (subnets/uids.rs): a full subnet gives the new hotkey the uid of the neuron with
// the lowest pruning score outside its immunity period (ties: earliest registration, then lowest
// uid; when every neuron is immune, the same rule among the immune). The devnet has no Yuma
// epochs, so the pruning score is the neuron's Emission entry (0 unless seeded), which lets a seed
// decide who is pruned. Not modelled: the registration interval limit, PoW registration, stake.

/** Neurons: uids, keys, permits, registration blocks; burned_register; deregistration by pruning. */
export const subtensorRegistrationPallet: DevnetPallet = {
  section: "subtensorModule",
  calls: {
    burnedRegister: (context, args) => burnedRegister(context, num(args[0]), args[1]?.toHex() ?? ""),
  },
  genesis(storage, { seed, hotkeys: bySubnet }) {
    seed.subnets.forEach((subnet, i) => {
      const { netuid } = subnet;
      const hotkeys = bySubnet[i] ?? [];
      const items: [string, unknown][] = [
        ["subnetworkN", hotkeys.length],
        ["maxAllowedUids", subnet.maxAllowedUids ?? 256],
        ["immunityPeriod", subnet.immunityPeriod ?? 4096],
        ["burn", subnet.burn ?? 100_000_000],
        ["networkRegistrationAllowed", subnet.registrationAllowed ?? true],
        ["maxRegistrationsPerBlock", subnet.maxRegistrationsPerBlock ?? 1],
        ["validatorPermit", subnet.neurons.map((n) => n.validatorPermit === true)],
        ["emission", subnet.neurons.map((n) => n.emission ?? 0)],
        ["active", hotkeys.map(() => true)],
        ["lastUpdate", hotkeys.map(() => 0)],
      ];
      for (const [item, value] of items) storage.write("subtensorModule", item, [netuid], value);
      hotkeys.forEach((hotkey, uid) => {
        writeNeuron(storage, netuid, uid, hotkey, 0);
      });
    });
  },
  onInitialize({ storage }) {
    // subtensor clears the per-block registration counters at the start of every block.
    const prefix = storage.meta.decorated.query.subtensorModule?.registrationsThisBlock?.keyPrefix();
    if (prefix)
      for (const key of storage.keysPaged(`0x${Buffer.from(prefix).toString("hex")}`, 65536))
        storage.entries.delete(key);
    return [];
  },
};

/** subtensor's do_burned_registration, check by check; the signer is the coldkey and pays the burn. */
function burnedRegister(
  { storage, who: coldkey, block }: DispatchContext,
  netuid: number,
  hotkey: string,
): DispatchOutcome {
  if (netuid === 0) return fail("subtensorModule", "RegistrationNotPermittedOnRootSubnet");
  if (!bool(storage.read("subtensorModule", "networksAdded", netuid)))
    return fail("subtensorModule", "SubnetNotExists");
  if (!bool(storage.read("subtensorModule", "networkRegistrationAllowed", netuid)))
    return fail("subtensorModule", "SubNetRegistrationDisabled");
  const thisBlock = num(storage.read("subtensorModule", "registrationsThisBlock", netuid));
  if (thisBlock >= num(storage.read("subtensorModule", "maxRegistrationsPerBlock", netuid)))
    return fail("subtensorModule", "TooManyRegistrationsThisBlock");
  if (storage.read("subtensorModule", "uids", netuid, hotkey) !== undefined)
    return fail("subtensorModule", "HotKeyAlreadyRegisteredInSubNet");
  const cost = big(storage.read("subtensorModule", "burn", netuid));
  if (!canWithdraw(storage, coldkey, cost, false).ok)
    return fail("subtensorModule", "NotEnoughBalanceToStake");
  const paid = withdraw(storage, coldkey, cost, false);
  if (!paid.ok) return fail("subtensorModule", "NotEnoughBalanceToStake");
  burnIssuance(storage, cost);
  const owner = storage.read("subtensorModule", "owner", hotkey)?.toHex();
  const unowned = owner === undefined || /^0x0+$/.test(owner);
  if (unowned) storage.write("subtensorModule", "owner", [hotkey], coldkey);
  else if (owner !== coldkey) return fail("subtensorModule", "NonAssociatedColdKey");
  if (num(storage.read("subtensorModule", "maxAllowedUids", netuid)) === 0)
    return fail("subtensorModule", "NoNeuronIdAvailable");
  const uid = seatNeuron(storage, netuid, hotkey, block);
  storage.write("subtensorModule", "registrationsThisBlock", [netuid], thisBlock + 1);
  return { ok: true, events: [...paid.events, registered(netuid, uid, hotkey)] };
}

/** The NeuronRegistered event. */
export function registered(netuid: number, uid: number, hotkey: string): RuntimeEvent {
  return { section: "subtensorModule", method: "NeuronRegistered", data: [netuid, uid, hotkey] };
}

/**
 * Gives `hotkey` a uid: appended while the subnet has room, else the uid of the neuron to prune.
 * Returns the uid.
 */
export function seatNeuron(storage: ChainStorage, netuid: number, hotkey: string, block: number): number {
  const n = num(storage.read("subtensorModule", "subnetworkN", netuid));
  if (n < num(storage.read("subtensorModule", "maxAllowedUids", netuid))) {
    storage.write("subtensorModule", "subnetworkN", [netuid], n + 1);
    for (const [item, value] of [
      ["active", true],
      ["lastUpdate", block],
      ["validatorPermit", false],
      ["emission", 0],
    ] as const)
      storage.write("subtensorModule", item, [netuid], [...vector(storage, item, netuid), value]);
    writeNeuron(storage, netuid, n, hotkey, block);
    return n;
  }
  const uid = neuronToPrune(storage, netuid, block);
  replaceNeuron(storage, netuid, uid, hotkey, block);
  return uid;
}

/**
 * subtensor's replace_neuron: the uid's old hotkey leaves the subnet (Uids, IsNetworkMember
 * removed), the new one takes the uid with a fresh registration block; the uid's weights,
 * permit and emission start over.
 */
export function replaceNeuron(
  storage: ChainStorage,
  netuid: number,
  uid: number,
  hotkey: string,
  block: number,
): void {
  const old = storage.read("subtensorModule", "keys", netuid, uid)?.toHex();
  if (old) {
    storage.remove("subtensorModule", "uids", [netuid, old]);
    storage.remove("subtensorModule", "isNetworkMember", [old, netuid]);
  }
  storage.remove("subtensorModule", "weights", [netuid, uid]);
  setAt(storage, "active", netuid, uid, true);
  setAt(storage, "validatorPermit", netuid, uid, false);
  setAt(storage, "emission", netuid, uid, 0);
  setAt(storage, "lastUpdate", netuid, uid, block);
  writeNeuron(storage, netuid, uid, hotkey, block);
}

function writeNeuron(
  storage: ChainStorage,
  netuid: number,
  uid: number,
  hotkey: string,
  block: number,
): void {
  storage.write("subtensorModule", "keys", [netuid, uid], hotkey);
  storage.write("subtensorModule", "uids", [netuid, hotkey], uid);
  storage.write("subtensorModule", "blockAtRegistration", [netuid, uid], block);
  storage.write("subtensorModule", "isNetworkMember", [hotkey, netuid], true);
}

/** The uid a full subnet gives up: lowest pruning score out of immunity, then earliest, then lowest uid. */
export function neuronToPrune(storage: ChainStorage, netuid: number, block: number): number {
  const n = num(storage.read("subtensorModule", "subnetworkN", netuid));
  const immunity = num(storage.read("subtensorModule", "immunityPeriod", netuid));
  const scores = vector(storage, "emission", netuid).map((v) => BigInt(String(v)));
  const candidates = Array.from({ length: n }, (_, uid) => {
    const registeredAt = num(storage.read("subtensorModule", "blockAtRegistration", netuid, uid));
    return { uid, score: scores[uid] ?? 0n, registeredAt, immune: block - registeredAt < immunity };
  });
  const pool = candidates.some((c) => !c.immune) ? candidates.filter((c) => !c.immune) : candidates;
  pool.sort((a, b) =>
    a.score < b.score ? -1 : a.score > b.score ? 1 : a.registeredAt - b.registeredAt || a.uid - b.uid,
  );
  return pool[0]?.uid ?? 0;
}

type NeuronVector = "active" | "lastUpdate" | "validatorPermit" | "emission";

function vector(storage: ChainStorage, item: NeuronVector, netuid: number): unknown[] {
  return [...((storage.read("subtensorModule", item, netuid)?.toJSON() as unknown[] | undefined) ?? [])];
}

function setAt(storage: ChainStorage, item: NeuronVector, netuid: number, uid: number, value: unknown): void {
  const values = vector(storage, item, netuid);
  while (values.length <= uid) values.push(typeof value === "boolean" ? false : 0);
  values[uid] = value;
  storage.write("subtensorModule", item, [netuid], values);
}
