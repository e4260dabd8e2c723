// A rogue agent that floods the control plane (endless events padded with unknown protobuf
// fields, and one message above the size limit) while honest agents run a round and weights are
// set: the rogue is throttled and capped, nothing it sends lands in the controller's store, and
// the round settles and the weights go out as if it were not there. Real gRPC on loopback, the
// real store file and a separate event log file.
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { runAgentSession } from "../../agent/session/agent-session.ts";
import { connectToController, enrolWithController } from "../../agent/session/controller-client.ts";
import {
  AgentEventSchema,
  type AgentMessage,
  AgentMessageSchema,
  AgentState,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { createControlPlaneJobRunner } from "../rounds/control-plane-job-runner.ts";
import { runRound } from "../rounds/run-round.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import { fileChain, writeFileChain } from "../rounds/testing/file-chain.ts";
import { scenarioRef, scenarioSettings, scenarioSimImages } from "../rounds/testing/sim-scenario.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import { openStore } from "../store/controller-store.ts";
import { defaultWeightPolicy } from "../weights/weight-policy.ts";
import { setWeightsIfDue } from "../weights/weight-setter.ts";
import { ControlPlane } from "./control-plane.ts";
import { startControlPlaneServer } from "./control-plane-server.ts";
import { SqliteControlPlaneStore } from "./control-plane-store.ts";
import { SqliteEventLog } from "./event-log.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KiB = 1024;
/** An unknown length-delimited field (number 9999) of `bytes` zero bytes, as a newer contract might add. */
const unknownField = (bytes: number) => [
  {
    no: 9999,
    wireType: WireType.LengthDelimited,
    data: new BinaryWriter().bytes(new Uint8Array(bytes)).finish(),
  },
];
const limits = {
  maxMessageBytes: 1024 * KiB,
  messagesPerSecond: 200,
  messageBurst: 400,
  eventBytesPerSecond: 256 * KiB,
  eventByteBurst: 256 * KiB,
  maxStoredEventBytesPerAgent: 1 * KiB,
};

describe("a rogue agent flooding the control plane", () => {
  it("is throttled and capped, keeps nothing unknown, and cannot hold up the round or the weights", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rogue-agent-"));
    const storePath = join(dir, "controller.db");
    const eventsPath = join(dir, "controller-events.db");
    const store = openStore({ path: storePath });
    const cpStore = new SqliteControlPlaneStore({ path: storePath });
    const events = new SqliteEventLog({ path: eventsPath });
    const controlPlane = new ControlPlane({
      store: cpStore,
      events,
      limits,
      heartbeatIntervalMs: 200,
      heartbeatDeadlineMs: 5000,
    });
    const server = await startControlPlaneServer({ controlPlane });
    cleanups.push(
      () => store.close(),
      () => cpStore.close(),
      () => events.close(),
      () => server.close(),
    );
    const endpoint = { url: server.url };
    const enrol = async (podId: string) =>
      enrolWithController({
        endpoint,
        token: controlPlane.mintEnrolmentToken(podId, 60_000).token,
        podId,
        agentVersion: "test",
      });
    for (const pod of ["pod-a", "pod-b"]) {
      const credential = await enrol(pod);
      const stop = new AbortController();
      cleanups.push(() => stop.abort());
      void runAgentSession({
        endpoint,
        credential,
        signal: stop.signal,
        backoff: { initialDelayMs: 1, maxDelayMs: 20, jitter: 0.5 },
        executor: simulatedPod(pod, { images: scenarioSimImages }),
      }).catch(() => {});
    }

    // The rogue: every event a status padded with 4 KiB of fields no version of the contract has.
    const rogue = await enrol("pod-rogue");
    const flooding = new AbortController();
    let sent = 0;
    let acked = 0;
    const padded = (seq: number): AgentMessage => {
      const message = create(AgentMessageSchema, {
        kind: {
          case: "event",
          value: {
            seq: BigInt(seq),
            atUnixMs: BigInt(Date.now()),
            payload: { case: "status", value: { state: AgentState.IDLE } },
          },
        },
      });
      if (message.kind.case === "event") message.kind.value.$unknown = unknownField(4 * KiB);
      return message;
    };
    const rogueConnection = connectToController(endpoint);
    cleanups.push(() => rogueConnection.close());
    const flood = (async () => {
      async function* outgoing(): AsyncGenerator<AgentMessage> {
        yield create(AgentMessageSchema, { kind: { case: "hello", value: { agentId: rogue.agentId } } });
        while (!flooding.signal.aborted) {
          sent += 1;
          yield padded(sent);
        }
      }
      try {
        for await (const m of rogueConnection.client.session(outgoing(), {
          signal: flooding.signal,
          headers: { authorization: `Bearer ${rogue.sessionCredential}` },
        })) {
          if (m.kind.case === "ack") acked = Math.max(acked, Number(m.kind.value));
        }
      } catch {
        // ended by the test
      }
    })();
    const floodStarted = Date.now();

    // Meanwhile, the validator's work: weights (the fallback), a round on the honest pods, weights again.
    const chain = fileChain(
      writeFileChain(dir, [{ hotkey: "carol", uid: 2, raw: scenarioRef("faster"), commitBlock: 11 }]),
    );
    const weights = () =>
      setWeightsIfDue({
        store,
        target: chain.target,
        policy: defaultWeightPolicy,
        cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
      });
    expect((await weights()).action).toBe("set");
    ingestCommitments({ store, snapshot: await chain.source.snapshot() });
    const inner = createControlPlaneJobRunner(controlPlane);
    cleanups.push(() => inner.close());
    // This test is about what the rogue sends, not about jobs it would be given: it gets none.
    const runner = {
      ...inner,
      idlePods: (e?: Parameters<typeof inner.idlePods>[0]) =>
        inner.idlePods(e).filter((p) => p !== "pod-rogue"),
    };
    const round = await runRound(
      {
        store,
        runner,
        settings: scenarioSettings,
        policy: defaultScoringPolicy,
        finalizedHead: chain.finalizedHead,
        pollMs: 20,
      },
      new AbortController().signal,
    );
    expect(round?.state).toBe("settled");
    expect(store.standings.current<Standing>().leader?.hotkey).toBe("carol");
    expect((await weights()).action).toBe("set");
    expect(chain.read().accepted.map((a) => a.uids)).toEqual([[0], [2]]);
    // Keep flooding a moment longer than the burst lasts, so the rates are what is measured.
    while (Date.now() - floodStarted < 3000) await new Promise((r) => setTimeout(r, 50));
    flooding.abort();
    await flood;
    const seconds = (Date.now() - floodStarted) / 1000;

    // Throttled: the controller read no faster than the byte rate lets 4 KiB events through
    // (burst plus rate x time), though the rogue had far more queued.
    expect(controlPlane.stats.throttledMs).toBeGreaterThan(0);
    expect(sent).toBeGreaterThan(acked);
    const allowed = (limits.eventByteBurst + limits.eventBytesPerSecond * seconds) / (4 * KiB);
    expect(acked).toBeGreaterThan(0);
    expect(acked).toBeLessThanOrEqual(Math.ceil(allowed) + 2);
    // Capped: what is kept of it stays under its quota; the rest was acknowledged and dropped.
    expect(events.storedBytes(rogue.agentId)).toBeLessThanOrEqual(limits.maxStoredEventBytesPerAgent);
    expect(controlPlane.stats.eventsOverQuota).toBeGreaterThan(0);
    // Nothing unknown is kept: the 4 KiB of padding per event was dropped before storing.
    const kept = events.events(rogue.agentId);
    expect(kept.length).toBeGreaterThan(0);
    expect(fromBinary(AgentEventSchema, kept[0]?.event ?? new Uint8Array()).$unknown ?? []).toEqual([]);
    expect(Math.max(...kept.map((e) => e.event.byteLength))).toBeLessThan(100);
    expect(controlPlane.stats.unknownBytesDropped).toBeGreaterThanOrEqual(acked * 4 * KiB);
    // And none of it is in the store that holds rounds and weights.
    expect(cpStore.agent(rogue.agentId)?.podId).toBe("pod-rogue");
    expect(statSync(storePath).size).toBeLessThan(2 * 1024 * KiB);

    // One message above the size limit ends the rogue's session with RESOURCE_EXHAUSTED.
    const oversized = connectToController(endpoint);
    cleanups.push(() => oversized.close());
    async function* big(): AsyncGenerator<AgentMessage> {
      yield create(AgentMessageSchema, { kind: { case: "hello", value: { agentId: rogue.agentId } } });
      const message = padded(acked + 1);
      if (message.kind.case === "event") message.kind.value.$unknown = unknownField(2048 * KiB);
      yield message;
      await new Promise((r) => setTimeout(r, 5000));
    }
    const error = await (async () => {
      try {
        for await (const _ of oversized.client.session(big(), {
          headers: { authorization: `Bearer ${rogue.sessionCredential}` },
        })) {
          // the welcome
        }
      } catch (e) {
        return ConnectError.from(e);
      }
      return undefined;
    })();
    expect(error?.code).toBe(Code.ResourceExhausted);
  }, 90_000);
});
