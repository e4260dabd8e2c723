import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import type { JobExecutor } from "../../../agent/job/job-executor.ts";
import { runAgentSession } from "../../../agent/session/agent-session.ts";
import { enrolWithController } from "../../../agent/session/controller-client.ts";
import { type HardwareReport, HardwareReportSchema } from "../../../shared/gen/cacheon/v1/hardware_pb.ts";

/** Options of {@link bootCloudAgents}. */
export interface CloudAgentsOptions {
  /** The fake cloud's directory, where each machine's user-data lands. */
  cloudDir: string;
  /** Control plane URL the agents dial. */
  url: string;
  /** Runs each pod's jobs. */
  executor: (podId: string) => JobExecutor;
  /** The hardware report a pod's agent enrols with. @default passing, one GPU named after the pod */
  hardware?: (podId: string) => HardwareReport;
  /** How often the cloud's directory is looked at, ms. @default 50 */
  intervalMs?: number;
}

/** Agents "booted" on a fake cloud's machines. */
export interface CloudAgents {
  /** Pod ids whose agent has enrolled. */
  pods(): string[];
  /** Sessions a pod's agent opened so far (welcomed by a controller). */
  sessions(podId: string): number;
  /** Stops every agent's session. */
  stop(): void;
}

/**
 * Stands in for cloud-init on the fake cloud's machines: each machine's agent enrols with the
 * pod id and one-time token from its user-data (as the real boot does) and runs its session in
 * this process, with fast reconnects. The agents outlive the controller they dial: a controller
 * restarted on the same port finds them coming back.
 */
export function bootCloudAgents(options: CloudAgentsOptions): CloudAgents {
  const booted = new Set<string>();
  const sessions = new Map<string, number>();
  const enrolled: string[] = [];
  const stops: AbortController[] = [];
  const hardware =
    options.hardware ??
    ((podId: string) =>
      create(HardwareReportSchema, {
        profile: "none",
        ok: true,
        gpus: [{ index: 0, uuid: `GPU-${podId}` }],
      }));
  const boot = async () => {
    for (const name of readdirSync(options.cloudDir).filter((n) => n.endsWith(".user-data"))) {
      if (booted.has(name)) continue;
      booted.add(name);
      const text = readFileSync(join(options.cloudDir, name), "utf8");
      const podId = /CACHEON_POD_ID=(\S+)/.exec(text)?.[1] ?? "";
      const token = /CACHEON_ENROLMENT_TOKEN=(\S+)/.exec(text)?.[1] ?? "";
      const endpoint = { url: options.url };
      const credential = await enrolWithController({
        endpoint,
        token,
        podId,
        hardware: hardware(podId),
      });
      enrolled.push(podId);
      const stop = new AbortController();
      stops.push(stop);
      void runAgentSession({
        endpoint,
        credential,
        signal: stop.signal,
        backoff: { initialDelayMs: 1, maxDelayMs: 20, jitter: 0.5 },
        executor: options.executor(podId),
        onConnected: () => sessions.set(podId, (sessions.get(podId) ?? 0) + 1),
      }).catch(() => {});
    }
  };
  const timer = setInterval(() => void boot().catch(() => {}), options.intervalMs ?? 50);
  return {
    pods: () => [...enrolled],
    sessions: (podId) => sessions.get(podId) ?? 0,
    stop() {
      clearInterval(timer);
      for (const s of stops) s.abort();
    },
  };
}
