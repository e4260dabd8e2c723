import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import Docker from "dockerode";
import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { createLogger } from "../../shared/log/logger.ts";
import { requireTlsOffLoopback } from "../../shared/net/loopback.ts";
import { sweepLeftovers } from "../containers/sweep-leftovers.ts";
import { probeHardware } from "../hardware/probe-hardware.ts";
import { defaultProfileName, loadHardwareProfile } from "../hardware/profiles.ts";
import { runAgentSession } from "../session/agent-session.ts";
import { AgentStateStore } from "../session/agent-state-store.ts";
import { agentVersion } from "../session/agent-version.ts";
import { type AgentCredential, enrolWithController } from "../session/controller-client.ts";

/** `cacheon-agent run`: pod mode. Enrols once with the one-time token, then serves jobs until stopped. */
export const runCommand: CliCommand = {
  name: "run",
  summary: "pod mode: enrol with the controller and run the jobs it sends until stopped",
  help: `Usage: cacheon-agent run --controller URL --token TOKEN --pod ID [options]

Dials out to the controller (pods sit behind NAT), trades the one-time enrolment TOKEN for a
session credential (saved to --state so a restart resumes without the used token), then keeps one
session open: runs each job it is sent, streams its events, and reconnects with backoff and jitter
when the network drops. The pod never holds wallet keys or storage credentials. On start it removes
what an earlier run of this agent left (containers, networks and firewall rules labelled with its
agent id, images of an interrupted job); each job's pulled images are removed when it ends, the
pinned baseline's excepted. --controller must be https:// except on loopback.

Options:
  --controller URL   controller address, https://host:port (http:// only for loopback)
  --token TOKEN      one-time enrolment token minted for this pod (cpe_...)
  --pod ID           the pod id the token was minted for
  --ca FILE          PEM certificate to trust for the controller (self-signed controllers)
  --state FILE       where the session credential is kept (default .cacheon/agent-credential.json);
                     agent-state.db beside it keeps unsent events, their sequence and the job in
                     progress, so a restart (even kill -9) loses nothing and reports that job failed
  --profile NAME|FILE  hardware profile the machine is probed against before enrolling; the report
                     goes to the controller with the enrolment ("none" for local development)
                     (default ${defaultProfileName}; env CACHEON_HARDWARE_PROFILE). Each job is
                     verified again against the profile the job names, before anything is pulled.
  --nvidia-smi PATH  nvidia-smi the probe and the GPU idle gate run (default: nvidia-smi on PATH)
  --no-bandwidth     skip the active GPU-to-GPU copy test each job runs in the baseline image
                     (on by default in pod mode, for profiles that set a bandwidth threshold)
  --direct-pulls     pull without the loopback registry gate (only where Docker cannot reach this
                     process's loopback); image sizes are then checked from progress and after
  --cpus N           CPUs each arm's container may use                     (default 32)
  --memory-mib N     memory of each arm's container, MiB (swap equal)      (default 204800)
  --nofile N         open-files limit in the containers                    (default 65536)
  --json             log JSON lines

Docker is reached on DOCKER_SOCKET (default /var/run/docker.sock).

Exit codes: 0 stopped by a signal, 1 refused by the controller, 2 usage or configuration error,
or the hardware probe could not tell (nvidia-smi missing or failing under a GPU profile).`,
  options: {
    controller: { type: "string" },
    token: { type: "string" },
    pod: { type: "string" },
    ca: { type: "string" },
    state: { type: "string" },
    profile: { type: "string" },
    "nvidia-smi": { type: "string" },
    "no-bandwidth": { type: "boolean" },
    "direct-pulls": { type: "boolean" },
    cpus: { type: "string" },
    "memory-mib": { type: "string" },
    nofile: { type: "string" },
  },
  async run(values, _positionals, io) {
    const url = values.controller as string | undefined;
    const podId = values.pod as string | undefined;
    if (!url || !podId) {
      io.stderr.write(
        "cacheon-agent run: --controller and --pod are required. Run `cacheon-agent run --help`.\n",
      );
      return ExitCode.usage;
    }
    const log = createLogger({
      ...(values.json ? { format: "json" as const } : {}),
      stream: io.stderr as never,
    }).child({
      podId,
    });
    const statePath = (values.state as string | undefined) ?? ".cacheon/agent-credential.json";
    // The token and the session credential must not cross a network in clear text.
    requireTlsOffLoopback(url, "--controller");
    const endpoint = { url, ...(values.ca ? { caPem: readFileSync(values.ca as string) } : {}) };
    const profile =
      (values.profile as string | undefined) ?? io.env.CACHEON_HARDWARE_PROFILE ?? defaultProfileName;
    loadHardwareProfile(profile); // a bad profile is a usage error now, not at the first job
    const nvidiaSmiPath = values["nvidia-smi"] as string | undefined;
    // Only the limits given: an undefined field would override the container's default.
    const limits = Object.fromEntries(
      Object.entries({
        cpus: positive(values.cpus, "--cpus", false),
        memoryBytes: mibToBytes(positive(values["memory-mib"], "--memory-mib", true)),
        nofile: positive(values.nofile, "--nofile", true),
      }).filter(([, v]) => v !== undefined),
    );
    const docker = new Docker({ socketPath: io.env.DOCKER_SOCKET ?? "/var/run/docker.sock" });
    let credential = readCredential(statePath, podId);
    if (!credential) {
      const token = values.token as string | undefined;
      if (!token) {
        io.stderr.write(`cacheon-agent run: no saved credential in ${statePath}; pass --token to enrol.\n`);
        return ExitCode.usage;
      }
      // The controller learns what it rented before it sends a job: the report goes with Enrol,
      // also when the machine falls short (the controller decides; every job re-checks anyway).
      log.info("probing hardware", { profile });
      const hardware = await probeHardware({
        profile,
        nvidiaSmiPath,
        docker,
        env: io.env,
        signal: io.signal,
      });
      if (hardware.ok) log.info("hardware meets the profile", { profile, gpus: hardware.gpus.length });
      else
        log.warn("hardware does not meet the profile; enrolling with the report", {
          profile,
          failures: hardware.failures.map((f) => `${f.rule} (${f.subject}): ${f.detail}`),
        });
      try {
        credential = await enrolWithController({
          endpoint,
          token,
          podId,
          hardware,
          agentVersion,
          signal: io.signal,
        });
      } catch (error) {
        return refused(error, io.stderr);
      }
      mkdirSync(dirname(statePath), { recursive: true });
      writeFileSync(statePath, JSON.stringify({ podId, url, ...credential }), { mode: 0o600 });
      chmodSync(statePath, 0o600);
      log.info("enrolled", { agentId: credential.agentId, state: statePath });
    }
    // Beside the credential: the outbox and its sequence, the job in progress, the pulled images.
    const state = AgentStateStore.open(join(dirname(statePath), "agent-state.db"));
    try {
      // Everything is labelled with the agent's id; what a killed run left (containers holding the
      // GPUs, its network and firewall rule, the interrupted job's images) goes before a new job.
      const owner = credential.agentId;
      await sweepLeftovers({
        docker,
        owner,
        images: state.pulledImages(),
        onImageRemoved: (id) => state.imageRemoved(id),
        logger: log,
      });
      const { createPodJobExecutor } = await import("../job/run-pod-job.ts");
      const executor = createPodJobExecutor({
        docker,
        owner,
        logger: log,
        nvidiaSmiPath,
        env: io.env,
        bandwidthCheck: !values["no-bandwidth"],
        limits,
        removeImages: true,
        ...(values["direct-pulls"] ? { pullGate: false } : {}),
        imageLedger: {
          pulled: (id, jobId) => state.imagePulled(id, jobId),
          removed: (id) => state.imageRemoved(id),
        },
      });
      await runAgentSession({
        endpoint,
        credential,
        executor,
        state,
        agentVersion,
        signal: io.signal,
        logger: log,
        onConnected: ({ lastAgentSeq }) => log.info("connected to the controller", { lastAgentSeq }),
      });
    } catch (error) {
      return refused(error, io.stderr);
    } finally {
      state.close();
    }
    return ExitCode.ok;
  },
};

