import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { Keyring } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, startDevnet } from "../../devnet/devnet.ts";
import { minerProgram } from "../../miner/cli/main.ts";
import { runCli } from "../../shared/cli/cli-command.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { ChainDispatchError } from "../chain/chain-errors.ts";
import { commitWithFee } from "../chain/paid-commit.ts";
import { chainCommitmentSource } from "../intake/chain-commitment-source.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { leaderboard } from "../web/leaderboard.ts";
import type { FeePolicy } from "./fee-decision.ts";
import { chainBlockSource, FeeLedger } from "./fee-ledger.ts";
import { formatFeeRemark } from "./fee-remark.ts";

// The submission fee end to end on the devnet: miners pay (or try not to) through real extrinsics,
// the controller's fee ledger reads the finalized blocks, intake decides. Every way of being
// evaluated without paying is tried; each ends unpaid with its reason, and only honest payments
// (including one made by another account for the hotkey) count.

const tao = 1_000_000_000n;
const devPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
const names = [
  "Alice",
  "Bob",
  "Charlie",
  "Dave",
  "Eve",
  "Ferdie",
  "Grace",
  "Heidi",
  "Ivan",
  "Judy",
  "Kim",
] as const;
type Name = (typeof names)[number];
const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
let pairs: Record<Name | "Fees" | "Coldkey", KeyringPair>;
let devnet: Devnet;
let client: ChainClient;
let store: ControllerStore;
let ledger: FeeLedger;
let policy: FeePolicy;
let walletDir: string;

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const ref = (name: string, c: string) => `127.0.0.1:5000/${name.toLowerCase()}/server@${digest(c)}`;

beforeAll(async () => {
  await cryptoWaitReady();
  pairs = Object.fromEntries(
    [...names, "Fees", "Coldkey"].map((n) => [n, keyring.addFromUri(`${devPhrase}//${n}`)]),
  ) as typeof pairs;
  devnet = await startDevnet({
    port: 0,
    blockTimeSeconds: 0.05,
    seed: {
      accounts: { "//Fees": 1_000_000_000, "//Coldkey": 100_000_000_000 },
      subnets: [
        {
          netuid: 1,
          neurons: names.map((n, i) => ({ hotkey: `//${n}`, validatorPermit: i === 0 })),
        },
      ],
    },
  });
  client = await ChainClient.connect({ endpoints: [devnet.url], rounds: 1 });
  store = openStore({ path: ":memory:" });
  policy = { amount: tao / 10n, destination: pairs.Fees.address, windowBlocks: 200, revealBlocks: 0 };
  ledger = new FeeLedger({ source: chainBlockSource(client.api), store, policy, netuid: 1, startBlock: 1 });
  walletDir = await mkdtemp(join(tmpdir(), "cacheon-fee-wallets-"));
  await mkdir(join(walletDir, "kim", "hotkeys"), { recursive: true });
  await writeFile(
    join(walletDir, "kim", "hotkeys", "default"),
    JSON.stringify({ secretPhrase: `${devPhrase}//Kim`, ss58Address: pairs.Kim.address }),
  );
});

afterAll(async () => {
  store?.close();
  await client?.close();
  await devnet?.close();
});

/** Intake as the controller runs it: snapshot, fee ledger caught up to its block, ingest. */
async function intake() {
  const snapshot = await chainCommitmentSource({ client, netuid: 1 }).snapshot();
  while (ledger.coverage().to < snapshot.block) await ledger.catchUp(snapshot.block);
  return ingestCommitments({ store, snapshot, fees: ledger });
}

function stateOf(name: Name) {
  const sub = store.submissions.list({ hotkey: pairs[name].address }).at(-1);
  return { state: sub?.state, reason: sub?.reason ?? "" };
}

function tx(section: string, method: string) {
  const fn = client.api.tx[section]?.[method];
  if (!fn) throw new Error(`no ${section}.${method}`);
  return fn;
}

const remark = (name: Name, c: string, sealed = false) =>
  formatFeeRemark(1, pairs[name].address, digest(c), sealed);
const fee = { destination: "", amount: tao / 10n };

