/**
 * How fast the Qwen2.5 tokenizer (shared/tokenizer) is on this machine: the time to build it, and
 * encode / decode / single-id decode throughput on chat prompts of about 6,144 tokens (the default
 * prompt size). The reference, measured in the same run on the same text, is a UTF-8 encode of
 * the text (TextEncoder), so the ratios say what tokenizing costs over merely touching the bytes.
 *
 *   node bench/qwen-tokenizer-speed.ts [--tokens 6144] [--prompts 20] [--json]
 */
import { parseArgs } from "node:util";
import { bundledPassages } from "../agent/workload/bundled-corpus.ts";
import { applyQwenChatTemplate } from "../shared/tokenizer/qwen-chat-template.ts";

const { values } = parseArgs({
  options: {
    tokens: { type: "string", default: "6144" },
    prompts: { type: "string", default: "20" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(
    "node bench/qwen-tokenizer-speed.ts [--tokens 6144] [--prompts 20] [--json]\nPrints Qwen2.5 tokenizer build time and encode/decode tokens/s against a UTF-8 encode of the same text.\n",
  );
  process.exit(0);
}
const targetTokens = Number(values.tokens);
const promptCount = Number(values.prompts);

// Loading counts the import too: parsing the 11 MB tokenizer.json is most of it.
const buildStarted = performance.now();
const { qwenTokenizer } = await import("../shared/tokenizer/qwen-tokenizer.ts");
const tokenizer = qwenTokenizer();
const buildMs = performance.now() - buildStarted;

// Distinct prompts (each starts from another passage), so no cache inside the library helps.
const prompts: string[] = [];
for (let p = 0; p < promptCount; p++) {
  let body = "";
  for (let k = 0; tokenizer.count(body) < targetTokens; k++) {
    const passage = bundledPassages[(p + k) % bundledPassages.length];
    body += `${passage?.title}\n\n${passage?.text}\n\n`;
  }
  prompts.push(applyQwenChatTemplate([{ role: "user", content: `Prompt ${p}. Summarise:\n\n${body}` }]));
}

function time(run: () => number): { ms: number; units: number } {
  const started = performance.now();
  const units = run();
  return { ms: performance.now() - started, units };
}

const utf8 = new TextEncoder();
// Warm-up: JIT and the single-id cache stay cold for the timed pass on other prompts.
tokenizer.encode(prompts[0] ?? "");
const reference = time(() => prompts.reduce((n, p) => n + utf8.encode(p).length, 0));
const encoded: number[][] = [];
const encode = time(() => {
  for (const p of prompts) encoded.push(tokenizer.encode(p));
  return encoded.reduce((n, ids) => n + ids.length, 0);
});
const decode = time(() =>
  encoded.reduce((n, ids) => n + (tokenizer.decode(ids).length > 0 ? ids.length : 0), 0),
);
const single = time(() => {
  let n = 0;
  for (const ids of encoded) for (const id of ids) n += tokenizer.tokenText(id).length >= 0 ? 1 : 0;
  return n;
});

const tokens = encode.units;
const result = {
  buildMs: Math.round(buildMs),
  prompts: prompts.length,
  meanPromptTokens: Math.round(tokens / prompts.length),
  encodeTokensPerSecond: Math.round(tokens / (encode.ms / 1000)),
  encodeMsPerPrompt: Number((encode.ms / prompts.length).toFixed(2)),
  decodeTokensPerSecond: Math.round(decode.units / (decode.ms / 1000)),
  singleIdDecodesPerSecond: Math.round(single.units / (single.ms / 1000)),
  utf8EncodeMs: Number(reference.ms.toFixed(2)),
  encodeOverUtf8: Number((encode.ms / reference.ms).toFixed(1)),
  decodeOverUtf8: Number((decode.ms / reference.ms).toFixed(1)),
};
if (values.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  process.stdout.write(
    `Qwen2.5 tokenizer: loaded and built in ${result.buildMs} ms; ${result.prompts} chat prompts of ~${result.meanPromptTokens} tokens\n` +
      `encode: ${result.encodeTokensPerSecond} tokens/s (${result.encodeMsPerPrompt} ms per prompt), ${result.encodeOverUtf8}x a UTF-8 encode of the same text\n` +
      `decode: ${result.decodeTokensPerSecond} tokens/s, ${result.decodeOverUtf8}x the UTF-8 encode\n` +
      `single-id decode (logprob strings, cached after first use): ${result.singleIdDecodesPerSecond} ids/s\n`,
  );
}
