import { describe, expect, it } from "vitest";
import { detectCopy, type SubmissionContent } from "./detect-copy.ts";

const d = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;
function sub(
  id: string,
  hotkey: string,
  block: number,
  image: SubmissionContent["image"],
  extra: Partial<SubmissionContent> = {},
): SubmissionContent {
  return {
    submissionId: id,
    hotkey,
    priorityBlock: block,
    priorityIndex: 0,
    sequence: block,
    copyOf: null,
    image,
    ...extra,
  };
}

const original = sub("A", "alice", 10, {
  digest: d("a"),
  configDigest: d("c"),
  layers: [d("1"), d("2")],
  sizeBytes: 1000,
});

describe("detectCopy", () => {
  it("the same digest by a later hotkey is a copy; the earlier one is not", () => {
    const later = sub("B", "bob", 12, { digest: d("a") });
    expect(detectCopy({ candidate: later, others: [original] })).toMatchObject({
      kind: "same-digest",
      originalId: "A",
    });
    expect(detectCopy({ candidate: original, others: [later] })).toBeUndefined();
  });

  it("within one block the earlier event owns it, whatever the hotkeys' names or arrival", () => {
    const first = sub("Z", "zed", 10, { digest: d("a") }, { priorityIndex: 3, sequence: 2 });
    const second = sub("B", "abe", 10, { digest: d("a") }, { priorityIndex: 7, sequence: 1 });
    expect(detectCopy({ candidate: second, others: [first] })).toMatchObject({
      originalId: "Z",
      contested: false,
    });
    expect(detectCopy({ candidate: first, others: [second] })).toBeUndefined();
  });

  it("within one block of unknown order nobody owns it: each is a copy, and so is any later one", () => {
    const a = sub("A", "alice", 10, { digest: d("a") }, { priorityIndex: null, sequence: 1 });
    const b = sub("B", "bob", 10, { digest: d("a") }, { priorityIndex: 4, sequence: 2 });
    for (const [candidate, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const f = detectCopy({ candidate, others: [other] });
      expect(f).toMatchObject({ contested: true, originalId: other.submissionId });
      expect(f?.reason).toMatch(/same block 10.*neither commit owns the content/);
    }
    // Both were judged copies of each other; a third hotkey later still copies their content.
    const judged = [
      { ...a, copyOf: "B" },
      { ...b, copyOf: "A" },
    ];
    const later = sub("C", "carol", 12, { digest: d("a") });
    expect(detectCopy({ candidate: later, others: judged })).toMatchObject({
      contested: true,
      originalId: "A",
    });
    expect(detectCopy({ candidate: later, others: judged })?.reason).toMatch(
      /committed earlier \(block 10\)/,
    );
  });

  it("a thief's copy owns nothing: the owner's re-commit is not a copy of it, the thief's re-commit still is", () => {
    const thief = sub("T", "trudy", 11, { digest: d("a") }, { copyOf: "A" });
    const ownerAgain = sub("A2", "alice", 20, { digest: d("a") });
    expect(detectCopy({ candidate: ownerAgain, others: [original, thief] })).toBeUndefined();
    // Re-committing the copy does not reset its priority: the owner's first commit still counts.
    const thiefAgain = sub("T2", "trudy", 30, { digest: d("a") });
    expect(detectCopy({ candidate: thiefAgain, others: [original, thief, ownerAgain] })).toMatchObject({
      originalId: "A",
      contested: false,
    });
  });

  it("a timelocked commit owns from its reveal (before the block's extrinsics): a plain commit later in that block copies it", () => {
    const revealed = sub("R", "rita", 15, { digest: d("r") }, { priorityIndex: 0 });
    const plainLater = sub("P", "paul", 15, { digest: d("r") }, { priorityIndex: 2 });
    expect(detectCopy({ candidate: plainLater, others: [revealed] })?.originalId).toBe("R");
  });

  it("a re-tagged image (other digest, same config) is a copy", () => {
    const retag = sub("B", "bob", 12, { digest: d("b"), configDigest: d("c"), layers: [d("1"), d("2")] });
    const f = detectCopy({ candidate: retag, others: [original] });
    expect(f?.kind).toBe("same-config");
    expect(f?.reason).toMatch(/re-tagged or re-pushed copy/);
    expect(f?.reason).toMatch(/Submit an image you built yourself/);
  });

  it("the same layers in another config is a copy", () => {
    const relabel = sub("B", "bob", 12, { digest: d("b"), configDigest: d("e"), layers: [d("2"), d("1")] });
    expect(detectCopy({ candidate: relabel, others: [original] })?.kind).toBe("same-layers");
  });

  it("the leader plus small layers is a copy; large or many layers, or a non-leader base, are not", () => {
    const plus = sub("B", "bob", 12, {
      digest: d("b"),
      configDigest: d("e"),
      layers: [d("1"), d("2"), d("3")],
      sizeBytes: 5000,
    });
    expect(detectCopy({ candidate: plus, others: [original], leaderId: "A" })?.kind).toBe(
      "leader-plus-layers",
    );
    expect(detectCopy({ candidate: plus, others: [original] })).toBeUndefined();
    const big = { ...plus, image: { ...plus.image, sizeBytes: 1000 + 200 * 1024 * 1024 } };
    expect(detectCopy({ candidate: big, others: [original], leaderId: "A" })).toBeUndefined();
    const many = { ...plus, image: { ...plus.image, layers: [d("1"), d("2"), d("3"), d("4"), d("5")] } };
    expect(detectCopy({ candidate: many, others: [original], leaderId: "A" })).toBeUndefined();
    expect(
      detectCopy({
        candidate: many,
        others: [original],
        leaderId: "A",
        policy: { maxExtraLayers: 3, maxExtraBytes: 1e9 },
      })?.kind,
    ).toBe("leader-plus-layers");
    const rebased = { ...plus, image: { ...plus.image, layers: [d("9"), d("2"), d("3")] } };
    expect(detectCopy({ candidate: rebased, others: [original], leaderId: "A" })).toBeUndefined();
  });

  it("unknown metadata only compares digests", () => {
    const bare = sub("B", "bob", 12, { digest: d("b") });
    expect(
      detectCopy({ candidate: bare, others: [{ ...original, image: { digest: d("z") } }], leaderId: "A" }),
    ).toBeUndefined();
  });
});
