import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { minerProgram } from "../../miner/cli/main.ts";
import { runCli } from "../../shared/cli/cli-command.ts";
import { openStore } from "../store/controller-store.ts";
import { ChainClient } from "./chain-client.ts";
import { ChainDispatchError } from "./chain-errors.ts";

// Acceptance: real @polkadot/api against the in-process devnet (real metadata, real signatures),
// a block every 100 ms, finality one block behind.

const digest = `sha256:${"ab".repeat(32)}`;
const devPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

let devnet: Devnet;
let client: ChainClient;
let api: ApiPromise;
let alice: KeyringPair;
let bob: KeyringPair;
let charlie: KeyringPair;
let dave: KeyringPair;
let stranger: KeyringPair;
let walletDir: string;

beforeAll(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  [alice, bob, charlie, dave, stranger] = ["//Alice", "//Bob", "//Charlie", "//Dave", "//Stranger"].map((u) =>
    keyring.addFromUri(`${devPhrase}${u}`),
  ) as [KeyringPair, KeyringPair, KeyringPair, KeyringPair, KeyringPair];
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.1,
    seed: {
      // The stranger is funded (fees are charged) but registered nowhere.
      accounts: { "//Stranger": 10_000_000_000 },
      subnets: [
        {
          netuid: 1,
          weightsVersionKey: 5,
          neurons: [
            { hotkey: "//Alice", validatorPermit: true },
            { hotkey: "//Bob" },
            { hotkey: "//Charlie" },
            { hotkey: "//Dave", validatorPermit: true },
          ],
        },
        {
          netuid: 2,
          tempo: 4,
          commitRevealWeightsEnabled: true,
          neurons: [{ hotkey: "//Alice", validatorPermit: true }, { hotkey: "//Bob" }],
        },
      ],
    },
  });
  client = await ChainClient.connect({
    endpoints: ["ws://127.0.0.1:1", devnet.url],
    connectTimeoutMs: 2000,
    rounds: 1,
  });
  api = await ApiPromise.create({ provider: new WsProvider(devnet.url), noInitWarn: true });
  walletDir = await mkdtemp(join(tmpdir(), "cacheon-wallets-"));
  for (const [name, pair] of [
    ["bob", bob],
    ["stranger", stranger],
  ] as const) {
    await mkdir(join(walletDir, name, "hotkeys"), { recursive: true });
    const uri = name === "bob" ? "//Bob" : "//Stranger";
    await writeFile(
      join(walletDir, name, "hotkeys", "default"),
      JSON.stringify({ secretPhrase: `${devPhrase}${uri}`, ss58Address: pair.address }),
    );
  }
});

afterAll(async () => {
  await api?.disconnect();
  await client?.close();
  await devnet?.close();
  if (walletDir) await rm(walletDir, { recursive: true, force: true });
});

async function miner(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c) => {
    out += c;
  });
  stderr.on("data", (c) => {
    err += c;
  });
  const code = await runCli({
    ...minerProgram,
    argv: args,
    io: { stdout, stderr, env: {}, signal: new AbortController().signal },
  });
  return { code, stdout: out, stderr: err };
}

function commitArgs(image: string, wallet: string): string[] {
  const where = ["--wallet-path", walletDir, "--network", devnet.url, "--netuid", "1"];
  return ["commit", "--image", image, "--wallet", wallet, "--hotkey", "default", ...where];
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChainDispatchError);
  return `${(error as ChainDispatchError).section}.${(error as ChainDispatchError).errorName}`;
}

