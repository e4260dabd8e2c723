import { chmodSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushSyntheticImage } from "../../agent/containers/testing/synthetic-image.ts";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { captureCli } from "../../test/support/capture-cli.ts";
import { createTestBucket, type TestBucket } from "../../test/support/s3-test-bucket.ts";
import { makeSelfSignedCert } from "../../test/support/self-signed-cert.ts";
import { testServices } from "../../test/support/services.ts";
import { controllerProgram } from "../cli/main.ts";
import { controllerConfigSchema, controllerEnvPrefix } from "../config/controller-config.ts";
import { openStore } from "../store/controller-store.ts";
import { acquireStoreLock } from "../store/store-lock.ts";
import { checkPublishTarget, probeKey } from "./check-publish-target.ts";
import { checkStore } from "./check-store.ts";
import { checkTls, type TlsSettings } from "./check-tls.ts";
import { type DoctorCheck, doctorExitCode, formatDoctorReport } from "./doctor-check.ts";
import { runDoctor } from "./run-doctor.ts";

// `doctor` against the real things: the devnet (endpoints, subnet, permits, commit-reveal and its
// drand beacon), the S3 server, the image registry, the Docker engine, and real files (hotkeys,
// TLS certificates made by openssl, SQLite stores with their lock).

let devnet: Devnet;
let bucket: TestBucket;
let dir: string;
let baseline: string;
let healthy: Record<string, string>;
const devPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

function writeHotkey(wallet: string, uri: string, override: Record<string, string> = {}, mode = 0o600): void {
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const folder = join(dir, "wallets", wallet, "hotkeys");
  mkdirSync(folder, { recursive: true });
  const path = join(folder, "default");
  writeFileSync(
    path,
    JSON.stringify({ secretPhrase: uri, ss58Address: keyring.addFromUri(uri).address, ...override }),
  );
  chmodSync(path, mode);
}

beforeAll(async () => {
  await cryptoWaitReady();
  dir = mkdtempSync(join(tmpdir(), "doctor-"));
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.2,
    seed: {
      subnets: [
        { netuid: 1, neurons: [{ hotkey: "//Alice", validatorPermit: true }, { hotkey: "//Bob" }] },
        {
          netuid: 2,
          tempo: 10,
          commitRevealWeightsEnabled: true,
          neurons: [{ hotkey: "//Alice", validatorPermit: true }, { hotkey: "//Bob" }],
        },
      ],
    },
  });
  writeHotkey("alice", `${devPhrase}//Alice`);
  writeHotkey("bob", `${devPhrase}//Bob`);
  writeHotkey("edited", `${devPhrase}//Alice`, {
    ss58Address: new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(`${devPhrase}//Bob`).address,
  });
  writeHotkey("open", `${devPhrase}//Alice`, {}, 0o644);
  bucket = await createTestBucket("cacheon-doctor");
  const registry = testServices().registry;
  baseline = await pushSyntheticImage({
    registry,
    repository: "cacheon-test/doctor-baseline",
    layers: [{ path: "/x", bytes: 16 }],
  });
  healthy = {
    CACHEON_CONTROLLER_CHAIN_ENDPOINTS: devnet.url,
    CACHEON_CONTROLLER_CHAIN_NETUID: "1",
    CACHEON_CONTROLLER_CHAIN_DRAND_PUBLIC_KEY: devnet.chain.beacon.publicKeyHex.replace(/^0x/, ""),
    CACHEON_CONTROLLER_CHAIN_DRAND_GENESIS_SECONDS: String(devnet.chain.beacon.info.genesisSeconds),
    CACHEON_CONTROLLER_CHAIN_DRAND_PERIOD_SECONDS: String(devnet.chain.beacon.info.periodSeconds),
    CACHEON_CONTROLLER_WALLET_PATH: join(dir, "wallets"),
    CACHEON_CONTROLLER_WALLET_NAME: "alice",
    CACHEON_CONTROLLER_STORE_PATH: join(dir, "fresh", "controller.db"),
    CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: baseline,
    CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: "ab".repeat(32),
    CACHEON_CONTROLLER_PUBLISH_TARGET: "s3",
    CACHEON_CONTROLLER_PUBLISH_S3_BUCKET: bucket.bucket,
    CACHEON_CONTROLLER_PUBLISH_S3_ENDPOINT: bucket.s3.endpoint,
    CACHEON_CONTROLLER_PUBLISH_S3_ACCESS_KEY_ID: bucket.s3.accessKeyId,
    CACHEON_CONTROLLER_PUBLISH_S3_SECRET_ACCESS_KEY: bucket.s3.secretAccessKey,
    // Evidence bundles beside the results (the artefacts.s3 fields left empty reuse publish.s3).
    CACHEON_CONTROLLER_ARTEFACTS_TARGET: "s3",
  };
}, 120_000);

