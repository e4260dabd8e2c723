import { XMLParser, XMLValidator } from "fast-xml-parser";

/**
 * The XML of `nvidia-smi -q -x` as a small tree, read by fast-xml-parser (chosen over the
 * hand-written reader it replaces, which was quadratic on hostile input: 80k unmatched tags took
 * 29 s). fast-xml-parser is linear, caps nesting, refuses external entities and prototype keys,
 * and bounds entity expansion. This wrapper never throws: damaged input (truncated output, stray
 * close tags, markup a terminal wrapper added) gives what could be read plus a list of problems,
 * so the probe can report what it saw, and fail the machine, instead of crashing.
 */

/** One element of the tree. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** Direct text content with entities decoded and surrounding whitespace trimmed. */
  text: string;
}

/** What {@link parseXml} found. */
export interface XmlParseResult {
  /** The first top-level element; undefined when the text held none or could not be read. */
  root: XmlElement | undefined;
  /** True when the text ended with elements still open (a cut-off output). */
  truncated: boolean;
  /** Everything that was not well formed, each naming where it was. */
  problems: string[];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters
const ansiPattern = /\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007]*\u0007/g;

/** Removes ANSI colour and cursor escape sequences. */
export function stripAnsi(text: string): string {
  return text.replace(ansiPattern, "");
}

// nvidia-smi nests about six levels deep; anything far deeper is not its output.
const maxDepth = 64;

/** fast-xml-parser's ordered output: `{ tag: [children], ":@": attributes }` or `{ "#text": text }`. */
type OrderedNode = Record<string, unknown>;

function parserFor(): XMLParser {
  return new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: "",
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    processEntities: true,
    htmlEntities: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
    maxNestedTags: maxDepth,
  });
}

function toElement(node: OrderedNode): XmlElement | undefined {
  const name = Object.keys(node).find((key) => key !== ":@" && key !== "#text");
  if (name === undefined) return undefined;
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries((node[":@"] ?? {}) as Record<string, unknown>)) {
    attributes[key] = String(value);
  }
  const children: XmlElement[] = [];
  const text: string[] = [];
  for (const item of (node[name] ?? []) as OrderedNode[]) {
    if ("#text" in item) text.push(String(item["#text"]));
    else {
      const element = toElement(item);
      if (element) children.push(element);
    }
  }
  return { name, attributes, children, text: text.join("").trim() };
}

/** Names of the elements fast-xml-parser's validator reports as left open at the end. */
function openAtEnd(message: string): string[] | undefined {
  if (!/^Invalid '\[/.test(message)) return undefined;
  return [...message.matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? "");
}

/** Parses XML text into a tree; never throws. */
export function parseXml(input: string): XmlParseResult {
  const text = stripAnsi(input);
  const problems: string[] = [];
  let truncated = false;
  const verdict = XMLValidator.validate(text);
  if (verdict !== true) {
    const { msg, line, col } = verdict.err;
    const open = openAtEnd(msg);
    if (open && open.length > 0) {
      truncated = true;
      problems.push(`input ended with ${open.length} element(s) open, innermost <${open.at(-1)}>`);
    } else if (text.trim() === "") problems.push("empty output");
    else
      problems.push(
        `not well-formed XML at line ${line}${col === undefined ? "" : `, column ${col}`}: ${msg}`,
      );
  }
  let nodes: OrderedNode[] = [];
  try {
    nodes = parserFor().parse(text) as OrderedNode[];
  } catch (error) {
    // Output cut off inside a tag makes the parser give up; what came before the last complete
    // tag is still worth reporting (the probe fails the machine on the problems either way).
    const head = text.slice(0, text.lastIndexOf(">") + 1);
    try {
      if (head === "") throw error;
      nodes = parserFor().parse(head) as OrderedNode[];
      const again = XMLValidator.validate(head);
      const open = again === true ? undefined : openAtEnd(again.err.msg);
      if (open && open.length > 0 && !truncated) {
        truncated = true;
        problems.push(
          `input ended inside a tag with ${open.length} element(s) open, innermost <${open.at(-1)}>`,
        );
      }
    } catch {
      problems.push(`unreadable XML: ${(error as Error).message.slice(0, 200)}`);
    }
  }
  const roots = nodes.map(toElement).filter((e): e is XmlElement => e !== undefined);
  if (roots.length > 1) problems.push(`${roots.length} top-level elements; using the first`);
  return { root: roots[0], truncated, problems };
}

/** The first child element along a path of names, e.g. `child(gpu, "fb_memory_usage", "total")`. */
export function child(element: XmlElement | undefined, ...path: string[]): XmlElement | undefined {
  let current = element;
  for (const name of path) {
    current = current?.children.find((c) => c.name === name);
    if (!current) return undefined;
  }
  return current;
}

/** The text of the first element along a path; undefined when the path does not exist. */
export function childText(element: XmlElement | undefined, ...path: string[]): string | undefined {
  return child(element, ...path)?.text;
}

/** Every direct child element with this name. */
export function childrenNamed(element: XmlElement | undefined, name: string): XmlElement[] {
  return element?.children.filter((c) => c.name === name) ?? [];
}
