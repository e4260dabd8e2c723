import { execFile, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { checkCloudConfig } from "../../controller/cli/cloud-init-command.ts";
import { controllerProgram } from "../../controller/cli/main.ts";
import { createBootReportHandler } from "../../controller/pods/boot-report-handler.ts";
import { findLeakedSecrets, podPaths, renderCloudInit } from "../../controller/pods/cloud-init.ts";
import { Fleet } from "../../controller/pods/fleet.ts";
import { openSqlitePodLedger } from "../../controller/pods/pod-ledger.ts";
import { runCli } from "../../shared/cli/cli-command.ts";
import { createFakeCloud, type FakeCloud } from "./fake-cloud.ts";

const sha = createHash("sha256").update("bundle").digest("hex");
const base = {
  podId: "cacheon-test-1",
  controllerUrl: "https://controller.example:7443",
  enrolmentToken: "cet_Q2FjaGVvbi10ZXN0LXRva2VuLTAx",
  bundleUrl: "https://bundles.example/cacheon-agent-0.1.0.mjs",
  bundleSha256: sha,
};

/** The files cloud-init would write, by path. */
function writeFiles(userData: string): Map<string, { content: string; permissions: string; owner: string }> {
  const doc = parse(userData) as {
    write_files: { path: string; content: string; permissions: string; owner: string }[];
  };
  return new Map(doc.write_files.map((f) => [f.path, f]));
}

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "cacheon-cloud-init-test-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs a script without blocking the event loop (the servers it talks to live in this process). */
function bash(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      args,
      { encoding: "utf8", env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ status: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("cloud-init user-data", () => {
  it("passes the real `cloud-init schema`, with and without an explicit boot report URL", () => {
    for (const options of [base, { ...base, podId: "p", bootReportUrl: "https://reports.example/boot" }]) {
      const result = checkCloudConfig(renderCloudInit(options));
      expect(result.output).toMatch(/Valid cloud-config/);
      expect(result.ok).toBe(true);
    }
  });

  it("is checked for real: `cloud-init schema` rejects a broken document", () => {
    const broken = renderCloudInit(base).replace("runcmd:", "runcmd: 3\nbad:");
    expect(checkCloudConfig(broken).ok).toBe(false);
  });

  it("writes the token and controller address root-only and runs the agent from a restarting unit", () => {
    const files = writeFiles(renderCloudInit(base));
    const env = files.get(podPaths.envFile);
    expect(env).toMatchObject({ permissions: "0600", owner: "root:root" });
    expect(env?.content.split("\n")).toEqual([
      "CACHEON_POD_ID=cacheon-test-1",
      "CACHEON_CONTROLLER_URL=https://controller.example:7443",
      `CACHEON_ENROLMENT_TOKEN=${base.enrolmentToken}`,
      "CACHEON_BOOT_REPORT_URL=https://controller.example:7443/v1/pods/cacheon-test-1/boot-failure",
      `CACHEON_BUNDLE_URL=${base.bundleUrl}`,
      `CACHEON_BUNDLE_SHA256=${sha}`,
      "CACHEON_HARDWARE_PROFILE=h200x8",
      "",
    ]);
    const unit = files.get(podPaths.unit)?.content ?? "";
    expect(unit).toContain(`EnvironmentFile=${podPaths.envFile}`);
    expect(unit).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd expands these from the environment file
      "ExecStart=/usr/bin/node /opt/cacheon/agent/cacheon-agent.mjs run --controller ${CACHEON_CONTROLLER_URL} --token ${CACHEON_ENROLMENT_TOKEN} --pod ${CACHEON_POD_ID} --profile ${CACHEON_HARDWARE_PROFILE} --state /var/lib/cacheon/agent-credential.json --json",
    );
    expect(unit).toMatch(/Restart=always/);
    expect(unit).toMatch(/OnFailure=cacheon-agent-failed.service/);
    // The token is in exactly one file.
    const withToken = [...files.values()].filter((f) => f.content.includes(base.enrolmentToken));
    expect(withToken).toHaveLength(1);
    const bootstrap = files.get(podPaths.bootstrap)?.content ?? "";
    for (const stage of ["nvidia-driver", "docker", "nvidia-container-toolkit", "node", "bundle", "start"]) {
      expect(bootstrap).toContain(`stage=${stage}`);
    }
    for (const [path, file] of files) {
      if (path.endsWith(".sh"))
        expect(spawnSync("bash", ["-n"], { input: file.content }).status, path).toBe(0);
    }
  });

  it("refuses every bad input at once, saying what is wrong", () => {
    expect(() =>
      renderCloudInit({
        podId: "Pod 1",
        controllerUrl: "javascript:alert(1)",
        enrolmentToken: "short",
        bundleUrl: "https://user:pass@bundles.example/x",
        bundleSha256: "abc",
      }),
    ).toThrow(
      /pod id "Pod 1" must be 1-63 lowercase.*controller URL "javascript:alert\(1\)" must be an http\(s\) URL.*bundle URL must not carry credentials.*enrolment token must be 16-512 characters.*bundle sha256 "abc" must be 64 lowercase hex digits/,
    );
    expect(() => renderCloudInit({ ...base, enrolmentToken: `${base.enrolmentToken}\nEVIL=1` })).toThrow(
      /enrolment token/,
    );
    expect(() => renderCloudInit({ ...base, bundleUrl: "https://b.example/$(reboot)" })).toThrow(
      /bundle URL/,
    );
    expect(() => renderCloudInit({ ...base, bootReportUrl: "ftp://x" })).toThrow(/boot report URL/);
    expect(() => renderCloudInit({ ...base, bundleSha256: sha.toUpperCase() })).toThrow(/lowercase hex/);
  });

  it("refuses plain http to another machine (the token would cross the network in clear), keeps it on loopback", () => {
    expect(() => renderCloudInit({ ...base, controllerUrl: "http://10.0.0.5:7443" })).toThrow(
      /controller URL http:\/\/10\.0\.0\.5:7443 is plain http to another machine; use https:\/\//,
    );
    expect(() => renderCloudInit({ ...base, bootReportUrl: "http://controller.example/report" })).toThrow(
      /boot report URL .* is plain http to another machine/,
    );
    expect(() => renderCloudInit({ ...base, bundleUrl: "http://bundles.example/agent.mjs" })).toThrow(
      /bundle URL .* is plain http to another machine/,
    );
    expect(renderCloudInit({ ...base, controllerUrl: "http://127.0.0.1:7443" })).toContain(
      "CACHEON_CONTROLLER_URL=http://127.0.0.1:7443",
    );
  });

  it("finds the value of a secret-looking variable in user-data, and ignores ordinary ones", () => {
    const userData = renderCloudInit(base);
    expect(
      findLeakedSecrets(userData, {
        CACHEON_WALLET_SEED: base.enrolmentToken,
        AWS_SECRET_ACCESS_KEY: "not-in-there-123",
        HOME: "/root",
        PODS_CONTROLLER: base.controllerUrl,
      }),
    ).toEqual(["CACHEON_WALLET_SEED"]);
  });
});

describe("cacheon-controller cloud-init", () => {
  const run = async (argv: string[], env: Record<string, string> = {}) => {
    let stdout = "";
    let stderr = "";
    const sink = (write: (s: string) => void) =>
      new Writable({
        write(chunk, _enc, done) {
          write(String(chunk));
          done();
        },
      });
    const code = await runCli({
      ...controllerProgram,
      argv: ["cloud-init", ...argv],
      io: {
        stdout: sink((s) => {
          stdout += s;
        }),
        stderr: sink((s) => {
          stderr += s;
        }),
        env,
        signal: new AbortController().signal,
      },
    });
    return { code, stdout, stderr };
  };
  const flags = [
    "--controller",
    base.controllerUrl,
    "--bundle-url",
    base.bundleUrl,
    "--bundle-sha256",
    sha,
    "--token",
    base.enrolmentToken,
  ];
  // What a controller host's environment holds: none of it may reach a pod.
  const secrets = {
    CACHEON_CONTROLLER_WALLET_HOTKEY_SEED:
      "0x9f3c2a55d0e1b7c4a6f8e2d1c3b5a7f9e1d3c5b7a9f1e3d5c7b9a1f3e5d7c9b1",
    CACHEON_CONTROLLER_S3_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
  };

  it("writes valid user-data mode 0600 with --out --check --json, containing no key or storage credential", async () => {
    const out = join(tempDir(), "user-data");
    const result = await run(
      ["--pod", "cacheon-cli-1", "--out", out, "--check", "--json", ...flags],
      secrets,
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ podId: "cacheon-cli-1", out, schemaValid: true });
    const text = readFileSync(out, "utf8");
    expect(summary.sha256).toBe(createHash("sha256").update(text).digest("hex"));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    expect(text).not.toMatch(/secretPhrase|secretSeed|AWS_|S3_|mnemonic/i);
  });

  it("mints a one-time token in the controller's store with --mint", async () => {
    const store = join(tempDir(), "controller.db");
    const result = await run(["--pod", "cacheon-cli-3", "--mint", "--store", store, ...flags.slice(0, 6)]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const token = /CACHEON_ENROLMENT_TOKEN=(\S+)/.exec(result.stdout)?.[1] ?? "";
    expect(token).toMatch(/^cpe_[A-Za-z0-9_-]{43}$/);
    const { SqliteControlPlaneStore } = await import("../../controller/control-plane/control-plane-store.ts");
    const { hashSecret } = await import("../../controller/control-plane/secrets.ts");
    const opened = new SqliteControlPlaneStore({ path: store });
    try {
      expect(JSON.stringify(opened.enrolmentToken(hashSecret(token)) ?? {})).toContain("cacheon-cli-3");
    } finally {
      opened.close();
    }
  });

  it("reads settings from the environment and prints to stdout without --out", async () => {
    const result = await run(["--pod", "cacheon-cli-2", "--token", base.enrolmentToken], {
      CACHEON_CONTROLLER_PODS_CONTROLLER_URL: "https://env.example",
      CACHEON_CONTROLLER_PODS_BUNDLE_URL: base.bundleUrl,
      CACHEON_CONTROLLER_PODS_BUNDLE_SHA256: sha,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^#cloud-config\n/);
    expect(result.stdout).toContain("CACHEON_CONTROLLER_URL=https://env.example");
  });

  it("exits 2 with a message for each usage error", async () => {
    const cases: [string[], RegExp][] = [
      [flags, /--pod ID is required/],
      [
        ["--pod", "p1", "--controller", base.controllerUrl],
        /enrolment token is required: pass --token TOKEN or --mint/,
      ],
      [["--pod", "p1", "--mint", ...flags], /either --token or --mint/],
      [
        ["--pod", "p1", "--mint", "--ttl-minutes", "0", "--controller", base.controllerUrl],
        /--ttl-minutes must be between 1 and 10080 \(got 0\)/,
      ],
      [
        ["--pod", "p1", "--token", base.enrolmentToken],
        /missing pods.controllerUrl, pods.bundleUrl, pods.bundleSha256: pass --controller, --bundle-url, --bundle-sha256/,
      ],
      [["--pod", "p1", "--json", ...flags], /--json prints a summary, so the user-data needs --out FILE/],
      [["--pod", "P1", ...flags], /pod id "P1"/],
      [["--pod", "p1", "--bogus"], /Unknown option '--bogus'/],
    ];
    for (const [argv, message] of cases) {
      const result = await run(argv);
      expect(result.stderr, argv.join(" ")).toMatch(message);
      expect(result.code, argv.join(" ")).toBe(2);
    }
    const leak = await run(["--pod", "p1", ...flags], { MY_WALLET_PASSWORD: base.enrolmentToken });
    expect(leak).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/contains the value of MY_WALLET_PASSWORD/),
    });
  });

  it("prints help", async () => {
    const result = await run(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: cacheon-controller cloud-init --pod ID/);
  });
});

describe("the pod's scripts, run for real", () => {
  let server: Server;
  let url: string;
  const bundle = Buffer.from("console.log('agent')\n");
  const bundleSha = createHash("sha256").update(bundle).digest("hex");
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/cacheon-agent.mjs") res.end(bundle);
      else res.writeHead(404).end();
    });
    url = await listen(server);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const fetchScript = () => {
    const path = join(tempDir(), "fetch-bundle.sh");
    writeFileSync(path, writeFiles(renderCloudInit(base)).get(podPaths.fetchBundle)?.content ?? "", {
      mode: 0o700,
    });
    return path;
  };

  it("fetch-bundle installs a bundle whose sha256 matches, executable", async () => {
    const dest = join(tempDir(), "cacheon-agent.mjs");
    const result = await bash([fetchScript(), `${url}/cacheon-agent.mjs`, bundleSha, dest]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(readFileSync(dest)).toEqual(bundle);
    expect(statSync(dest).mode & 0o777).toBe(0o755);
  });

  it("fetch-bundle refuses a bundle whose sha256 differs and leaves nothing behind", async () => {
    const dir = tempDir();
    const dest = join(dir, "cacheon-agent.mjs");
    const wrong = createHash("sha256").update("other").digest("hex");
    const result = await bash([fetchScript(), `${url}/cacheon-agent.mjs`, wrong, dest]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`has sha256 ${bundleSha}, expected ${wrong}: refusing to run it`);
    expect(existsSync(dest)).toBe(false);
    expect(spawnSync("ls", [dir], { encoding: "utf8" }).stdout).toBe("");
  });

  it("fetch-bundle fails on a download error", async () => {
    const dest = join(tempDir(), "cacheon-agent.mjs");
    const result = await bash([fetchScript(), `${url}/missing.mjs`, bundleSha, dest]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`could not download the agent bundle from ${url}/missing.mjs`);
  });
});