afterAll(async () => {
  await bucket?.remove();
  await devnet?.close();
});

async function doctor(env: Record<string, string>): Promise<DoctorCheck[]> {
  let config: { values: Record<string, unknown> } | { error: Error };
  try {
    config = {
      values: loadConfig({ schema: controllerConfigSchema, env, envPrefix: controllerEnvPrefix }).values,
    };
  } catch (error) {
    config = { error: error as Error };
  }
  return runDoctor({ config, env: { PATH: process.env.PATH ?? "" } });
}

const find = (checks: DoctorCheck[], id: string, title?: RegExp) =>
  checks.find((c) => c.id === id && (!title || title.test(c.title)));

const cli = (argv: string[], env: Record<string, string>) => captureCli(controllerProgram, argv, env);

describe("cacheon-controller doctor", () => {
  it("passes a healthy validator: every check ok, exit 0, the same in --json", async () => {
    const checks = await doctor(healthy);
    const notOk = checks.filter((c) => c.status !== "ok" && c.status !== "skip");
    expect(notOk, formatDoctorReport(checks)).toEqual([]);
    expect(find(checks, "wallet")?.summary).toMatch(
      /^5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY from /,
    );
    expect(find(checks, "chain")?.summary).toMatch(/^Cacheon Devnet, runtime \S+ \d+, finalized block \d+$/);
    expect(find(checks, "chain")?.details?.[0]).toMatch(/^genesis 0x[0-9a-f]{64}$/);
    expect(find(checks, "permit")?.summary).toMatch(/^uid 0 holds a validator permit/);
    expect(find(checks, "commit-reveal")?.summary).toMatch(/off on subnet 1/);
    expect(find(checks, "store")?.summary).toMatch(/does not exist yet/);
    expect(find(checks, "publish")?.details?.[0]).toBe(
      `the leaderboard page will be s3://${bucket.bucket}/index.html`,
    );
    expect(find(checks, "providers")?.summary).toMatch(/^Docker \S+ answers/);
    expect(find(checks, "baseline-image")?.summary).toBe(`${baseline} is in ${testServices().registry}`);
    expect(find(checks, "artefacts")?.summary).toBe(`writable (s3://${bucket.bucket}/artefacts/${probeKey})`);
    expect(doctorExitCode(checks)).toBe(0);

    const { code, out } = await cli(["doctor", "--json"], healthy);
    expect(code).toBe(0);
    const json = JSON.parse(out) as { ok: boolean; checks: DoctorCheck[] };
    expect(json.ok).toBe(true);
    expect(json.checks.map((c) => c.id)).toEqual(checks.map((c) => c.id));
  });

  const broken: [string, Record<string, string>, string, RegExp, RegExp][] = [
    [
      "a hotkey without a validator permit",
      { CACHEON_CONTROLLER_WALLET_NAME: "bob" },
      "permit",
      /uid 1 has no validator permit/,
      /stake to the hotkey/,
    ],
    [
      "a hotkey not registered on the subnet",
      { CACHEON_CONTROLLER_WALLET_DEV_URI: "//Stranger" },
      "permit",
      /is not registered on subnet 1/,
      /btcli subnet register --netuid 1/,
    ],
    [
      "a hotkey file whose address is not its secret's",
      { CACHEON_CONTROLLER_WALLET_NAME: "edited" },
      "wallet",
      /derives .*corrupt or edited/,
      /create or restore it/,
    ],
    [
      "a missing hotkey file",
      { CACHEON_CONTROLLER_WALLET_NAME: "nobody" },
      "wallet",
      /cannot read the hotkey file .*ENOENT/,
      /btcli|wallet.path/,
    ],
    [
      "a subnet that does not exist",
      { CACHEON_CONTROLLER_CHAIN_NETUID: "7" },
      "subnet",
      /subnet 7 does not exist/,
      /chain.netuid/,
    ],
    [
      "commit-reveal under another drand beacon",
      { CACHEON_CONTROLLER_CHAIN_NETUID: "2", CACHEON_CONTROLLER_CHAIN_DRAND_PUBLIC_KEY: "" },
      "commit-reveal",
      /follows another beacon/,
      /set chain.drand.publicKey to [0-9a-f]{192}/,
    ],
    [
      "a bucket that does not exist",
      { CACHEON_CONTROLLER_PUBLISH_S3_BUCKET: "cacheon-doctor-no-such-bucket" },
      "publish",
      /cannot put s3:\/\/cacheon-doctor-no-such-bucket/,
      /bucket exists/,
    ],
    [
      "a baseline digest the registry does not have",
      { CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: baselineWithOtherDigest() },
      "baseline-image",
      /has no manifest sha256:0{64}/,
      /push the baseline/,
    ],
    [
      "a baseline that is not pinned by digest",
      { CACHEON_CONTROLLER_ROUNDS_BASELINE_IMAGE: "127.0.0.1:5000/cacheon/baseline:latest" },
      "baseline-image",
      /digest/,
      /pin the baseline by digest/,
    ],
  ];
  broken.push([
    "a round secret that is not 128 bits of hex",
    { CACHEON_CONTROLLER_ROUNDS_VALIDATOR_SECRET: "abc" },
    "config",
    /`serve` would refuse it/,
    /each line above names a setting to fix/,
  ]);
  for (const [name, change, id, summary, fix] of broken) {
    it(`names ${name} and what to do`, async () => {
      const env = { ...healthy, ...change };
      // A value given as "" falls back to its default (the environment's empty means unset).
      for (const [k, v] of Object.entries(change)) if (v === "") delete env[k];
      const checks = await doctor(env);
      const check = find(checks, id);
      expect(check?.status, formatDoctorReport(checks)).toBe("fail");
      expect(check?.summary).toMatch(summary);
      expect(check?.fix).toMatch(fix);
      expect(doctorExitCode(checks)).toBe(1);
    });
  }

  it("fails an endpoint that does not answer or serves another chain, and still checks the rest", async () => {
    const other = await startDevnet({
      port: 0,
      blockTimeSeconds: 0,
      seed: {
        chainName: "Other",
        subnets: [{ netuid: 1, neurons: [{ hotkey: "//Alice", validatorPermit: true }] }],
      },
    });
    try {
      const checks = await doctor({
        ...healthy,
        CACHEON_CONTROLLER_CHAIN_ENDPOINTS: `ws://127.0.0.1:1,${devnet.url},${other.url}`,
      });
      const endpoints = checks.filter((c) => c.id === "chain");
      expect(endpoints.map((c) => c.status)).toEqual(["fail", "ok", "ok", "fail"]);
      expect(endpoints[0]?.summary).toBe("cannot connect to 127.0.0.1:1 (ECONNREFUSED)");
      expect(endpoints[0]?.fix).toMatch(/that the node runs/);
      // Two devnets have different genesis hashes: endpoints of two chains are a mistake.
      expect(endpoints[3]?.summary).toMatch(/different chains/);
      expect(find(checks, "permit")?.status).toBe("ok");
    } finally {
      await other.close();
    }
  });

  it("warns about what does not stop serve but should be fixed, and --strict fails on it", async () => {
    const env = { ...healthy, CACHEON_CONTROLLER_WALLET_NAME: "open" };
    const checks = await doctor(env);
    expect(find(checks, "wallet")).toMatchObject({
      status: "warn",
      fix: expect.stringMatching(/^chmod 600 /),
    });
    expect(doctorExitCode(checks)).toBe(0);
    expect(doctorExitCode(checks, { strict: true })).toBe(1);
    const dev = await doctor({ ...healthy, CACHEON_CONTROLLER_WALLET_DEV_URI: "//Alice" });
    expect(find(dev, "wallet")).toMatchObject({
      status: "warn",
      fix: expect.stringMatching(/local chain only/),
    });
    expect(find(dev, "permit")?.status).toBe("ok");
    const { code, out } = await cli(["doctor", "--strict", "--only", "wallet"], env);
    expect(code).toBe(1);
    expect(out).toMatch(/^WARN {2}validator hotkey/m);
    expect(out).not.toMatch(/chain endpoint/);
  });

  it("warns a validator who keeps no evidence, naming the setting for its mode; probes a folder it writes to", async () => {
    const none = await doctor({ ...healthy, CACHEON_CONTROLLER_ARTEFACTS_TARGET: "none" });
    expect(find(none, "artefacts")).toMatchObject({
      status: "warn",
      summary: expect.stringMatching(/no evidence bundle is kept.*no miner can judge your verdicts again/),
      fix: expect.stringMatching(/^set artefacts.target folder/),
    });
    expect(doctorExitCode(none)).toBe(0);
    expect(doctorExitCode(none, { strict: true })).toBe(1);
    const remote = await checkPublishTarget(
      { target: "local", folder: join(dir, "published") },
      { target: "none" },
      { agentsMode: "remote" },
    );
    expect(remote.find((c) => c.id === "artefacts")?.fix).toMatch(
      /^set artefacts.target s3 .*pre-signed URLs/,
    );

    const folder = join(dir, "artefacts");
    const kept = await doctor({
      ...healthy,
      CACHEON_CONTROLLER_ARTEFACTS_TARGET: "folder",
      CACHEON_CONTROLLER_ARTEFACTS_FOLDER: folder,
    });
    expect(find(kept, "artefacts")).toMatchObject({ status: "ok", title: "raw artefact folder" });
    expect(readdirSync(folder)).toEqual([probeKey]);
    writeFileSync(join(dir, "a-file"), "");
    const blocked = await doctor({
      ...healthy,
      CACHEON_CONTROLLER_ARTEFACTS_TARGET: "folder",
      CACHEON_CONTROLLER_ARTEFACTS_FOLDER: join(dir, "a-file", "artefacts"),
    });
    expect(find(blocked, "artefacts")).toMatchObject({
      status: "fail",
      fix: expect.stringMatching(/fix artefacts.folder/),
    });
    expect(doctorExitCode(blocked)).toBe(1);
  });

  it("reports a configuration that does not load, and refuses unknown groups as usage", async () => {
    const { code, out } = await cli(["doctor"], { ...healthy, CACHEON_CONTROLLER_CHAIN_NETUID: "many" });
    expect(code).toBe(1);
    expect(out).toMatch(/^FAIL {2}configuration +it does not load/m);
    expect(out).toMatch(/CACHEON_CONTROLLER_CHAIN_NETUID: expected a number, got string "many"/);
    expect(out).toMatch(/^skip {2}wallet/m);
    const usage = await cli(["doctor", "--only", "wallet,nope"], healthy);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/unknown group nope; use config, wallet, chain/);
  });
});