describe("the chain client against the devnet", () => {
  it("fails over past a dead endpoint to the devnet", () => {
    expect(client.endpoint).toBe(devnet.url);
  });

  it("reads the metagraph as seeded", async () => {
    const graph = await client.readMetagraph(1);
    expect(graph.neurons.map((n) => [n.uid, n.hotkey, n.validatorPermit])).toEqual([
      [0, alice.address, true],
      [1, bob.address, false],
      [2, charlie.address, false],
      [3, dave.address, true],
    ]);
    expect(graph.weightsVersionKey).toBe(5n);
    expect(graph.weightsSetRateLimit).toBe(100);
    expect(graph.commitRevealWeightsEnabled).toBe(false);
    await expect(client.readMetagraph(9)).rejects.toThrow(/subnet 9 does not exist/);
  });

  it("a miner commits, the controller reads it, sets weights, and plain @polkadot/api reads Weights back", async () => {
    const committed = await miner([
      ...commitArgs(`127.0.0.1:5000/fast/server:v1@${digest}`, "bob"),
      "--json",
    ]);
    expect(committed.stderr).toBe("");
    expect(committed.code).toBe(0);
    const printed = JSON.parse(committed.stdout) as { blockNumber: number; reference: string; uid: number };
    expect(printed.uid).toBe(1);
    expect(printed.reference).toBe(`127.0.0.1:5000/fast/server@${digest}`);
    expect(printed.blockNumber).toBeLessThanOrEqual(devnet.chain.finalizedNumber);

    const commitments = await client.readCommitments(1);
    const mine = commitments.find((c) => c.hotkey === bob.address);
    expect(mine).toMatchObject({ uid: 1, block: printed.blockNumber });
    expect(mine?.submission).toMatchObject({ ok: true, reference: `127.0.0.1:5000/fast/server@${digest}` });

    const result = await client.setWeights(
      1,
      new Map([
        [1, 3],
        [2, 1],
      ]),
      { signer: alice, versionKey: 2n },
    );
    expect(result).toMatchObject({
      mode: "set_weights",
      uid: 0,
      uids: [1, 2],
      values: [65535, 21845],
      versionKey: 5n,
    });

    const weights = await api.query.subtensorModule?.weights?.(1, 0);
    expect(weights?.toJSON()).toEqual([
      [1, 65535],
      [2, 21845],
    ]);
    const lastUpdate = (await api.query.subtensorModule?.lastUpdate?.(1))?.toJSON() as number[];
    expect(lastUpdate[0]).toBe(result.blockNumber);
  });

  it("records a hostile on-chain commitment with a reason instead of failing intake", async () => {
    await client.commit(1, '{"image":"evil/x","digest":"sha256:12","extra":1}', charlie);
    const records = await client.readCommitments(1);
    const bad = records.find((r) => r.hotkey === charlie.address);
    expect(bad?.submission.ok).toBe(false);
    expect(bad?.submission.ok === false && bad.submission.reason).toMatch(/unknown fields \(extra\)/);
    expect(records.find((r) => r.hotkey === bob.address)?.submission.ok).toBe(true);
  });

  it("refuses a commitment from an unregistered hotkey (Commitments.AccountNotAllowedCommit)", async () => {
    expect(await refusal(client.commit(1, `x/y@${digest}`, stranger))).toBe(
      "Commitments.AccountNotAllowedCommit",
    );
    const run = await miner(commitArgs(`x/y@${digest}`, "stranger"));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/is not registered on subnet 1/);
  });

  it("refuses weights without a validator permit (SubtensorModule.NeuronNoValidatorPermit)", async () => {
    const tx = api.tx.subtensorModule?.setWeights?.(1, [0, 2], [1, 1], 5);
    if (!tx) throw new Error("no set_weights in the metadata");
    expect(await refusal(client.submit(tx, bob))).toBe("SubtensorModule.NeuronNoValidatorPermit");
  });

  it("refuses a version key below WeightsVersionKey (SubtensorModule.IncorrectWeightVersionKey)", async () => {
    const tx = api.tx.subtensorModule?.setWeights?.(1, [1], [1], 4);
    if (!tx) throw new Error("no set_weights in the metadata");
    expect(await refusal(client.submit(tx, dave))).toBe("SubtensorModule.IncorrectWeightVersionKey");
  });

  it("refuses weights inside the rate limit (SubtensorModule.SettingWeightsTooFast), and the client checks first", async () => {
    const tx = api.tx.subtensorModule?.setWeights?.(1, [1], [1], 5);
    if (!tx) throw new Error("no set_weights in the metadata");
    expect(await refusal(client.submit(tx, alice))).toBe("SubtensorModule.SettingWeightsTooFast");
    await expect(client.setWeights(1, new Map([[1, 1]]), { signer: alice })).rejects.toThrow(
      /WeightsSetRateLimit 100 allows the next at block/,
    );
  });

  it("refuses a bad signature and a stale nonce with the pool's 1010 errors", async () => {
    const tx = api.tx.subtensorModule?.setWeights?.(1, [1], [1], 5);
    if (!tx) throw new Error("no set_weights in the metadata");
    await tx.signAsync(dave);
    const hex = tx.toHex();
    // Flip one nibble of the sr25519 signature: after "0x", the 2-byte length, the version byte,
    // the signer (MultiAddress::Id, 33 bytes) and the MultiSignature variant byte.
    const sigStart = 2 + 2 * (2 + 1 + 33) + 2;
    const badSig = `${hex.slice(0, sigStart)}${hex[sigStart] === "0" ? "1" : "0"}${hex.slice(sigStart + 1)}`;
    await expect(api.rpc.author.submitExtrinsic(badSig)).rejects.toThrow(
      /1010: Invalid Transaction: Transaction has a bad signature/,
    );
    const committed = await client.commit(1, `a/b@${digest}`, dave);
    expect(committed.number).toBeGreaterThan(0);
    const stale = api.tx.commitments?.setCommitment?.(1, { fields: [{ Raw3: "abc" }] });
    if (!stale) throw new Error("no set_commitment in the metadata");
    await expect(stale.signAndSend(dave, { nonce: 0 })).rejects.toThrow(
      /1010: Invalid Transaction: Transaction is outdated/,
    );
  });

  it("refuses set_weights under commit-reveal (SubtensorModule.CommitRevealEnabled) and sets them by commit and reveal", async () => {
    const tx = api.tx.subtensorModule?.setWeights?.(2, [1], [1], 0);
    if (!tx) throw new Error("no set_weights in the metadata");
    expect(await refusal(client.submit(tx, alice))).toBe("SubtensorModule.CommitRevealEnabled");

    const result = await client.setWeights(
      2,
      new Map([
        [0, 1],
        [1, 4],
      ]),
      { signer: alice, commitReveal: "hash", commits: openStore({ path: ":memory:" }).weightCommits },
    );
    expect(result).toMatchObject({ mode: "commit-reveal", uids: [0, 1], values: [16384, 65535] });
    const weights = await api.query.subtensorModule?.weights?.at?.(result.blockHash, 2, 0);
    expect(weights?.toJSON()).toEqual([
      [0, 16384],
      [1, 65535],
    ]);
    const commits = await api.query.subtensorModule?.weightCommits?.(2, alice.address);
    expect(commits?.toJSON()).toBeNull();
  }, 30_000);
});
