import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import Docker from "dockerode";
import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { createLogger } from "../../shared/log/logger.ts";
import { runAgentSession } from "../session/agent-session.ts";
import { type AgentCredential, enrolWithController } from "../session/controller-client.ts";

/** `cacheon-agent run`: pod mode. Enrols once with the one-time token, then serves jobs until stopped. */
export const runCommand: CliCommand = {
  name: "run",
  summary: "pod mode: enrol with the controller and run the jobs it sends until stopped",
  help: `Usage: cacheon-agent run --controller URL --token TOKEN --pod ID [options]

Dials out to the controller (pods sit behind NAT), trades the one-time enrolment TOKEN for a
session credential (saved to --state so a restart resumes without the used token), then keeps one
session open: runs each job it is sent, streams its events, and reconnects with backoff and jitter
when the network drops. The pod never holds wallet keys or storage credentials.

Options:
  --controller URL   controller address, https://host:port (http:// only for loopback)
  --token TOKEN      one-time enrolment token minted for this pod (cpe_...)
  --pod ID           the pod id the token was minted for
  --ca FILE          PEM certificate to trust for the controller (self-signed controllers)
  --state FILE       where the session credential is kept (default .cacheon/agent-credential.json)
  --profile NAME     hardware profile reported at enrolment (default "none")
  --json             log JSON lines

Exit codes: 0 stopped by a signal, 1 refused by the controller, 2 usage or configuration error.`,
  options: {
    controller: { type: "string" },
    token: { type: "string" },
    pod: { type: "string" },
    ca: { type: "string" },
    state: { type: "string" },
    profile: { type: "string" },
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
    const endpoint = { url, ...(values.ca ? { caPem: readFileSync(values.ca as string) } : {}) };
    let credential = readCredential(statePath, podId);
    if (!credential) {
      const token = values.token as string | undefined;
      if (!token) {
        io.stderr.write(`cacheon-agent run: no saved credential in ${statePath}; pass --token to enrol.\n`);
        return ExitCode.usage;
      }
      credential = await enrolWithController({
        endpoint,
        token,
        podId,
        agentVersion: process.env.npm_package_version ?? "0.1.0",
        signal: io.signal,
      });
      mkdirSync(dirname(statePath), { recursive: true });
      writeFileSync(statePath, JSON.stringify({ podId, url, ...credential }), { mode: 0o600 });
      chmodSync(statePath, 0o600);
      log.info("enrolled", { agentId: credential.agentId, state: statePath });
    }
    const docker = new Docker({ socketPath: io.env.DOCKER_SOCKET ?? "/var/run/docker.sock" });
    const { createPodJobExecutor } = await import("../job/run-pod-job.ts");
    try {
      await runAgentSession({
        endpoint,
        credential,
        executor: createPodJobExecutor({ docker, logger: log }),
        signal: io.signal,
        logger: log,
        onConnected: ({ lastAgentSeq }) => log.info("connected to the controller", { lastAgentSeq }),
      });
    } catch (error) {
      const err = CacheonError.from(error);
      io.stderr.write(`cacheon-agent run: ${err.message}\n`);
      return err.code === "permission-denied" || err.code === "failed-precondition"
        ? ExitCode.negative
        : ExitCode.usage;
    }
    return ExitCode.ok;
  },
};

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
