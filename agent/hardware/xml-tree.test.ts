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
    expect(childText(root, "gpu", "uuid")).toBe("GPU-1");
    expect(problems.join("\n")).toMatch(/ended with 3 element\(s\) open, innermost <uuid>/);
  });

  it("reports a tag cut off in the middle", () => {
    const result = parseXml("<log><gpu><na");
    expect(result.truncated).toBe(true);
    expect(result.problems.join("\n")).toMatch(/tag cut off/);
  });

  it("recovers from a stray close tag and an unclosed element", () => {
    const { root, problems } = parseXml("<log><a>1</a></b><c><d>2</c></log>");
    expect(childText(root, "a")).toBe("1");
    expect(childText(root, "c", "d")).toBe("2");
    expect(problems.some((p) => p.includes("</b>"))).toBe(true);
    expect(problems.some((p) => p.includes("<d> not closed"))).toBe(true);
  });

  it("returns no root for empty or non-XML text, without throwing", () => {
    expect(parseXml("").root).toBeUndefined();
    const garbage = parseXml("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.");
    expect(garbage.root).toBeUndefined();
    expect(garbage.problems[0]).toMatch(/text outside any element/);
    expect(parseXml("<<<>>>&&&").root).toBeUndefined();
  });

  it("ignores ANSI escape codes around and inside the text", () => {
    expect(stripAnsi("\u001b[4mGPU0\u001b[0m")).toBe("GPU0");
    expect(parseXml("\u001b[1m<a>\u001b[31mred\u001b[0m</a>").root?.text).toBe("red");
  });

  it("leaves unknown numeric entities as written", () => {
    expect(parseXml("<a>&#xFFFFFFF; &bogus;</a>").root?.text).toBe("&#xFFFFFFF; &bogus;");
  });
});
