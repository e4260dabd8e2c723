import { describe, expect, it } from "vitest";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type ExtrinsicFate, ExtrinsicInDoubt, type SentExtrinsic } from "../chain/extrinsic-submitter.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import type { NeuronAt } from "./paid-seats.ts";
import { defaultWeightPolicy } from "./weight-policy.ts";
import { setWeightsIfDue, type WeightTarget } from "./weight-setter.ts";

// The weight setter's decisions against an in-memory chain (the public chain cannot run here; the
// devnet tests in controller/weights/weights-on-devnet.test.ts cover the real protocol).

type Mode = "ok" | "refuse" | "doubt";

function chain() {
  const state = {
    block: 1000,
    lastUpdate: 0,
    uids: [] as number[],
    weights: [] as number[],
    calls: 0,
    mode: "ok" as Mode,
    refusal: "",
    neurons: [
      { uid: 0, hotkey: "owner", registeredAt: 0 },
      { uid: 1, hotkey: "bob", registeredAt: 0 },
      { uid: 2, hotkey: "carol", registeredAt: 0 },
    ] as NeuronAt[],
    sent: [] as SentExtrinsic[],
    fate: { state: "pending", reason: "in the pool" } as ExtrinsicFate,
  };
  const target: WeightTarget = {
    finalizedBlock: async () => state.block,
    readNeurons: async () => ({ block: state.block, neurons: state.neurons }),
    readOwnWeights: async () => ({ lastUpdate: state.lastUpdate, uids: state.uids, weights: state.weights }),
    extrinsicFate: async () => state.fate,
    setWeights: async (uids, weights, _signal, _intent, onSigned) => {
      state.calls += 1;
      if (state.mode === "refuse") throw new CacheonError("failed-precondition", state.refusal);
      const sent = {
        hash: `0x${state.calls}`,
        signer: "validator",
        nonce: state.calls,
        birthBlock: state.block,
        validUntil: state.block + 31,
      };
      onSigned?.(sent);
      state.sent.push(sent);
      if (state.mode === "doubt")
        throw new ExtrinsicInDoubt("deadline-exceeded", sent, "Ready", "was not final in time");
      Object.assign(state, { uids, weights, lastUpdate: state.block });
      return { block: state.block, ref: `0xblock${state.block}` };
    },
  };
  return { state, target };
}

function seat(store: ControllerStore, hotkey: string, uid: number, commitBlock = 1) {
  const s = store.submissions.insert({
    hotkey,
    uid,
    raw: "r",
    image: "i",
    digest: `d-${hotkey}`,
    commitBlock,
    seenBlock: commitBlock,
    state: "evaluated",
  });
  return { submissionId: s.id, hotkey, commitBlock, settledSpeed: 1.5 };
}

