import { describe, expect, it } from "vitest";
import { type NeuronAt, resolvePaidSeats, type SeatHolder } from "./paid-seats.ts";

const leader: SeatHolder = { submissionId: "L", hotkey: "lea", commitBlock: 100, state: "evaluated" };
const runnerUp: SeatHolder = { submissionId: "R", hotkey: "run", commitBlock: 120, state: "evaluated" };
const both: NeuronAt[] = [
  { uid: 3, hotkey: "lea", registeredAt: 50 },
  { uid: 5, hotkey: "run", registeredAt: 60 },
];

describe("resolvePaidSeats", () => {
  it.each([
    ["both seated: their uids now", both, {}, { leaderUid: 3, runnerUpUid: 5 }, []],
    [
      "uids moved since intake: the new ones",
      [
        { uid: 9, hotkey: "lea", registeredAt: 50 },
        { uid: 1, hotkey: "run", registeredAt: 60 },
      ],
      {},
      { leaderUid: 9, runnerUpUid: 1 },
      [],
    ],
    [
      "leader deregistered, its uid a stranger's: runner-up promoted",
      [
        { uid: 3, hotkey: "stranger", registeredAt: 500 },
        { uid: 5, hotkey: "run", registeredAt: 60 },
      ],
      {},
      { leaderUid: 5 },
      ["leader"],
    ],
    [
      "leader deregistered, rule burn: the runner-up keeps its share only",
      [{ uid: 5, hotkey: "run", registeredAt: 60 }],
      { vacantLeader: "burn" },
      { vacantLeader: true, runnerUpUid: 5 },
      ["leader"],
    ],
    [
      "leader re-registered after its commitment: dropped",
      [
        { uid: 3, hotkey: "lea", registeredAt: 101 },
        { uid: 5, hotkey: "run", registeredAt: 60 },
      ],
      {},
      { leaderUid: 5 },
      ["leader"],
    ],
    [
      "registered in the commitment's own block: kept",
      [{ uid: 3, hotkey: "lea", registeredAt: 100 }],
      { runnerUp: undefined },
      { leaderUid: 3, runnerUpUid: undefined },
      [],
    ],
    [
      "runner-up deregistered: the leader alone",
      [{ uid: 3, hotkey: "lea", registeredAt: 50 }],
      {},
      { leaderUid: 3, runnerUpUid: undefined },
      ["runner-up"],
    ],
    ["both gone: nobody (the policy's fallback)", [], {}, { leaderUid: undefined }, ["leader", "runner-up"]],
    [
      "both gone under burn: nobody",
      [],
      { vacantLeader: "burn" },
      { leaderUid: undefined },
      ["leader", "runner-up"],
    ],
    [
      "leader's submission replaced since the round: dropped",
      both,
      { leader: { ...leader, state: "superseded" } },
      { leaderUid: 5 },
      ["leader"],
    ],
    [
      "leader unpaid (no fee): dropped",
      both,
      { leader: { ...leader, state: "unpaid" } },
      { leaderUid: 5 },
      ["leader"],
    ],
  ] as const)("%s", (_name, neurons, overrides, paid, dropped) => {
    const result = resolvePaidSeats({
      leader,
      runnerUp,
      neurons,
      block: 1000,
      vacantLeader: "promote-runner-up",
      ...overrides,
    });
    expect(result.paid).toEqual(paid);
    expect(result.dropped.map((d) => d.seat)).toEqual(dropped);
  });

  it("says why a seat is dropped", () => {
    const r = resolvePaidSeats({ leader, neurons: [], block: 1234, vacantLeader: "promote-runner-up" });
    expect(r.dropped[0]?.reason).toBe("hotkey lea is not registered on the subnet at block 1234");
  });
});