/** A flag's positive number (an integer when asked), undefined when absent; a usage error otherwise. */
function positive(raw: unknown, flag: string, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new CacheonError(
      "invalid-argument",
      `${flag} must be a positive ${integer ? "integer" : "number"}, got "${String(raw)}"`,
    );
  }
  return n;
}

function mibToBytes(mib: number | undefined): number | undefined {
  return mib === undefined ? undefined : mib * 1024 * 1024;
}

/** Exit 1 when the controller refused this agent, 2 for anything else. */
function refused(error: unknown, stderr: NodeJS.WritableStream): number {
  const err = CacheonError.from(error);
  stderr.write(`cacheon-agent run: ${err.message}\n`);
  return err.code === "permission-denied" || err.code === "failed-precondition"
    ? ExitCode.negative
    : ExitCode.usage;
}

function readCredential(path: string, podId: string): AgentCredential | undefined {
  if (!existsSync(path)) return undefined;
  let saved: Partial<AgentCredential & { podId: string }>;
  try {
    saved = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new CacheonError(
      "invalid-config",
      `${path} is not valid JSON (${(error as Error).message}); delete it and enrol again`,
    );
  }
  if (saved.podId !== podId || !saved.agentId || !saved.sessionCredential) return undefined;
  return {
    agentId: saved.agentId,
    sessionCredential: saved.sessionCredential,
    heartbeatIntervalMs: saved.heartbeatIntervalMs ?? 5000,
    heartbeatDeadlineMs: saved.heartbeatDeadlineMs ?? 20_000,
  };
}
