import { describe, expect, it } from "vitest";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { defaultWeightPolicy } from "./weight-policy.ts";
import { setWeightsIfDue, type WeightTarget } from "./weight-setter.ts";

/** An in-memory chain's weights for one validator (the public chain cannot run here; devnet tests cover the real one). */
function chain() {
  const state = {
    block: 1000,
    lastUpdate: 0,
    uids: [] as number[],
    weights: [] as number[],
    calls: 0,
    refuse: "",
  };
  const target: WeightTarget = {
    finalizedBlock: async () => state.block,
    readOwnWeights: async () => ({ lastUpdate: state.lastUpdate, uids: state.uids, weights: state.weights }),
    setWeights: async (uids, weights) => {
      state.calls += 1;
      if (state.refuse) throw new CacheonError("failed-precondition", state.refuse);
      Object.assign(state, { uids, weights, lastUpdate: state.block });
      return { block: state.block, ref: `0xblock${state.block}` };
    },
  };
  return { state, target };
}

function seat(store: ControllerStore, hotkey: string, uid: number) {
  const s = store.submissions.insert({
    hotkey,
    uid,
    raw: "r",
    image: "i",
    digest: `d-${hotkey}`,
    commitBlock: 1,
    seenBlock: 1,
    state: "evaluated",
  });
  return { submissionId: s.id, hotkey, commitBlock: 1, settledSpeed: 1.5 };
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
  });

  it("an intent whose weights reached the chain is confirmed, not sent again", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    store.standings.append(null, { leader: seat(store, "carol", 2) });
    // A controller recorded the intent, the chain took the weights, then the controller died.
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

  it("an intent that never reached the chain waits while it may be in flight, then is sent once", async () => {
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
    state.block = 1002;
    expect((await setWeightsIfDue({ store, target, policy: defaultWeightPolicy })).action).toBe("waiting");
    state.block = 1010;
    expect((await setWeightsIfDue({ store, target, policy: defaultWeightPolicy })).action).toBe("set");
    expect(state.calls).toBe(1);
    expect((await setWeightsIfDue({ store, target, policy: defaultWeightPolicy })).action).toBe("not-due");
    expect(state.calls).toBe(1);
  });

  it("a refusal is recorded with the chain's reason", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    state.refuse = "the chain refused the extrinsic: subtensorModule.NeuronNoValidatorPermit";
    const r = await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    expect(r.action).toBe("failed");
    expect(store.weightSettings.list()[0]).toMatchObject({ state: "failed" });
    expect(store.weightSettings.list()[0]?.error).toMatch(/failed-precondition: .*NeuronNoValidatorPermit/);
  });

  it("does not pay a seat whose hotkey left or replaced its submission", async () => {
    const store = openStore({ path: ":memory:" });
    const { state, target } = chain();
    const leader = seat(store, "carol", 2);
    store.standings.append(null, { leader, runnerUp: seat(store, "bob", 1) });
    store.submissions.setState(leader.submissionId, "deregistered", "hotkey left the subnet");
    await setWeightsIfDue({ store, target, policy: defaultWeightPolicy });
    expect(state).toMatchObject({ uids: [1], weights: [65535] });
  });
});
