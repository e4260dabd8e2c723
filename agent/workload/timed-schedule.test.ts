import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { clone, create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import {
  ScheduledRequestSchema,
  WorkloadPromptsSchema,
  WorkloadSpecSchema,
} from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { planWorkload } from "../../shared/workload/plan-workload.ts";
import { promptKey } from "../../shared/workload/prompt-key.ts";
import { workloadPromptsMessage } from "../../shared/workload/workload-prompts-message.ts";
import { runWorkload } from "../bench/run-workload.ts";
import { jobSchedule, scheduleFromJob, scheduleFromPool } from "./timed-schedule.ts";

const plan = planWorkload({
  key: promptKey(new Uint8Array(32).fill(3), "5eed"),
  requests: 3,
  canaries: 1,
  probes: 1,
  repetitions: 2,
  warmup: 1,
  targetTokens: 200,
});
const message = workloadPromptsMessage(plan);

describe("scheduleFromJob", () => {
  it("gives each repetition its prompts, in order, with their kinds", () => {
    const schedule = scheduleFromJob(message);
    expect(schedule.warmup.map((p) => p.id)).toEqual(plan.warmup);
    expect(schedule.repetitions.map((r) => r.map((p) => [p.id, p.kind]))).toEqual(
      plan.repetitions.map((r) => r.map((q) => [q.promptId, q.kind])),
    );
    const first = plan.prompts.find((p) => p.id === schedule.repetitions[0]?.[0]?.id);
    expect(schedule.repetitions[0]?.[0]?.messages).toEqual(first?.messages);
  });

  const broken: Array<[string, (m: typeof message) => void, RegExp]> = [
    [
      "a duplicate prompt id",
      (m) => m.prompts.push(clone(WorkloadPromptsSchema, m).prompts[0] as never),
      /is used twice/,
    ],
    [
      "an unknown role",
      (m) => ((m.prompts[0]?.messages[0] as { role: string }).role = "tool"),
      /role "tool"/,
    ],
    [
      "an undefined prompt",
      (m) => ((m.repetitions[0]?.requests[0] as { promptId: string }).promptId = "nope"),
      /names prompt "nope"/,
    ],
    [
      "an unknown kind",
      (m) => ((m.repetitions[0]?.requests[0] as { kind: string }).kind = "secret"),
      /kind "secret"/,
    ],
    [
      "a scored prompt timed twice",
      (m) => {
        const scored = m.repetitions[0]?.requests.find((r) => r.kind === "scored");
        if (scored)
          m.repetitions[1]?.requests.push(
            create(ScheduledRequestSchema, { promptId: scored.promptId, kind: scored.kind }),
          );
      },
      /again, which only probes may be/,
    ],
    [
      "a warm-up prompt that is also timed",
      (m) => m.warmupPromptIds.push(m.repetitions[0]?.requests[0]?.promptId ?? ""),
      /also timed/,
    ],
    ["no repetition", (m) => m.repetitions.splice(0), /no timed repetition/],
  ];
  it.each(broken)("refuses a job with %s, saying what is wrong", (_, breakIt, problem) => {
    const bad = clone(WorkloadPromptsSchema, message);
    breakIt(bad);
    expect(() => scheduleFromJob(bad)).toThrow(CacheonError);
    expect(() => scheduleFromJob(bad)).toThrow(problem);
  });
});

describe("jobSchedule", () => {
  it("uses the job's prompts, refuses generated prompts that are missing, and leaves pools alone", () => {
    const withPrompts = create(EvaluationJobSchema, {
      prompts: message,
      workload: { promptSource: "generated:x" },
    });
    expect(jobSchedule(withPrompts)?.repetitions).toHaveLength(2);
    const missing = create(EvaluationJobSchema, { workload: { promptSource: "generated:cacheon-gen-v1/x" } });
    expect(() => jobSchedule(missing)).toThrow(/carries no prompts/);
    expect(
      jobSchedule(create(EvaluationJobSchema, { workload: { promptSource: "bundled:cacheon-chat-v1" } })),
    ).toBe(undefined);
  });
});

describe("scheduleFromPool", () => {
  it("sends the same scored prompts in every repetition, as pool workloads always did", () => {
    const pool = Array.from({ length: 10 }, (_, i) => ({
      id: `q${i}`,
      messages: [{ role: "user" as const, content: `${i}` }],
    }));
    const s = scheduleFromPool({ pool, requests: 4, warmup: 2, repetitions: 3, roundSeed: "ab" });
    expect(s.repetitions).toHaveLength(3);
    expect(s.repetitions[1]).toEqual(s.repetitions[0]);
    expect(s.repetitions[0]?.every((p) => p.kind === "scored")).toBe(true);
    expect(s.warmup).toHaveLength(2);
  });
});

describe("runWorkload with a job's schedule", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it("sends every kind with the same request shape and records the kind only on the agent's side", async () => {
    // A server that records what it is sent and answers one token, so the test sees the bytes a
    // server under test sees.
    const bodies: Array<Record<string, unknown>> = [];
    server = createServer((req, res) => {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => {
        bodies.push(JSON.parse(text) as Record<string, unknown>);
        res.writeHead(200, { "content-type": "text/event-stream" });
        const chunk = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
        chunk({
          choices: [
            {
              index: 0,
              delta: { role: "assistant", content: "Hi" },
              logprobs: {
                content: [
                  {
                    token: "token_id:13048",
                    logprob: -0.1,
                    top_logprobs: [{ token: "token_id:13048", logprob: -0.1 }],
                  },
                ],
              },
              finish_reason: "length",
            },
          ],
        });
        chunk({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } });
        res.end("data: [DONE]\n\n");
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const run = await runWorkload({
      endpoint: `http://127.0.0.1:${port}`,
      workload: create(WorkloadSpecSchema, {
        model: "m",
        maxTokens: 1,
        topLogprobs: 1,
        requestTimeoutMs: 10_000,
        stallTimeoutMs: 10_000,
        arrival: { process: { case: "closedLoop", value: { concurrency: 1 } } },
      }),
      schedule: scheduleFromJob(message),
      roundSeed: "ab",
    });
    expect(bodies).toHaveLength(1 + 2 * 5);
    const shapes = new Set(bodies.map((b) => JSON.stringify(Object.keys(b))));
    expect(shapes.size).toBe(1);
    const sent = JSON.stringify(bodies);
    for (const word of ["probe", "canary", "scored", "kind", "p0"]) expect(sent).not.toContain(`"${word}`);
    // The agent keeps the kind beside each request and output, by repetition and position.
    const kinds = run.requests.map((r) => [r.repetition, r.requestIndex, r.promptId, r.promptKind]);
    expect(kinds).toEqual(
      plan.repetitions.flatMap((rep, r) => rep.map((q, i) => [r, i, q.promptId, q.kind])),
    );
    expect(run.outputs.map((o) => o.kind)).toEqual(plan.repetitions.flat().map((q) => q.kind));
    expect(new Set(run.prompts.map((p) => p.id)).size).toBe(run.prompts.length);
    expect(run.prompts).toHaveLength(1 + 2 * 4);
  });
});
