import { describe, expect, it } from "vitest";
import { child, childrenNamed, childText, parseXml, stripAnsi } from "./xml-tree.ts";

describe("parseXml", () => {
  it("reads elements, attributes, entities and skips declarations, DOCTYPE and comments", () => {
    const { root, truncated, problems } = parseXml(
      `<?xml version="1.0" ?>\n<!DOCTYPE log SYSTEM "x.dtd">\n<log a="1" b='two'><!-- note --><x>&lt;A &amp; B&gt; &#65;&#x42;</x><y/><x>2</x></log>`,
    );
    expect(truncated).toBe(false);
    expect(problems).toEqual([]);
    expect(root?.attributes).toEqual({ a: "1", b: "two" });
    expect(childText(root, "x")).toBe("<A & B> AB");
    expect(childrenNamed(root, "x").map((e) => e.text)).toEqual(["<A & B> AB", "2"]);
    expect(child(root, "y")?.children).toEqual([]);
    expect(child(root, "missing", "deeper")).toBeUndefined();
  });

  it("keeps CDATA literal", () => {
    expect(parseXml("<a><![CDATA[1 &lt; 2]]></a>").root?.text).toBe("1 &lt; 2");
  });

  it("gives a partial tree and truncated=true for cut-off input", () => {
    const { root, truncated, problems } = parseXml("<log><gpu><name>H200</name><uuid>GPU-1");
    expect(truncated).toBe(true);
    expect(childText(root, "gpu", "name")).toBe("H200");
    // The value cut off mid-way is not kept: "GPU-1" may be the start of another UUID.
    expect(childText(root, "gpu", "uuid")).toBe("");
    expect(problems.join("\n")).toMatch(/ended with 3 element\(s\) open, innermost <uuid>/);
  });

  it("reports a tag cut off in the middle", () => {
    const result = parseXml("<log><gpu><na");
    expect(result.truncated).toBe(true);
    expect(result.problems.join("\n")).toMatch(/ended with 3 element\(s\) open, innermost <na>/);
  });

  it("keeps what came before a stray close tag and names it", () => {
    const { root, problems } = parseXml("<log><a>1</a></b><c><d>2</c></log>");
    expect(root?.name).toBe("log");
    expect(childText(root, "a")).toBe("1");
    expect(problems.some((p) => p.includes("instead of closing tag 'b'"))).toBe(true);
    expect(problems.some((p) => /top-level elements/.test(p))).toBe(true);
  });

  it("returns no root for empty or non-XML text, without throwing", () => {
    expect(parseXml("").root).toBeUndefined();
    expect(parseXml("").problems).toEqual(["empty output"]);
    const garbage = parseXml("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.");
    expect(garbage.root).toBeUndefined();
    expect(garbage.problems[0]).toMatch(/not well-formed XML at line 1, column 1: char 'N' is not expected/);
    const soup = parseXml("<<<>>>&&&");
    expect(soup.problems[0]).toMatch(/Tag '<<' is an invalid name/);
  });

  it("ignores ANSI escape codes around and inside the text", () => {
    expect(stripAnsi("\u001b[4mGPU0\u001b[0m")).toBe("GPU0");
    expect(parseXml("\u001b[1m<a>\u001b[31mred\u001b[0m</a>").root?.text).toBe("red");
  });

  it("leaves unknown numeric entities as written", () => {
    expect(parseXml("<a>&#xFFFFFFF; &bogus;</a>").root?.text).toBe("&#xFFFFFFF; &bogus;");
  });
});
