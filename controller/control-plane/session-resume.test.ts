import { describe, expect, it } from "vitest";
import type { JobState } from "./control-plane-store.ts";
import { decideResume, type ResumeFacts } from "./session-resume.ts";

// The decisions behind an agent's reconnect. The restart bug of issue 17 (an agent that finished
// its job while the controller was away came back "running nothing" and the job ran again on a
// second pod) is the row "ended while the controller was away"; the sessions themselves, over
// real HTTP/2 with restarts, are in control-plane-restart.test.ts.
const facts = (change: Partial<ResumeFacts>): ResumeFacts => ({
  agentId: "a1",
  resumingJobId: "",
  resumingJob: undefined,
  openJobIds: [],
  unacknowledgedJobIds: new Set(),
  ...change,
});
const job = (state: JobState, agentId = "a1") => ({ agentId, state });
const lostReason = "the job was handed to another pod after this agent was declared lost";
const notOpen = "the job is not open on this agent";

describe("decideResume", () => {
  it.each<[string, Partial<ResumeFacts>, string | undefined, string[]]>([
    ["a fresh agent with nothing", {}, undefined, []],
    [
      "resuming its open job",
      { resumingJobId: "j1", resumingJob: job("assigned"), openJobIds: ["j1"] },
      undefined,
      [],
    ],
    [
      "ended while the controller was away: its outcome is stored, only the ack was lost",
      { resumingJobId: "j1", resumingJob: job("finished") },
      undefined,
      [],
    ],
    ["its job failed and was stored", { resumingJobId: "j1", resumingJob: job("failed") }, undefined, []],
    [
      "ended while away, outcome not yet stored: named, so not handed back (it resends the outcome)",
      { resumingJobId: "j1", resumingJob: job("assigned"), openJobIds: ["j1"] },
      undefined,
      [],
    ],
    [
      "resuming a job handed elsewhere after it was declared lost",
      { resumingJobId: "j1", resumingJob: job("lost") },
      lostReason,
      [],
    ],
    ["resuming a cancelled job", { resumingJobId: "j1", resumingJob: job("cancelled") }, notOpen, []],
    [
      "resuming another agent's job",
      { resumingJobId: "j1", resumingJob: job("assigned", "a2") },
      notOpen,
      [],
    ],
    [
      "resuming another agent's finished job",
      { resumingJobId: "j1", resumingJob: job("finished", "a2") },
      notOpen,
      [],
    ],
    ["resuming a job the store never had", { resumingJobId: "j9" }, notOpen, []],
    ["restarted without its acknowledged job", { openJobIds: ["j1"] }, undefined, ["j1"]],
    [
      "a job sent but not yet acknowledged: it is sent again, not handed back",
      { openJobIds: ["j1"], unacknowledgedJobIds: new Set(["j1"]) },
      undefined,
      [],
    ],
    [
      "one resumed, one forgotten, one still to be delivered",
      {
        resumingJobId: "j1",
        resumingJob: job("assigned"),
        openJobIds: ["j1", "j2", "j3"],
        unacknowledgedJobIds: new Set(["j3"]),
      },
      undefined,
      ["j2"],
    ],
  ])("%s", (_, change, cancel, handBack) => {
    expect(decideResume(facts(change))).toEqual({ cancelResuming: cancel, handBack });
  });
});
