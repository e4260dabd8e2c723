import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import {
  type BudgetLimits,
  type BudgetOptions,
  checkCanRequest,
  checkPrice,
  podCost,
  resolveBudget,
} from "./budget.ts";
import type { EnrolmentTokenIssuer } from "./enrolment-token-issuer.ts";
import type { PodLedger, PodRecord } from "./pod-ledger.ts";
import type { PodProfile, PodProvider } from "./pod-provider.ts";
import { assertTransition, isTerminal, type PodState } from "./pod-state.ts";

/** How long a pod may stay in each step before the fleet gives up on it. */
export interface FleetTimeouts {
  /** requested: the provider must accept the order within this. @default 10 minutes */
  provisionMs?: number;
  /** booting: the agent must enrol within this (installs Docker, the toolkit, Node). @default 20 minutes */
  bootMs?: number;
  /** enrolled: the hardware report must arrive within this. @default 10 minutes */
  verifyMs?: number;
  /** busy: one job may run at most this long. @default 3 hours */
  jobMs?: number;
}

/** A job that must run elsewhere because its pod went away. */
export interface RescheduleEvent {
  jobId: string;
  podId: string;
  reason: string;
}

/** One state change. */
export interface PodTransitionEvent {
  podId: string;
  from: PodState;
  to: PodState;
  reason: string;
  atMs: number;
}

/** What the hardware check said, reduced to what the fleet decides on. */
export interface VerificationOutcome {
  /** True when every rule of the profile passed. */
  ok: boolean;
  /** One line per failed rule, e.g. "gpu-count: 7 GPUs, expected 8". */
  failures: string[];
}

