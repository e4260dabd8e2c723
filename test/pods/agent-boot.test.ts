import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type AgentBundle, buildAgentBundle } from "../../bundle/build-agent-bundle.ts";
import { checkCloudConfig } from "../../controller/cli/cloud-init-command.ts";
import { ControlPlane } from "../../controller/control-plane/control-plane.ts";
import {
  type ControlPlaneServer,
  startControlPlaneServer,
} from "../../controller/control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../../controller/control-plane/control-plane-store.ts";
import { podPaths, renderCloudInit } from "../../controller/pods/cloud-init.ts";
import { testServices } from "../support/services.ts";

/** Parses a systemd environment file (KEY=VALUE lines) as systemd does for the values we write. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match?.[1]) env[match[1]] = match[2] ?? "";
  }
  return env;
}

/** Splits ExecStart into words and expands ${VAR} as systemd does (the values hold no spaces). */
function execStart(unit: string, env: Record<string, string>): string[] {
  const line = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "";
  return line.split(/\s+/).map((word) =>
    word.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => {
      if (!(name in env))
        throw new Error(`ExecStart uses \${${name}}, which the environment file does not set`);
      return env[name] as string;
    }),
  );
}

describe("the agent bundle", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("is one file with its sha256 beside it, the same bytes on every build, and runs under Node", async () => {
    const a = mkdtempSync(join(tmpdir(), "cacheon-bundle-a-"));
    const b = mkdtempSync(join(tmpdir(), "cacheon-bundle-b-"));
    dirs.push(a, b);
    const [first, second] = [await buildAgentBundle({ outDir: a }), await buildAgentBundle({ outDir: b })];
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(second.sha256).toBe(first.sha256);
    expect(readFileSync(first.sha256File, "utf8")).toBe(`${first.sha256}  cacheon-agent.mjs\n`);
    expect(readFileSync(first.file).includes(Buffer.from(join(import.meta.dirname, "..", "..")))).toBe(false);
    const help = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [first.file, "run", "--help"], (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    );
    expect(help).toMatch(/Usage: cacheon-agent run --controller URL --token TOKEN --pod ID/);
  });
});

describe("a pod boots the agent the way its systemd unit would, and it enrols", () => {
  const dir = mkdtempSync(join(tmpdir(), "cacheon-boot-"));
  let bundle: AgentBundle;
  let bundleServer: Server;
  let bundleUrl: string;
  let store: SqliteControlPlaneStore;
  let controlPlane: ControlPlane;
  let server: ControlPlaneServer;
  const agents: ChildProcess[] = [];

  beforeAll(async () => {
    bundle = await buildAgentBundle({ outDir: join(dir, "published") });
    const bytes = readFileSync(bundle.file);
    bundleServer = createServer((req, res) => {
      if (req.url === "/cacheon-agent.mjs") res.end(bytes);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => bundleServer.listen(0, "127.0.0.1", resolve));
    bundleUrl = `http://127.0.0.1:${(bundleServer.address() as AddressInfo).port}/cacheon-agent.mjs`;
    store = new SqliteControlPlaneStore();
    controlPlane = new ControlPlane({ store });
    server = await startControlPlaneServer({ controlPlane });
  });

  afterAll(async () => {
    for (const agent of agents) if (agent.exitCode === null) agent.kill("SIGKILL");
    await server?.close();
    store?.close();
    await new Promise<void>((resolve) => bundleServer?.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const waitFor = async (what: string, check: () => boolean, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it("fetches and checks the bundle, starts it with the unit's command line and environment file, enrols, and resumes after a restart", async () => {
    const podId = "cacheon-boot-1";
    const { token } = controlPlane.mintEnrolmentToken(podId, 10 * 60_000);
    const userData = renderCloudInit({
      podId,
      controllerUrl: server.url,
      enrolmentToken: token,
      bundleUrl,
      bundleSha256: bundle.sha256,
      // No GPUs here: the agent reports against the "none" profile instead of h200x8.
      hardwareProfile: "none",
    });
    expect(checkCloudConfig(userData).ok).toBe(true);
    const files = new Map(
      (parse(userData) as { write_files: { path: string; content: string }[] }).write_files.map((f) => [
        f.path,
        f.content,
      ]),
    );

    // The pod's layout under a temporary root: cloud-init writes the files, bootstrap fetches the bundle.
    const onPod = (path: string) => join(dir, "root", path);
    for (const [path, content] of files) {
      const target = onPod(path);
      mkdirSync(join(target, ".."), { recursive: true });
      writeFileSync(target, content, { mode: path.endsWith(".sh") ? 0o700 : 0o600 });
    }
    mkdirSync(join(onPod(podPaths.bundle), ".."), { recursive: true });
    const fetched = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        "bash",
        [onPod(podPaths.fetchBundle), bundleUrl, bundle.sha256, onPod(podPaths.bundle)],
        (error, _o, stderr) => resolve({ code: error ? 1 : 0, stderr }),
      ),
    );
    expect(fetched).toEqual({ code: 0, stderr: "" });
    expect(statSync(onPod(podPaths.bundle)).mode & 0o777).toBe(0o755);

    const unit = files.get(podPaths.unit) ?? "";
    const envFile = /^EnvironmentFile=(.*)$/m.exec(unit)?.[1] ?? "";
    expect(envFile).toBe(podPaths.envFile);
    const env = parseEnvFile(readFileSync(onPod(envFile), "utf8"));
    const argv = execStart(unit, env).map((word) =>
      word === podPaths.node ? process.execPath : word.startsWith("/") ? onPod(word) : word,
    );
    const [program, ...args] = argv;
    mkdirSync(join(onPod(podPaths.credential), ".."), { recursive: true });

    const start = () => {
      // systemd gives a service the environment file's variables and a default PATH, nothing else.
      const child = spawn(program as string, args, {
        env: {
          ...env,
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          DOCKER_SOCKET: testServices().dockerSocket,
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let log = "";
      child.stderr?.on("data", (chunk) => {
        log += String(chunk);
      });
      agents.push(child);
      return { child, log: () => log };
    };
    const connected = () => controlPlane.connectedAgents().filter((a) => a.podId === podId);

    const first = start();
    await waitFor(
      "the agent to enrol and connect",
      () => connected().length === 1 || first.child.exitCode !== null,
    );
    expect(first.child.exitCode, first.log()).toBeNull();
    const agentId = connected()[0]?.agentId;
    expect(agentId).toBeTruthy();
    expect(existsSync(onPod(podPaths.credential))).toBe(true);
    expect(statSync(onPod(podPaths.credential)).mode & 0o777).toBe(0o600);

    // systemd stops it (SIGTERM) and starts it again with the same, now used, token.
    first.child.kill("SIGTERM");
    await waitFor(
      "the agent to stop",
      () => first.child.exitCode !== null || first.child.signalCode !== null,
    );
    await waitFor("the session to close", () => connected().length === 0);
    const second = start();
    await waitFor("the agent to reconnect", () => connected().length === 1 || second.child.exitCode !== null);
    expect(second.child.exitCode, second.log()).toBeNull();
    expect(connected()[0]?.agentId).toBe(agentId);
    second.child.kill("SIGTERM");
    await waitFor(
      "the agent to stop",
      () => second.child.exitCode !== null || second.child.signalCode !== null,
    );
  });
});
