/**
 * A small, tolerant XML reader for `nvidia-smi -q -x`. Not a general XML parser: it reads
 * elements, attributes and text, skips declarations, DOCTYPE, comments and processing
 * instructions, and never throws. Damaged input (truncated output, stray close tags, ANSI
 * escapes a terminal wrapper added) gives a partial tree plus a list of problems, so the probe
 * can report what it saw instead of crashing. A dependency was not worth it for this subset.
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
  /** The first top-level element; undefined when the text held none. */
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

const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body.startsWith("#x")) return safeCodePoint(Number.parseInt(body.slice(2), 16)) ?? whole;
    if (body.startsWith("#")) return safeCodePoint(Number.parseInt(body.slice(1), 10)) ?? whole;
    return entities[body] ?? whole;
  });
}

function safeCodePoint(code: number): string | undefined {
  return Number.isInteger(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : undefined;
}

const attributePattern = /([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** Parses XML text into a tree; never throws. */
export function parseXml(input: string): XmlParseResult {
  const text = stripAnsi(input);
  const problems: string[] = [];
  const roots: XmlElement[] = [];
  const stack: XmlElement[] = [];
  const textParts: string[][] = [];
  let pos = 0;

  const appendText = (raw: string) => {
    if (stack.length > 0) textParts[textParts.length - 1]?.push(raw);
    else if (raw.trim() !== "") problems.push(`text outside any element near offset ${pos}`);
  };
  const close = () => {
    const element = stack.pop();
    const parts = textParts.pop();
    if (element) element.text = decodeEntities((parts ?? []).join("")).trim();
  };

  while (pos < text.length) {
    const lt = text.indexOf("<", pos);
    if (lt === -1) {
      appendText(text.slice(pos));
      break;
    }
    if (lt > pos) appendText(text.slice(pos, lt));
    pos = lt;
    const skipUntil = (terminator: string, what: string): boolean => {
      const end = text.indexOf(terminator, pos);
      if (end === -1) {
        problems.push(`unterminated ${what} at offset ${pos}`);
        pos = text.length;
        return false;
      }
      pos = end + terminator.length;
      return true;
    };
    if (text.startsWith("<!--", pos)) {
      skipUntil("-->", "comment");
      continue;
    }
    if (text.startsWith("<![CDATA[", pos)) {
      const end = text.indexOf("]]>", pos);
      const body = text.slice(pos + 9, end === -1 ? text.length : end);
      // CDATA is literal: escape it so decodeEntities leaves it as written.
      appendText(body.replace(/&/g, "&amp;"));
      if (end === -1) problems.push(`unterminated CDATA at offset ${pos}`);
      pos = end === -1 ? text.length : end + 3;
      continue;
    }
    if (text.startsWith("<?", pos)) {
      skipUntil("?>", "processing instruction");
      continue;
    }
    if (text.startsWith("<!", pos)) {
      skipUntil(">", "declaration");
      continue;
    }
    const gt = text.indexOf(">", pos);
    if (gt === -1) {
      problems.push(`tag cut off at offset ${pos}`);
      pos = text.length;
      break;
    }
    const body = text.slice(pos + 1, gt);
    const at = pos;
    pos = gt + 1;
    if (body.startsWith("/")) {
      const name = body.slice(1).trim();
      const depth = findOpen(stack, name);
      if (depth === -1) {
        problems.push(`close tag </${name}> at offset ${at} matches no open element`);
        continue;
      }
      while (stack.length > depth + 1) {
        problems.push(`<${stack[stack.length - 1]?.name}> not closed before </${name}> at offset ${at}`);
        close();
      }
      close();
      continue;
    }
    const selfClosing = body.endsWith("/");
    const inner = selfClosing ? body.slice(0, -1) : body;
    const nameMatch = /^([A-Za-z_:][-A-Za-z0-9_:.]*)/.exec(inner);
    if (!nameMatch?.[1]) {
      problems.push(`malformed tag <${body.slice(0, 40)}> at offset ${at}`);
      continue;
    }
    const element: XmlElement = { name: nameMatch[1], attributes: {}, children: [], text: "" };
    for (const match of inner.slice(nameMatch[1].length).matchAll(attributePattern)) {
      const key = match[1];
      if (key) element.attributes[key] = decodeEntities(match[2] ?? match[3] ?? "");
    }
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(element);
    else roots.push(element);
    if (!selfClosing) {
      stack.push(element);
      textParts.push([]);
    }
  }

  const truncated = stack.length > 0;
  if (truncated)
    problems.push(`input ended with ${stack.length} element(s) open, innermost <${stack.at(-1)?.name}>`);
  while (stack.length > 0) close();
  if (roots.length > 1) problems.push(`${roots.length} top-level elements; using the first`);
  return { root: roots[0], truncated, problems };
}

function findOpen(stack: XmlElement[], name: string): number {
  for (let i = stack.length - 1; i >= 0; i--) if (stack[i]?.name === name) return i;
  return -1;
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