/** Options of {@link Fleet}. */
export interface FleetOptions {
  /** Where machines come from. */
  provider: PodProvider;
  /** Where pods and costs are recorded. */
  ledger: PodLedger;
  /** Mints each pod's one-time enrolment token. */
  tokens: EnrolmentTokenIssuer;
  /** Renders the user-data for a pod (see renderCloudInit). */
  userData: (pod: { podId: string; enrolmentToken: string }) => string;
  /** Budget limits. @default resolveBudget({}) */
  budget?: BudgetOptions;
  /** Step timeouts. */
  timeouts?: FleetTimeouts;
  /** Called when a busy pod goes away: the scheduler must run the job elsewhere. */
  onReschedule?: (event: RescheduleEvent) => void;
  /** Called on every state change. */
  onTransition?: (event: PodTransitionEvent) => void;
  /** Prefix of pod ids; provider machines tagged with it that the fleet does not hold are returned. @default "cacheon-" */
  podIdPrefix?: string;
  /** @default silentLogger */
  logger?: Logger;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** A pod as the fleet sees it. */
export interface FleetPod {
  podId: string;
  profile: PodProfile;
  state: PodState;
  /** When the pod entered its state, ms since the epoch. */
  stateSinceMs: number;
  requestedAtMs: number;
  /** When the provider accepted the order; 0 before. */
  startedAtMs: number;
  /** Provider's machine id; "" before the provider answered. */
  providerPodId: string;
  host: string;
  pricePerHour: number;
  /** Agent id from enrolment. */
  agentId: string;
  /** Job running on it, "" when none. */
  jobId: string;
  /** Why it failed or was released. */
  endReason: string;
  /** True once the provider confirmed the machine is returned (or there was never one). */
  returned: boolean;
}

interface PodEntry extends FleetPod {
  tokenHash: Buffer | undefined;
}

/**
 * The controller's pods: rents them through a provider within a budget, moves each through
 * requested -> booting -> enrolled -> verified -> busy <-> idle -> released (or failed) with a
 * timeout at each step, returns every machine it no longer needs, and hands jobs of pods that went
 * away back to the scheduler. The control plane reports enrolment, verification and job events;
 * `tick()` (run by runFleetLoop) enforces timeouts, budgets and reconciles with the provider.
 */
export class Fleet {
  readonly #options: FleetOptions;
  readonly #limits: BudgetLimits;
  readonly #timeouts: Required<FleetTimeouts>;
  readonly #pods = new Map<string, PodEntry>();
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #prefix: string;
  readonly #listeners = new Set<(event: PodTransitionEvent) => void>();
  #ticking: Promise<void> | undefined;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.#limits = resolveBudget(options.budget);
    this.#timeouts = {
      provisionMs: options.timeouts?.provisionMs ?? 10 * 60_000,
      bootMs: options.timeouts?.bootMs ?? 20 * 60_000,
      verifyMs: options.timeouts?.verifyMs ?? 10 * 60_000,
      jobMs: options.timeouts?.jobMs ?? 3 * 3_600_000,
    };
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#prefix = options.podIdPrefix ?? "cacheon-";
  }

  /**
   * Calls `listener` after every state change (after onTransition), synchronously, so a listener
   * sees the pod in its new state before anything else happens to it. Returns a function that
   * removes it. A listener that throws is logged and does not stop the change.
   */
  addListener(listener: (event: PodTransitionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolved budget limits. */
  get limits(): BudgetLimits {
    return { ...this.#limits };
  }

  /** Every pod the fleet knows, oldest first. */
  pods(): FleetPod[] {
    return [...this.#pods.values()].map(view);
  }

  /** One pod; throws not-found when unknown. */
  get(podId: string): FleetPod {
    return view(this.#entry(podId));
  }

  /** Pods not yet released or failed. */
  live(): FleetPod[] {
    return this.pods().filter((pod) => !isTerminal(pod.state));
  }

  /**
   * Rents one pod of `profile`, asking the provider to keep off `avoidHosts`. Resolves when the
   * provider accepted the order (the pod is then booting). Throws resource-exhausted over budget,
   * or the provider's error (the pod is failed).
   */
  async request(
    profile: PodProfile,
    signal?: AbortSignal,
    options: { avoidHosts?: string[] } = {},
  ): Promise<FleetPod> {
    checkCanRequest(this.#limits, this.live().length);
    const now = this.#now();
    const podId = `${this.#prefix}${now.toString(36)}-${randomBytes(4).toString("hex")}`;
    const pod: PodEntry = {
      podId,
      profile,
      state: "requested",
      stateSinceMs: now,
      requestedAtMs: now,
      startedAtMs: 0,
      providerPodId: "",
      host: "",
      pricePerHour: 0,
      agentId: "",
      jobId: "",
      endReason: "",
      returned: false,
      tokenHash: undefined,
    };
    this.#pods.set(podId, pod);
    this.#record(pod);
    this.#logger.info("requesting pod", {
      podId,
      profile: profile.name,
      provider: this.#options.provider.name,
    });
    let created: Awaited<ReturnType<PodProvider["create"]>>;
    try {
      const token = await this.#options.tokens.mint(podId, this.#timeouts.bootMs);
      pod.tokenHash = sha256(token);
      this.#record(pod);
      const userData = this.#options.userData({ podId, enrolmentToken: token });
      created = await this.#options.provider.create(
        {
          podId,
          profile,
          maxPricePerHour: this.#limits.maxPricePerHour,
          userData,
          ...(options.avoidHosts?.length ? { avoidHosts: options.avoidHosts } : {}),
        },
        signal,
      );
    } catch (error) {
      const err = CacheonError.from(error);
      if (!isTerminal(pod.state))
        await this.#end(pod, "failed", `provider could not create it: ${err.message}`);
      throw err;
    }
    pod.providerPodId = created.id;
    pod.host = created.host;
    pod.pricePerHour = created.pricePerHour;
    pod.startedAtMs = this.#now();
    pod.returned = false;
    this.#record(pod);
    if (isTerminal(pod.state)) {
      // Ended (timeout, shutdown) while the provider was still creating it: return the machine now.
      await this.#returnMachine(pod);
      throw new CacheonError("cancelled", `pod ${podId} ended while it was being created: ${pod.endReason}`);
    }
    try {
      checkPrice(
        this.#limits,
        created.pricePerHour,
        `pod ${podId} (${this.#options.provider.name} ${created.id})`,
      );
    } catch (error) {
      await this.#end(pod, "failed", (error as Error).message);
      throw error;
    }
    this.#move(
      pod,
      "booting",
      `provider ${this.#options.provider.name} created ${created.id} at ${created.host}`,
    );
    return view(pod);
  }

  /**
   * True when `token` is the enrolment token minted for `podId` (compared by hash, in constant
   * time). Used to authenticate boot failure reports from the pod.
   */
  checkToken(podId: string, token: string): boolean {
    const hash = this.#pods.get(podId)?.tokenHash;
    return hash !== undefined && timingSafeEqual(hash, sha256(token));
  }

  /** The agent on the pod enrolled. */
  enrolled(podId: string, agentId: string): FleetPod {
    const pod = this.#entry(podId);
    this.#move(pod, "enrolled", `agent ${agentId} enrolled`);
    pod.agentId = agentId;
    this.#record(pod);
    return view(pod);
  }

  /**
   * The agent's hardware report arrived. A pod that fails it is released and its host noted so an
   * operator (or a provider filter) can avoid it.
   */
  async verified(podId: string, outcome: VerificationOutcome): Promise<FleetPod> {
    const pod = this.#entry(podId);
    if (outcome.ok) {
      this.#move(pod, "verified", "hardware verified");
      return view(pod);
    }
    const reason = `hardware verification failed: ${outcome.failures.join("; ") || "no reason given"}`;
    this.#noteHost(pod, reason);
    await this.#end(pod, "failed", reason);
    return view(pod);
  }

  /** A job starts on a verified or idle pod. */
  assign(podId: string, jobId: string): FleetPod {
    const pod = this.#entry(podId);
    this.#move(pod, "busy", `job ${jobId}`);
    pod.jobId = jobId;
    this.#record(pod);
    return view(pod);
  }

  /** The pod's job ended (finished or failed on its own merits); the pod is idle again. */
  jobEnded(podId: string, jobId: string): FleetPod {
    const pod = this.#entry(podId);
    if (pod.jobId !== jobId) {
      throw new CacheonError("failed-precondition", `pod ${podId} runs job "${pod.jobId}", not "${jobId}"`);
    }
    this.#move(pod, "idle", `job ${jobId} ended`);
    pod.jobId = "";
    this.#record(pod);
    return view(pod);
  }

  /**
   * The agent went silent or the machine vanished: the pod fails, its job is rescheduled. A pod
   * already ended is left as it is (its agent's session drops when the fleet returns it).
   */
  async lost(podId: string, reason: string): Promise<FleetPod> {
    const pod = this.#entry(podId);
    if (!isTerminal(pod.state)) await this.#end(pod, "failed", reason);
    return view(pod);
  }

  /** The pod reported that it could not boot (see the boot report endpoint). Its host is noted. */
  async bootFailed(podId: string, stage: string, message: string): Promise<FleetPod> {
    const pod = this.#entry(podId);
    if (isTerminal(pod.state)) return view(pod);
    const reason = `boot failed at ${stage}: ${message}`;
    this.#noteHost(pod, reason);
    await this.#end(pod, "failed", reason);
    return view(pod);
  }

  /** Returns a pod that is no longer needed; a pod already ended is left as it is. */
  async release(podId: string, reason: string): Promise<FleetPod> {
    const pod = this.#entry(podId);
    if (!isTerminal(pod.state)) await this.#end(pod, "released", reason);
    return view(pod);
  }

  /**
   * One pass of housekeeping: fails pods past their step timeout, releases pods idle or alive
   * too long, fails pods the provider no longer lists, returns stray tagged machines, and retries
   * returns that failed before. Concurrent calls share one pass.
   */
  tick(signal?: AbortSignal): Promise<void> {
    this.#ticking ??= this.#tick(signal).finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  /**
   * Takes over the pods a stopped controller left in the ledger, before anything else happens
   * to the fleet: live pods keep their state, agent, job and the time they entered their state
   * (timeouts and the lifetime limit go on counting), so nothing is rented twice and no machine
   * is forgotten. A pod whose create call was cut short is matched to the machine the provider
   * tagged with its id, or failed. Then one housekeeping pass checks every pod against the
   * provider: pods it no longer lists fail (their jobs rescheduled), machines it lists that no
   * pod holds are returned, and returns that were pending are retried. Returns the pods adopted.
   */
  async adopt(signal?: AbortSignal): Promise<FleetPod[]> {
    for (const lease of this.#options.ledger.openLeases()) {
      const record = this.#options.ledger.get(lease.podId);
      if (!record || this.#pods.has(lease.podId)) continue;
      this.#pods.set(lease.podId, {
        podId: lease.podId,
        profile: lease.profile,
        state: record.state,
        stateSinceMs: lease.stateSinceMs,
        requestedAtMs: record.requestedAtMs,
        startedAtMs: record.startedAtMs,
        providerPodId: record.providerPodId,
        host: record.host,
        pricePerHour: record.pricePerHour,
        agentId: lease.agentId,
        jobId: lease.jobId,
        endReason: lease.endReason,
        returned: lease.returned,
        tokenHash: lease.tokenHash ? Buffer.from(lease.tokenHash, "hex") : undefined,
      });
    }
    const held = [...this.#pods.values()].filter((p) => !isTerminal(p.state) && p.providerPodId);
    this.#options.provider.adopt?.(held.map((p) => ({ id: p.providerPodId, podId: p.podId })));
    const orphans = [...this.#pods.values()].filter((p) => p.state === "requested");
    if (orphans.length > 0) {
      let machines: Awaited<ReturnType<PodProvider["list"]>> | undefined;
      try {
        machines = await this.#options.provider.list(signal);
      } catch (error) {
        this.#logger.warn(
          "could not list the provider's machines; pods being created when the controller stopped wait for their provision timeout",
          { error },
        );
      }
      for (const pod of machines ? orphans : []) {
        const machine = machines?.find((m) => m.podId === pod.podId && m.status !== "terminated");
        if (!machine) {
          await this.#end(
            pod,
            "failed",
            "the controller stopped while the provider was creating it, and the provider holds no machine for it",
          );
          continue;
        }
        pod.providerPodId = machine.id;
        pod.host = machine.host;
        pod.pricePerHour = machine.pricePerHour;
        pod.startedAtMs = this.#now();
        this.#move(pod, "booting", `adopted machine ${machine.id} at ${machine.host} after a restart`);
      }
    }
    const adopted = this.live();
    this.#logger.info("fleet adopted the pods of the previous run", {
      pods: adopted.map((p) => `${p.podId} (${p.state})`),
    });
    await this.tick(signal);
    return adopted.filter((p) => !isTerminal(this.get(p.podId).state)).map((p) => this.get(p.podId));
  }

  /** Releases every live pod and waits until the provider returned each (retrying once more on failure). */
  async shutdown(reason: string, signal?: AbortSignal): Promise<void> {
    await Promise.all(this.live().map((pod) => this.release(pod.podId, reason)));
    for (const pod of this.#pods.values()) {
      if (!pod.returned) await this.#returnMachine(pod, signal);
    }
  }

  async #tick(signal?: AbortSignal): Promise<void> {
    const now = this.#now();
    const t = this.#timeouts;
    const ends: Promise<void>[] = [];
    for (const pod of this.#pods.values()) {
      if (isTerminal(pod.state)) continue;
      const inState = now - pod.stateSinceMs;
      const fail = (reason: string, noteHost = false) => {
        if (noteHost) this.#noteHost(pod, reason);
        ends.push(this.#end(pod, "failed", reason));
      };
      if (now - pod.requestedAtMs > this.#limits.maxLifetimeMs) {
        ends.push(
          this.#end(pod, "released", `reached the maximum lifetime of ${this.#limits.maxLifetimeMs} ms`),
        );
      } else if (pod.state === "requested" && inState > t.provisionMs) {
        fail(`the provider did not create it within ${t.provisionMs} ms`);
      } else if (pod.state === "booting" && inState > t.bootMs) {
        fail(`never booted: no enrolment within ${t.bootMs} ms`, true);
      } else if (pod.state === "enrolled" && inState > t.verifyMs) {
        fail(`no hardware report within ${t.verifyMs} ms`, true);
      } else if (pod.state === "busy" && inState > t.jobMs) {
        fail(`job ${pod.jobId} ran longer than ${t.jobMs} ms`);
      } else if ((pod.state === "verified" || pod.state === "idle") && inState > this.#limits.maxIdleMs) {
        ends.push(this.#end(pod, "released", `idle for more than ${this.#limits.maxIdleMs} ms`));
      }
    }
    await Promise.all(ends);
    await this.#reconcile(signal);
    for (const pod of this.#pods.values()) {
      if (!pod.returned && isTerminal(pod.state)) await this.#returnMachine(pod, signal);
    }
  }

  /** Compares what the provider holds with what the fleet thinks it holds. */
  async #reconcile(signal?: AbortSignal): Promise<void> {
    let machines: Awaited<ReturnType<PodProvider["list"]>>;
    try {
      machines = await this.#options.provider.list(signal);
    } catch (error) {
      this.#logger.warn("could not list the provider's machines; will retry next tick", { error });
      return;
    }
    const held = new Map(machines.filter((m) => m.status !== "terminated").map((m) => [m.id, m]));
    const ends: Promise<void>[] = [];
    for (const pod of this.#pods.values()) {
      if (isTerminal(pod.state) || pod.state === "requested" || held.has(pod.providerPodId)) continue;
      // Still asked to delete it: a listing glitch must not leave a machine billing.
      ends.push(
        this.#end(
          pod,
          "failed",
          `disappeared: provider ${this.#options.provider.name} no longer lists ${pod.providerPodId}`,
        ),
      );
    }
    await Promise.all(ends);
    for (const machine of held.values()) {
      if (!machine.podId?.startsWith(this.#prefix)) continue;
      const pod = this.#pods.get(machine.podId);
      if (pod && !(isTerminal(pod.state) && pod.returned)) continue;
      if (pod?.state === "requested") continue;
      this.#logger.warn("returning a tagged machine the fleet does not hold", {
        machine: machine.id,
        podId: machine.podId,
      });
      try {
        await this.#options.provider.release(machine.id, signal);
      } catch (error) {
        this.#logger.warn("could not return a stray machine; will retry next tick", {
          machine: machine.id,
          error,
        });
      }
    }
  }

  #entry(podId: string): PodEntry {
    const pod = this.#pods.get(podId);
    if (!pod)
      throw new CacheonError(
        "not-found",
        `no pod "${podId}" in this fleet; list them with the fleet's pods()`,
      );
    return pod;
  }

  #move(pod: PodEntry, to: PodState, reason: string): void {
    assertTransition(pod.podId, pod.state, to);
    const from = pod.state;
    const atMs = this.#now();
    pod.state = to;
    pod.stateSinceMs = atMs;
    this.#options.ledger.transition(pod.podId, from, to, atMs, reason);
    this.#record(pod);
    this.#logger.info("pod state", { podId: pod.podId, from, to, reason });
    const event = { podId: pod.podId, from, to, reason, atMs };
    this.#options.onTransition?.(event);
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#logger.error("a fleet listener threw", { podId: pod.podId, to, error });
      }
    }
  }

  /** Ends a pod: state first (synchronously, so racing events see it), then the job, then the machine. */
  async #end(pod: PodEntry, to: "released" | "failed", reason: string): Promise<void> {
    this.#move(pod, to, reason);
    pod.endReason = reason;
    // No machine yet: nothing to return (request() returns one that arrives later).
    if (!pod.providerPodId) pod.returned = true;
    const jobId = pod.jobId;
    if (jobId) {
      pod.jobId = "";
      this.#options.onReschedule?.({ jobId, podId: pod.podId, reason });
    }
    this.#record(pod);
    await this.#returnMachine(pod);
  }

  async #returnMachine(pod: PodEntry, signal?: AbortSignal): Promise<void> {
    if (pod.returned || !pod.providerPodId) return;
    try {
      await this.#options.provider.release(pod.providerPodId, signal);
    } catch (error) {
      this.#logger.warn("could not return the machine; will retry next tick", { podId: pod.podId, error });
      return;
    }
    pod.returned = true;
    this.#record(pod, this.#now());
    this.#logger.info("machine returned", { podId: pod.podId, machine: pod.providerPodId });
  }

  #noteHost(pod: PodEntry, reason: string): void {
    this.#options.ledger.noteHost({
      provider: this.#options.provider.name,
      host: pod.host,
      podId: pod.podId,
      reason,
      atMs: this.#now(),
    });
  }

  #record(pod: PodEntry, returnedAtMs?: number): void {
    const previous = this.#options.ledger.get(pod.podId);
    const releasedAtMs = returnedAtMs ?? previous?.releasedAtMs ?? 0;
    const record: PodRecord = {
      podId: pod.podId,
      provider: this.#options.provider.name,
      profile: pod.profile.name,
      providerPodId: pod.providerPodId,
      host: pod.host,
      pricePerHour: pod.pricePerHour,
      state: pod.state,
      requestedAtMs: pod.requestedAtMs,
      startedAtMs: pod.startedAtMs,
      releasedAtMs,
      costUsd: releasedAtMs && pod.startedAtMs ? podCost(pod.pricePerHour, pod.startedAtMs, releasedAtMs) : 0,
      failure: pod.state === "failed" ? pod.endReason : "",
    };
    this.#options.ledger.put(record);
    this.#options.ledger.putLease({
      podId: pod.podId,
      profile: pod.profile,
      stateSinceMs: pod.stateSinceMs,
      agentId: pod.agentId,
      jobId: pod.jobId,
      endReason: pod.endReason,
      returned: pod.returned,
      tokenHash: pod.tokenHash?.toString("hex") ?? "",
    });
  }
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function view(pod: PodEntry): FleetPod {
  const { tokenHash: _hash, ...rest } = pod;
  return { ...rest, profile: { ...pod.profile } };
}