describe("setWeightsIfDue", () => {
  it("sets 80/20, then only on change or refresh", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    const opts = { store, target, policy: defaultWeightPolicy };
    // No leader yet: the fallback burns to uid 0.
    expect((await setWeightsIfDue(opts)).action).toBe("set");
    expect(state.uids).toEqual([0]);
    store.standings.append(null, { leader: seat(store, "carol", 2), runnerUp: seat(store, "bob", 1) });
    state.block += 50;
    expect(await setWeightsIfDue(opts)).toMatchObject({ action: "not-due" });
    state.block += 50;
    const set = await setWeightsIfDue(opts);
    expect(set.action).toBe("set");
    expect(state).toMatchObject({ uids: [1, 2], weights: [16384, 65535] });
    state.block += 200;
    expect((await setWeightsIfDue(opts)).action).toBe("not-due");
    state.block += 200;
    expect((await setWeightsIfDue(opts)).reason).toMatch(/refresh/);
    expect(state.calls).toBe(3);
    expect(store.weightSettings.list().map((w) => w.state)).toEqual(["confirmed", "confirmed", "confirmed"]);
    // Each confirmed setting kept the extrinsic that carried it.
    expect(store.weightSettings.list()[0]?.sent?.hash).toBe("0x3");
  });

  it("pays the uid each seat's hotkey holds at the block, not the uid stored at intake", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    // Intake saw carol at uid 2 and bob at 1; by now they hold 7 and 4.
    store.standings.append(null, { leader: seat(store, "carol", 2), runnerUp: seat(store, "bob", 1) });
    state.neurons = [
      { uid: 0, hotkey: "owner", registeredAt: 0 },
      { uid: 4, hotkey: "bob", registeredAt: 0 },
      { uid: 7, hotkey: "carol", registeredAt: 0 },
    ];
    await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    expect(state).toMatchObject({ uids: [4, 7], weights: [16384, 65535] });
  });

  it("a leader whose hotkey left the subnet is not paid, whoever holds its old uid (promoted or burned by policy)", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    store.standings.append(null, {
      leader: seat(store, "carol", 2, 10),
      runnerUp: seat(store, "bob", 1, 10),
    });
    // A stranger took uid 2 at block 900; carol is gone.
    state.neurons = [
      { uid: 0, hotkey: "owner", registeredAt: 0 },
      { uid: 1, hotkey: "bob", registeredAt: 0 },
      { uid: 2, hotkey: "stranger", registeredAt: 900 },
    ];
    const promoted = await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    expect(state).toMatchObject({ uids: [1], weights: [65535] });
    expect(promoted.setting?.reason).toMatch(
      /leader not paid: hotkey carol is not registered on the subnet at block 1000/,
    );
    state.block += 400;
    await setWeightsIfDue({ store, target, policy: { ...defaultWeightPolicy, vacantLeader: "burn" } });
    // 80% burned to uid 0, the runner-up keeps its 20%: uid 2 (the stranger) gets nothing either way.
    expect(state).toMatchObject({ uids: [0, 1], weights: [65535, 16384] });
  });

  it("a hotkey that registered again after its commitment is a new neuron: its old seat is not paid", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    store.standings.append(null, { leader: seat(store, "carol", 2, 10) });
    state.neurons = [
      { uid: 0, hotkey: "owner", registeredAt: 0 },
      { uid: 2, hotkey: "carol", registeredAt: 950 },
    ];
    const r = await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    expect(state.uids).toEqual([0]);
    expect(r.setting?.reason).toMatch(/registered again at block 950, after its commitment of block 10/);
  });

  it("a refusal is recorded with the chain's reason", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    state.mode = "refuse";
    state.refusal = "the chain refused the extrinsic: subtensorModule.NeuronNoValidatorPermit";
    const r = await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    expect(r.action).toBe("failed");
    expect(store.weightSettings.list()[0]).toMatchObject({ state: "failed" });
    expect(store.weightSettings.list()[0]?.error).toMatch(/failed-precondition: .*NeuronNoValidatorPermit/);
  });

  it("an extrinsic in doubt is never doubled: waited for while it may land, confirmed if it did", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    store.standings.append(null, { leader: seat(store, "carol", 2) });
    state.mode = "doubt";
    expect(await setWeightsIfDue({ store, target, policy: defaultWeightPolicy })).toMatchObject({
      action: "waiting",
    });
    expect(store.weightSettings.list()[0]).toMatchObject({ state: "submitted", sent: { hash: "0x1" } });
    state.mode = "ok";
    for (const _ of [1, 2, 3]) {
      state.block += 10;
      expect((await setWeightsIfDue({ store, target, policy: defaultWeightPolicy })).action).toBe("waiting");
    }
    expect(state.calls).toBe(1);
    // It landed after all (another node had it): confirmed, not sent again.
    Object.assign(state, { uids: [2], weights: [65535], lastUpdate: 1005 });
    state.fate = { state: "landed", block: { number: 1005, hash: "0xb" } };
    expect(await setWeightsIfDue({ store, target, policy: defaultWeightPolicy })).toMatchObject({
      action: "confirmed-earlier",
      setting: { state: "confirmed", confirmedBlock: 1005 },
    });
    expect(state.calls).toBe(1);
  });

  it("an extrinsic lost for good is closed, and the weights are decided afresh from the metagraph of now", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    store.standings.append(null, { leader: seat(store, "carol", 2), runnerUp: seat(store, "bob", 1) });
    state.mode = "doubt";
    await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    state.mode = "ok";
    state.block += 40;
    state.fate = { state: "lost", reason: "in none of the era's blocks" };
    // Meanwhile carol's uid went to a stranger: the fresh decision pays bob alone, never uid 2.
    state.neurons = [
      { uid: 1, hotkey: "bob", registeredAt: 0 },
      { uid: 2, hotkey: "stranger", registeredAt: 1020 },
    ];
    const r = await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    expect(r.action).toBe("set");
    expect(state).toMatchObject({ uids: [1], weights: [65535], calls: 2 });
    const [fresh, lost] = store.weightSettings.list();
    expect(lost).toMatchObject({ state: "failed", uids: [1, 2] });
    expect(lost?.error).toMatch(/its extrinsic was lost/);
    expect(fresh).toMatchObject({ state: "confirmed", uids: [1] });
  });

  it("an intent never signed is sent at once; one from an earlier version waits out the longest era", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    store.standings.append(null, { leader: seat(store, "carol", 2) });
    store.weightSettings.insertIntent({
      block: 1000,
      uids: [2],
      weights: [65535],
      key: "2:65535",
      reason: "x",
    });
    state.block = 1001;
    expect((await setWeightsIfDue({ store, target, policy: defaultWeightPolicy })).action).toBe("set");
    // The same decision, so the same row carries it.
    expect(store.weightSettings.list().map((w) => w.state)).toEqual(["confirmed"]);

    const old = openStore({ path: ":memory:" });
    const legacy = chain();
    old.standings.append(null, { leader: seat(old, "carol", 2) });
    const intent = old.weightSettings.insertIntent({
      block: 1000,
      uids: [2],
      weights: [65535],
      key: "2:65535",
      reason: "x",
    });
    old.weightSettings.update(intent.id, { state: "submitted" });
    legacy.state.block = 1010;
    expect(
      (await setWeightsIfDue({ store: old, target: legacy.target, policy: defaultWeightPolicy })).action,
    ).toBe("waiting");
    legacy.state.block = 1070;
    expect(
      (await setWeightsIfDue({ store: old, target: legacy.target, policy: defaultWeightPolicy })).action,
    ).toBe("set");
    expect(legacy.state.calls).toBe(1);
  });

  it("an earlier intent whose weights reached the chain is confirmed, not sent again", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    store.standings.append(null, { leader: seat(store, "carol", 2) });
    const intent = store.weightSettings.insertIntent({
      block: 1000,
      uids: [2],
      weights: [65535],
      key: "2:65535",
      reason: "x",
    });
    store.weightSettings.update(intent.id, { state: "submitted" });
    Object.assign(state, { uids: [2], weights: [65535], lastUpdate: 1001, block: 1003 });
    const r = await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    expect(r.action).toBe("confirmed-earlier");
    expect(state.calls).toBe(0);
    expect(store.weightSettings.get(intent.id)).toMatchObject({ state: "confirmed", confirmedBlock: 1001 });
    expect((await setWeightsIfDue({ store, target, policy: defaultWeightPolicy })).action).toBe("not-due");
  });
});
