/**
 * How the nvidia-smi XML reader (agent/hardware/xml-tree.ts, fast-xml-parser) copes with hostile
 * output, against the real 8-GPU `nvidia-smi -q -x` read in the same run: per-MB cost of each
 * input as a ratio of the real output's, and how the time grows when a hostile input doubles
 * (2 is linear; the hand-written reader it replaced was quadratic: 80k unmatched tags took 29 s).
 *
 *   node bench/nvidia-smi-xml.ts [--repeats 5]
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseXml } from "../agent/hardware/xml-tree.ts";

const { values } = parseArgs({
  options: { repeats: { type: "string", default: "5" }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  process.stdout.write("node bench/nvidia-smi-xml.ts [--repeats 5]\n");
  process.exit(0);
}
const repeats = Math.max(1, Number(values.repeats));
const real = readFileSync(
  join(import.meta.dirname, "..", "test", "fixtures", "nvidia-smi", "h200x8-healthy", "q.xml"),
  "utf8",
);

/** Median milliseconds of `repeats` reads after three warm-ups (the first read compiles the parser). */
function time(input: string): number {
  for (let i = 0; i < 3; i++) parseXml(input);
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    parseXml(input);
    runs.push(performance.now() - start);
  }
  return runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)] ?? 0;
}

const hostile: Record<string, (n: number) => string> = {
  "open tags then unmatched close tags": (n) => `<r>${"<a>".repeat(n)}${"</b>".repeat(n)}`,
  "unmatched close tags": (n) => `<a>${"</b>".repeat(n)}</a>`,
  "nested elements": (n) => `${"<a>".repeat(n)}x${"</a>".repeat(n)}`,
  "character references": (n) => `<a>${"&#x41;&amp;&lt;".repeat(n)}</a>`,
  "one huge attribute": (n) => `<a x="${"y".repeat(n * 20)}">1</a>`,
  "many attributes": (n) => `<a ${Array.from({ length: n / 2 }, (_, i) => `x${i}="1"`).join(" ")}>1</a>`,
};

const referenceMs = time(real);
const perMb = (ms: number, input: string) => ms / (input.length / 1e6);
const reference = perMb(referenceMs, real);
const rows = [
  `reference: the real 8-GPU output, ${(real.length / 1e3).toFixed(0)} kB in ${referenceMs.toFixed(2)} ms (${reference.toFixed(1)} ms/MB), median of ${repeats}`,
  "input                                  n=40k ms  n=80k ms  growth  per-MB cost vs reference",
];
for (const [name, make] of Object.entries(hostile)) {
  const [small, large] = [make(40_000), make(80_000)];
  const [a, b] = [time(small), time(large)];
  rows.push(
    `${name.padEnd(38)} ${a.toFixed(1).padStart(8)}  ${b.toFixed(1).padStart(8)}  ${(b / a).toFixed(2).padStart(6)}  ${(perMb(b, large) / reference).toFixed(2).padStart(6)}x`,
  );
}
process.stdout.write(`${rows.join("\n")}\n`);
