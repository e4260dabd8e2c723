import { describe, expect, it } from "vitest";
import { clientBoundKind, findingsAgainstServer } from "./findings-against-server.ts";

describe("findingsAgainstServer", () => {
  it.each([
    ["none", undefined, 0],
    ["a cache finding", ["2 of 2 repeated requests took under 0.5x ...: responses may be cached"], 1],
    ["a client-bound finding alone", [`${clientBoundKind}: the measuring client ... limited 1 of 3`], 0],
    ["both", ["repeat-speedup: ...", `${clientBoundKind}: ...`, "3 request(s) reported usage ..."], 2],
    // Only the finding's own kind counts, not the words inside another finding.
    ["a finding that mentions client-bound", ["repeat-speedup: client-bound: no"], 1],
  ])("%s", (_, findings, kept) => {
    const out = findingsAgainstServer(findings);
    expect(out).toHaveLength(kept);
    for (const f of out) expect(f.startsWith(`${clientBoundKind}: `)).toBe(false);
  });
});