describe("the store check", () => {
  it("names the process holding the lock, a holder that is gone, and a schema from the future", () => {
    const path = join(dir, "held", "controller.db");
    const store = openStore({ path, lock: { owner: "serve" } });
    try {
      const [schema, lock] = checkStore(path);
      expect(schema?.status).toBe("ok");
      expect(lock).toMatchObject({ id: "store-lock", status: "ok" });
      expect(lock?.summary).toMatch(
        new RegExp(`^held by serve pid ${process.pid} on host ${hostname()} since .*a running controller`),
      );
    } finally {
      store.close();
    }
    expect(checkStore(path)[1]?.summary).toMatch(/^free/);
    // A holder whose process is gone (a pid that does not run here).
    const stale = openStore({ path });
    acquireStoreLock(stale.db, path, {
      owner: "serve",
      self: { pid: 2 ** 22 + 7, host: hostname(), pidStart: "" },
    });
    stale.db.close();
    const [, gone] = checkStore(path);
    expect(gone).toMatchObject({ status: "warn", fix: expect.stringMatching(/takes the lock over/) });
    expect(gone?.summary).toMatch(/is gone/);
    const future = openStore({ path });
    future.db
      .prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 0)")
      .run();
    future.close();
    const [newer] = checkStore(path);
    expect(newer).toMatchObject({
      status: "fail",
      summary: expect.stringMatching(/schema version 999, newer/),
    });
  });
});

