import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../test/support/seeded-random.ts";
import { parseNvidiaSmiXml } from "./parse-nvidia-smi-xml.ts";
import { parseXml } from "./xml-tree.ts";

// Hostile nvidia-smi output: what a wrapper script or a broken driver could print. The reader must
// never throw, never pollute prototypes, and stay roughly linear. The old hand-written reader took
// 29 s on 80k unmatched tags; the bound below is 5 s per input, far above what is measured (printed
// per case) and far below quadratic, so a loaded machine does not fail it but a regression would.
const boundMs = 5000;
const realXml = readFileSync(
  join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi", "h200x8-healthy", "q.xml"),
  "utf8",
);

function timed(input: string): { ms: number; result: ReturnType<typeof parseXml> } {
  const start = performance.now();
  const result = parseXml(input);
  return { ms: performance.now() - start, result };
}

const hostile: [string, string][] = [
  ["80k open tags then 80k unmatched close tags", `<r>${"<a>".repeat(80_000)}${"</b>".repeat(80_000)}`],
  ["80k unmatched close tags", `<a>${"</b>".repeat(80_000)}</a>`],
  ["100k nested elements", `${"<a>".repeat(100_000)}x${"</a>".repeat(100_000)}`],
  ["a 4 MB attribute", `<nvidia_smi_log x="${"y".repeat(4_000_000)}"><gpu/></nvidia_smi_log>`],
  ["50k attributes", `<a ${Array.from({ length: 50_000 }, (_, i) => `x${i}="1"`).join(" ")}>1</a>`],
  [
    "nested entity expansion (billion laughs)",
    `<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">${["b", "c", "d", "e", "f", "g", "h"]
      .map((n, i) => `<!ENTITY ${n} "${`&${"abcdefg"[i]};`.repeat(10)}">`)
      .join("")}]><l>${"&h;".repeat(100)}</l>`,
  ],
  ["an external entity", `<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`],
  ["200k character references", `<a>${"&#x41;&amp;&lt;".repeat(200_000)}</a>`],
  ["out-of-range character references", `<a>&#x110000;&#xFFFFFFFFFF;&#99999999999;&#0;</a>`],
  ["an unterminated 5 MB CDATA section", `<a><![CDATA[${"x".repeat(5_000_000)}`],
  ["an unterminated 5 MB comment", `<a><!--${"-".repeat(5_000_000)}`],
  ["a 5 MB tag name", `<${"a".repeat(5_000_000)}>`],
  ["an unterminated quote", `<a b="${"x".repeat(1_000_000)}`],
  ["prototype keys", `<__proto__ constructor="x"><polluted>1</polluted><prototype>2</prototype></__proto__>`],
  [
    "prototype keys under the root",
    `<nvidia_smi_log><__proto__><polluted>1</polluted></__proto__></nvidia_smi_log>`,
  ],
  ["1M angle brackets", "<>".repeat(500_000)],
  ["the real 8-GPU output repeated 40 times", realXml.repeat(40)],
];

describe("parseXml on hostile input (fuzz)", () => {
  it.each(hostile)("%s: no throw, no pollution, within the bound", (name, input) => {
    const { ms, result } = timed(input);
    console.info(`xml fuzz: ${name}: ${(input.length / 1e6).toFixed(2)} MB in ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(boundMs);
    expect(Array.isArray(result.problems)).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  it("refuses entity tricks instead of expanding them", () => {
    const laughs = parseXml(hostile[5]?.[1] ?? "");
    expect((laughs.root?.text.length ?? 0) < 10_000).toBe(true);
    const external = parseXml(hostile[6]?.[1] ?? "");
    expect(external.root?.text ?? "").not.toMatch(/root:/);
    expect(external.problems.join(" ")).toMatch(/External entities are not supported/);
  });

  it("doubling a hostile input about doubles the time (measured, printed)", () => {
    const ms = (n: number) => timed(`<r>${"<a>".repeat(n)}${"</b>".repeat(n)}`).ms;
    ms(20_000); // warm up
    const [small, large] = [ms(40_000), ms(80_000)];
    console.info(`xml fuzz: 40k -> 80k unmatched tags: ${small.toFixed(1)} -> ${large.toFixed(1)} ms`);
    expect(large).toBeLessThan(boundMs);
  });

  it("never throws on 300 random mixes of markup (seeded)", () => {
    const tokens = [
      "<",
      ">",
      "</",
      "/>",
      "<gpu>",
      "</gpu>",
      "<nvidia_smi_log>",
      "</nvidia_smi_log>",
      '="',
      '"',
      "'",
      "&",
      ";",
      "&amp;",
      "&#x",
      "<!--",
      "-->",
      "<![CDATA[",
      "]]>",
      "<!DOCTYPE x [",
      "<!ENTITY e 'v'>",
      "]>",
      "<?xml ?>",
      "\u001b[4m",
      "N/A",
      " ",
      "\n",
      "x",
      "__proto__",
    ];
    const started = performance.now();
    for (let seed = 1; seed <= 300; seed++) {
      const next = seededRandom(seed);
      const input = Array.from({ length: 2000 }, () => tokens[Math.floor(next() * tokens.length)]).join("");
      expect(() => parseXml(input), `seed ${seed}`).not.toThrow();
    }
    console.info(`xml fuzz: 300 random mixes in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it("reads every truncation and byte flip of the real output without throwing, never inventing GPUs", () => {
    const next = seededRandom(42);
    for (let i = 0; i < 40; i++) {
      const cut = realXml.slice(0, Math.floor(next() * realXml.length));
      const parsed = parseXml(cut);
      if (cut.trim() !== "") expect(parsed.truncated || parsed.problems.length > 0).toBe(true);
      let gpus = 0;
      try {
        gpus = parseNvidiaSmiXml(cut).gpus.length;
      } catch (error) {
        expect((error as Error).message).toMatch(/not <nvidia_smi_log>/);
      }
      expect(gpus).toBeLessThanOrEqual(8);
    }
    for (let i = 0; i < 40; i++) {
      const at = Math.floor(next() * realXml.length);
      const flipped = `${realXml.slice(0, at)}${String.fromCharCode(Math.floor(next() * 128))}${realXml.slice(at + 1)}`;
      expect(() => parseXml(flipped)).not.toThrow();
    }
  });
});
