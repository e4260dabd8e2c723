import { describe, expect, it } from "vitest";
import { uploadRefusal } from "./artefact-intake.ts";
import type { ArtefactRow } from "./control-plane-store.ts";

// What an agent (or a rogue one) gets when it announces an artefact: the decision alone; the
// grants, uploads and checks over real HTTP/2 and a real S3 server are in agent-uploads.test.ts.
const now = 1_000_000;
const row = (state: ArtefactRow["state"], fields: Partial<ArtefactRow> = {}): ArtefactRow => ({
  jobId: "j1",
  name: "evidence/c1",
  maxBytes: 1000,
  state,
  sizeBytes: 0,
  sha256: "",
  expiresAtMs: 0,
  problem: "",
  location: "",
  ...fields,
});
const request = { sizeBytes: 500, jobState: "assigned", nowMs: now, takesUploads: true };

describe("uploadRefusal", () => {
  it.each<[string, ArtefactRow | undefined, Partial<typeof request>, string | undefined]>([
    ["a target of an open job, within its size", row("allowed"), {}, undefined],
    ["exactly its size limit", row("allowed"), { sizeBytes: 1000 }, undefined],
    ["a grant that expired: a new URL", row("granted", { expiresAtMs: now - 1 }), {}, undefined],
    [
      "a controller that takes no uploads",
      row("allowed"),
      { takesUploads: false },
      "this controller takes no uploads",
    ],
    ["a name its job does not give", undefined, {}, "the job names no such upload target"],
    [
      "one uploaded and verified",
      row("verified"),
      {},
      "it was checked already (verified); an artefact is uploaded once",
    ],
    [
      "one refused on its check",
      row("refused"),
      {},
      "it was checked already (refused); an artefact is uploaded once",
    ],
    [
      "a grant still valid",
      row("granted", { expiresAtMs: now + 1 }),
      {},
      "a URL granted for it is still valid; use that one",
    ],
    ["a finished job", row("allowed"), { jobState: "finished" }, "the job is over"],
    ["a job handed elsewhere", row("allowed"), { jobState: "lost" }, "the job is over"],
    ["a job unknown to the store", row("allowed"), { jobState: undefined }, "the job is over"],
    [
      "one byte over its limit",
      row("allowed"),
      { sizeBytes: 1001 },
      "1001 bytes is above the 1000 allowed; cut it",
    ],
  ])("%s", (_, artefact, change, refusal) => {
    expect(uploadRefusal(artefact, { ...request, ...change })).toBe(refusal);
  });
});