describe("the TLS check on files openssl made", () => {
  let good: { cert: string; key: string };
  let otherKey: string;
  let garbage: string;
  beforeAll(() => {
    const tls = join(dir, "tls");
    mkdirSync(tls, { recursive: true });
    const make = (name: string) => makeSelfSignedCert(tls, { name, days: 365 });
    good = make("good");
    otherKey = make("other").key;
    garbage = join(tls, "garbage.crt");
    writeFileSync(garbage, "not a certificate\n");
  });
  const day = 86_400_000;
  const settings = (s: Partial<TlsSettings>): TlsSettings => ({
    listen: "127.0.0.1:7443",
    tlsCertFile: good.cert,
    tlsKeyFile: good.key,
    allowPlaintext: false,
    used: true,
    ...s,
  });
  const cases: [string, () => Partial<TlsSettings>, number, string, RegExp][] = [
    [
      "a matching, valid certificate",
      () => ({}),
      0,
      "ok",
      /certificate and key match, valid for 36[45] more days/,
    ],
    ["another certificate's key", () => ({ tlsKeyFile: otherKey }), 0, "fail", /is not the key of/],
    ["an expired certificate", () => ({}), 400 * day, "fail", /expired on/],
    ["a certificate expiring soon", () => ({}), 355 * day, "warn", /expires in (9|10) days/],
    [
      "a certificate for another host",
      () => ({ listen: "192.0.2.1:7443" }),
      0,
      "warn",
      /does not name 192\.0\.2\.1/,
    ],
    [
      "a file that is no certificate",
      () => ({ tlsCertFile: garbage }),
      0,
      "fail",
      /is not a PEM certificate/,
    ],
    [
      "a missing key file",
      () => ({ tlsKeyFile: join(dir, "none.key") }),
      0,
      "fail",
      /cannot read .*none\.key: ENOENT/,
    ],
    ["only a certificate", () => ({ tlsKeyFile: "" }), 0, "fail", /only one of the certificate and key/],
    [
      "plaintext on loopback",
      () => ({ tlsCertFile: "", tlsKeyFile: "" }),
      0,
      "ok",
      /plaintext on 127\.0\.0\.1:7443 \(loopback only\)/,
    ],
    [
      "plaintext on a public address",
      () => ({ tlsCertFile: "", tlsKeyFile: "", listen: "0.0.0.0:7443" }),
      0,
      "fail",
      /plaintext on the non-loopback/,
    ],
    [
      "plaintext behind a proxy",
      () => ({ tlsCertFile: "", tlsKeyFile: "", listen: "0.0.0.0:7443", allowPlaintext: true }),
      0,
      "warn",
      /allowPlaintext/,
    ],
  ];
  for (const [name, change, laterMs, status, summary] of cases)
    it(name, async () => {
      const check = await checkTls(settings(change()), { nowMs: Date.now() + laterMs });
      expect(check.status, check.summary).toBe(status);
      expect(check.summary).toMatch(summary);
      if (status !== "ok") expect(check.fix).toBeTruthy();
    });
  it("does not apply in agents.mode local", async () => {
    expect((await checkTls(settings({ used: false }))).status).toBe("skip");
  });
});

function baselineWithOtherDigest(): string {
  return `${testServices().registry}/cacheon-test/doctor-baseline@sha256:${"0".repeat(64)}`;
}
