#!/usr/bin/env node
// Entry point of cacheon-sim-llm: checks the Node version, then runs the built program (scripts/setup.sh builds it).
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(
    `cacheon-sim-llm needs Node >= 24 (this is ${process.version}). Run scripts/setup.sh, which installs Node 24 into .toolchain/, then use .toolchain/node_modules/.bin/node or put it on PATH.`,
  );
  process.exit(2);
}
const { main } = await import("../dist/sim-llm/cli/main.js");
await main();