async function commit(name: Name, c: string): Promise<number> {
  return (await client.commit(1, ref(name, c), pairs[name])).number;
}

/** Sends extrinsics of one signer as consecutive nonces, all at once; returns each outcome. */
async function sequence(name: Name | "Coldkey", calls: ReturnType<ReturnType<typeof tx>>[]) {
  const signer = pairs[name];
  const nonce = Number((await client.api.rpc.system.accountNextIndex(signer.address)).toString());
  return Promise.allSettled(
    calls.map((call, i) => client.submit(call, signer, undefined, { nonce: nonce + i })),
  );
}

async function waitBlocks(n: number): Promise<void> {
  await devnet.waitForFinalized((await client.finalizedHead()).number + n);
}

describe("the submission fee on the devnet", () => {
  it("honest payments count; every way around paying is refused with its reason", async () => {
    fee.destination = pairs.Fees.address;
    // Bob: the CLI's way, transfer + remark + commitment in one batch_all.
    const bob = await commitWithFee(client, {
      netuid: 1,
      text: ref("Bob", "b"),
      digest: digest("b"),
      signer: pairs.Bob,
      fee,
    });
    expect(bob.mode).toBe("batch_all");
    expect(bob.paymentBlock.number).toBe(bob.commitBlock.number);
    // Charlie pays once for c and commits it. Committing c again is the same submission (kept:
    // nothing to gain). He commits something else, then c once more: a new submission, which the
    // one payment, already used, cannot pay for.
    await commitWithFee(client, {
      netuid: 1,
      text: ref("Charlie", "c"),
      digest: digest("c"),
      signer: pairs.Charlie,
      fee,
    });
    await intake();
    const paidC = store.submissions.list({ hotkey: pairs.Charlie.address }).at(-1)?.id;
    expect(stateOf("Charlie").state).toBe("pending");
    await commit("Charlie", "c");
    expect((await intake()).kept).toEqual([paidC]);
    await commit("Charlie", "7");
    await intake();
    expect(stateOf("Charlie").state).toBe("unpaid");
    await commit("Charlie", "c");
    // Dave: a transfer that fails (more than he has), then the remark and the commitment.
    const dave = await sequence("Dave", [
      tx("balances", "transferKeepAlive")(pairs.Fees.address, 10n ** 15n),
      tx("system", "remark")(remark("Dave", "d")),
      tx("commitments", "setCommitment")(1, {
        fields: [{ [`Raw${ref("Dave", "d").length}`]: ref("Dave", "d") }],
      }),
    ]);
    expect(dave[0]?.status === "rejected" && dave[0].reason).toBeInstanceOf(ChainDispatchError);
    expect(dave.slice(1).map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
    // Eve pays, then commits only after the window has passed.
    await sequence("Eve", [
      tx(
        "utility",
        "batchAll",
      )([
        tx("balances", "transferKeepAlive")(pairs.Fees.address, fee.amount),
        tx("system", "remark")(remark("Eve", "e")),
      ]),
    ]);
    // Ferdie commits first and pays afterwards.
    await commit("Ferdie", "f");
    await sequence("Ferdie", [
      tx(
        "utility",
        "batchAll",
      )([
        tx("balances", "transferKeepAlive")(pairs.Fees.address, fee.amount),
        tx("system", "remark")(remark("Ferdie", "f")),
      ]),
    ]);
    // Grace forges: someone else's transfer to the fee account, her own remark without money.
    await sequence("Coldkey", [tx("balances", "transferKeepAlive")(pairs.Fees.address, fee.amount)]);
    await sequence("Grace", [
      tx("system", "remark")(remark("Grace", "1")),
      tx("commitments", "setCommitment")(1, {
        fields: [{ [`Raw${ref("Grace", "1").length}`]: ref("Grace", "1") }],
      }),
    ]);
    // Heidi pays half.
    await commitWithFee(client, {
      netuid: 1,
      text: ref("Heidi", "2"),
      digest: digest("2"),
      signer: pairs.Heidi,
      fee: { ...fee, amount: fee.amount / 2n },
    });
    // Ivan's fee is paid by a coldkey for him (batch_all: transfer + remark naming Ivan), then he commits.
    await sequence("Coldkey", [
      tx(
        "utility",
        "batchAll",
      )([
        tx("balances", "transferKeepAlive")(pairs.Fees.address, fee.amount),
        tx("system", "remark")(remark("Ivan", "3")),
      ]),
    ]);
    await commit("Ivan", "3");
    // Judy without batch_all: transfer, then her next transaction the (sealed) remark, then the commitment.
    const judy = await sequence("Judy", [
      tx("balances", "transferKeepAlive")(pairs.Fees.address, fee.amount),
      tx("system", "remark")(remark("Judy", "4", true)),
      tx("commitments", "setCommitment")(1, {
        fields: [{ [`Raw${ref("Judy", "4").length}`]: ref("Judy", "4") }],
      }),
    ]);
    expect(judy.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
    await waitBlocks(policy.windowBlocks + 2);
    await commit("Eve", "e");

    const first = await intake();
    expect(first.pending.map((id) => store.submissions.get(id)?.hotkey).sort()).toEqual(
      [pairs.Ivan, pairs.Judy].map((p) => p.address).sort(),
    );
    expect(stateOf("Bob").state).toBe("pending");
    expect(first.unpaid).toHaveLength(6);
    expect(stateOf("Charlie")).toMatchObject({
      state: "unpaid",
      reason: expect.stringMatching(
        /already paid for submission sub-\d+ \(one payment pays for one commitment\)/,
      ),
    });
    expect(stateOf("Dave")).toMatchObject({
      state: "unpaid",
      reason: expect.stringMatching(/no submission fee names hotkey/),
    });
    expect(stateOf("Eve")).toMatchObject({
      state: "unpaid",
      reason: expect.stringMatching(/blocks before the commitment .*at most 200/),
    });
    expect(stateOf("Ferdie")).toMatchObject({
      state: "unpaid",
      reason: expect.stringMatching(/after the commitment/),
    });
    expect(stateOf("Grace")).toMatchObject({
      state: "unpaid",
      reason: expect.stringMatching(/no submission fee names hotkey/),
    });
    expect(stateOf("Heidi")).toMatchObject({
      state: "unpaid",
      reason: expect.stringMatching(/was 0\.05 TAO, less than 0\.1 TAO/),
    });
    expect(stateOf("Alice").state).toBeUndefined();

    // Intake again changes nothing; the leaderboard tells each miner why.
    expect((await intake()).unpaid).toEqual([]);
    const rows = leaderboard(store);
    expect(rows.find((r) => r.hotkey === pairs.Heidi.address)).toMatchObject({
      verdict: "unpaid",
      reason: expect.stringMatching(/Commit again with `cacheon-miner commit --fee`/),
    });
  });

  it("an unpaid commitment owns no content: a paid copy of it is not a copy", async () => {
    // Grace (unpaid) committed 1 first; Kim commits the same digest and pays, through the CLI.
    const run = await kimCommits(ref("Grace", "1"), ["--fee", "--fee-to", pairs.Fees.address, "--json"]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { fee: { mode: string; amountRao: string } };
    expect(result.fee).toMatchObject({ mode: "batch_all", amountRao: "100000000" });
    await intake();
    expect(stateOf("Kim").state).toBe("pending");
  });

  it("the CLI refuses --fee without the fee account, before touching the chain", async () => {
    const run = await kimCommits(ref("Kim", "5"), ["--fee"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--fee needs the fee account: give --fee-to SS58/);
  });
});

/** `cacheon-miner commit --image IMAGE` with Kim's wallet on the devnet, plus `extra` flags. */
async function kimCommits(
  image: string,
  extra: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  const text = { stdout: "", stderr: "" };
  stdout.on("data", (b) => {
    text.stdout += String(b);
  });
  stderr.on("data", (b) => {
    text.stderr += String(b);
  });
  const where = ["--wallet-path", walletDir, "--network", devnet.url, "--netuid", "1"];
  const code = await runCli({
    ...minerProgram,
    argv: ["commit", "--image", image, "--wallet", "kim", "--hotkey", "default", ...where, ...extra],
    io: { stdout, stderr, env: {}, signal: new AbortController().signal },
  });
  return { code, ...text };
}
