import { describe, expect, it } from "vitest";
import { detectCopy, type SubmissionContent } from "./detect-copy.ts";

const d = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;
function sub(
  id: string,
  hotkey: string,
  block: number,
  image: SubmissionContent["image"],
  sequence = block,
): SubmissionContent {
  return { submissionId: id, hotkey, commitBlock: block, sequence, image };
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

  it("within one block the earlier arrival owns it", () => {
    const same = sub("B", "bob", 10, { digest: d("a") }, 11);
    expect(detectCopy({ candidate: same, others: [{ ...original, sequence: 9 }] })?.originalId).toBe("A");
    expect(detectCopy({ candidate: { ...original, sequence: 12 }, others: [same] })?.originalId).toBe("B");
  });

  it("a hotkey may resubmit its own work", () => {
    expect(
      detectCopy({ candidate: sub("A2", "alice", 20, { digest: d("a") }), others: [original] }),
    ).toBeUndefined();
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