describe("boot failure reports: the pod's report script against the controller's endpoint", () => {
  let cloud: FakeCloud;
  afterEach(async () => {
    const left = await cloud.provider.list();
    cloud.dispose();
    expect(left).toEqual([]);
  });

  it("fails the pod, notes its host and returns the machine; a forged token is refused", async () => {
    cloud = createFakeCloud();
    const ledger = openSqlitePodLedger(":memory:");
    const tokens = new Map<string, string>();
    let server: Server | undefined;
    let controllerUrl = "";
    const fleet = new Fleet({
      provider: cloud.provider,
      ledger,
      tokens: {
        async mint(podId) {
          const token = `cet_${randomBytes(24).toString("base64url")}`;
          tokens.set(podId, token);
          return token;
        },
      },
      userData: ({ podId, enrolmentToken }) =>
        renderCloudInit({
          ...base,
          podId,
          enrolmentToken,
          controllerUrl,
          bundleUrl: `${controllerUrl}/b.mjs`,
        }),
    });
    const handler = createBootReportHandler({ fleet });
    server = createServer((req, res) => {
      if (!handler(req, res)) res.writeHead(404).end();
    });
    controllerUrl = await listen(server);
    try {
      const pod = await fleet.request({ name: "h200x8", gpuModel: "H200", gpuCount: 8 });
      // What the pod received through the provider, exactly.
      const files = writeFiles(cloud.userData(pod.providerPodId));
      const dir = tempDir();
      const envFile = join(dir, "agent.env");
      writeFileSync(envFile, files.get(podPaths.envFile)?.content ?? "");
      const report = join(dir, "report-failure.sh");
      writeFileSync(report, files.get(podPaths.reportFailure)?.content ?? "", { mode: 0o700 });

      const forgedEnv = join(dir, "forged.env");
      writeFileSync(
        forgedEnv,
        readFileSync(envFile, "utf8").replace(
          /CACHEON_ENROLMENT_TOKEN=.*/,
          "CACHEON_ENROLMENT_TOKEN=cet_forged_forged_forged",
        ),
      );
      const forged = await bash([report, "docker", "no"], { CACHEON_ENV_FILE: forgedEnv });
      expect(forged.status).toBe(0);
      expect(forged.stderr).toMatch(/401/);
      expect(fleet.get(pod.podId).state).toBe("booting");

      const result = await bash(
        [
          report,
          "nvidia-container-toolkit",
          "apt-get install nvidia-container-toolkit failed",
          "E: Unable to locate package",
        ],
        { CACHEON_ENV_FILE: envFile },
      );
      expect(result.stderr).toBe("");
      expect(fleet.get(pod.podId)).toMatchObject({
        state: "failed",
        returned: true,
        endReason: "boot failed at nvidia-container-toolkit: apt-get install nvidia-container-toolkit failed",
      });
      expect(ledger.hostNotes()).toEqual([expect.objectContaining({ podId: pod.podId, host: pod.host })]);
    } finally {
      await fleet.shutdown("test over");
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      ledger.close();
    }
  });

  it("answers bad requests with the right status", async () => {
    cloud = createFakeCloud();
    const token = "cet_good_token_0123456789";
    const fleet = new Fleet({
      provider: cloud.provider,
      ledger: openSqlitePodLedger(":memory:"),
      tokens: { mint: async () => token },
      userData: () => "#cloud-config\n",
    });
    const pod = await fleet.request({ name: "h200x8", gpuModel: "H200", gpuCount: 8 });
    const handler = createBootReportHandler({ fleet, maxBodyBytes: 1000 });
    const server = createServer((req, res) => {
      if (!handler(req, res)) res.writeHead(404).end();
    });
    const url = await listen(server);
    try {
      const post = (path: string, body: string, auth = `Bearer ${token}`, method = "POST") =>
        fetch(`${url}${path}`, {
          method,
          body: method === "GET" ? undefined : body,
          headers: { authorization: auth },
        }).then((r) => r.status);
      const path = `/v1/pods/${pod.podId}/boot-failure`;
      expect(await post(path, "{}", `Bearer ${token}`, "GET")).toBe(405);
      expect(await post(path, "{}", "Bearer wrong")).toBe(401);
      expect(await post(path, "{}", "")).toBe(401);
      expect(await post("/v1/pods/cacheon-unknown/boot-failure", "{}")).toBe(401);
      expect(await post(path, "not json")).toBe(400);
      expect(await post(path, JSON.stringify({ stage: "", message: "x" }))).toBe(400);
      expect(await post(path, JSON.stringify({ stage: "docker", message: "x".repeat(2000) }))).toBe(413);
      expect(await post("/v1/other", "{}")).toBe(404);
      expect(fleet.get(pod.podId).state).toBe("booting");
      expect(await post(path, JSON.stringify({ stage: "docker", message: "no docker" }))).toBe(204);
      expect(fleet.get(pod.podId).state).toBe("failed");
    } finally {
      await fleet.shutdown("test over");
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
