// A validator process for the CRv4 kill test: sets its weights once through the devnet at URL
// (drand-timelocked commit-reveal), printing "STEP <state>" as its commit reaches the store, so
// the test can SIGKILL it between commit and reveal and start it again on the same store.
//   node controller/weights/testing/weights-child.ts URL DB BEACON_JSON
import { Keyring } from "@polkadot/api";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { ChainClient } from "../../chain/chain-client.ts";
import { openStore } from "../../store/controller-store.ts";
import { chainWeightTarget } from "../chain-weight-target.ts";
import { defaultWeightPolicy } from "../weight-policy.ts";
import { setWeightsIfDue } from "../weight-setter.ts";

const [url, db, beaconJson] = process.argv.slice(2);
if (!url || !db || !beaconJson) {
  process.stderr.write("usage: weights-child.ts URL DB BEACON_JSON\n");
  process.exit(2);
}
await cryptoWaitReady();
const beacon = JSON.parse(beaconJson) as {
  publicKey: string;
  genesisSeconds: number;
  periodSeconds: number;
  dst: string;
};
const store = openStore({ path: db });
const client = await ChainClient.connect({ endpoints: [url], rounds: 1 });
let last = "";
const watch = setInterval(() => {
  const rows = store.weightSettings.list({ limit: 1 }).flatMap((w) => store.weightCommits.list(w.id));
  const state = rows.map((r) => r.state).join(",");
  if (state !== last) process.stdout.write(`STEP ${state}\n`);
  last = state;
}, 5);
const result = await setWeightsIfDue({
  store,
  target: chainWeightTarget({
    client,
    netuid: 1,
    signer: new Keyring({ type: "sr25519" }).addFromUri("//Alice"),
    commits: store.weightCommits,
    beacon: { ...beacon, publicKey: Uint8Array.from(Buffer.from(beacon.publicKey, "hex")) },
    blockSeconds: 0.1,
  }),
  policy: defaultWeightPolicy,
  cadence: { refreshBlocks: 100_000, rateLimitBlocks: 0, inFlightBlocks: 2 },
});
clearInterval(watch);
process.stdout.write(`DONE ${result.action} ${result.reason}\n`);
await client.close();
store.close();
