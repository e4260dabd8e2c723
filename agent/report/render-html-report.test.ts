import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  ArmSummarySchema,
  RequestMetricsSchema,
  TokenCountSource,
} from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { summarise } from "../../shared/stats/summarise.ts";
import { benchReportJson } from "./bench-report.ts";
import { formatBenchSummary } from "./format-summary.ts";
import { renderHtmlReport } from "./render-html-report.ts";

const requests = [0, 1, 2].map((i) =>
  create(RequestMetricsSchema, {
    requestIndex: i,
    promptId: i === 1 ? '<img src="x" onerror="alert(1)">' : `p${i}`,
    ok: i !== 2,
    failure: i === 2 ? "stall" : "",
    failureDetail: i === 2 ? "the server sent nothing for 100 ms" : "",
    ttftMs: 10 + i,
    e2eMs: 100 + i,
    tpotMs: 2,
    outputTokens: 46,
  }),
);
const summary = create(ArmSummarySchema, {
  requests: 3,
  completed: 2,
  failed: 1,
  wallS: 0.5,
  repetitionWallS: [0.5],
  outputTokens: 92n,
  outputTokensPerS: 184,
  tokenCountSource: TokenCountSource.LOGPROBS,
  ttftMs: summarise([10, 11]),
  e2eMs: summarise([100, 101]),
  failuresByCode: { stall: 1 },
  findings: ["responses may be cached <b>"],
});
const report = benchReportJson({ endpoint: "http://h:1/<x>", model: "m", seed: "ab", summary, requests });
const timeline = requests.map((r, i) => ({
  repetition: 0,
  requestIndex: i,
  sentMs: i * 5,
  firstContentMs: i === 2 ? Number.NaN : i * 5 + 10,
  lastContentMs: i === 2 ? Number.NaN : i * 5 + 100,
  endMs: i * 5 + 101,
  outputTokens: r.outputTokens,
  ok: r.ok,
}));

describe("renderHtmlReport", () => {
  it("escapes every text it shows and loads nothing from outside", () => {
    const html = renderHtmlReport({
      title: "t <script>",
      arms: [{ name: "a", report, timeline }],
      generatedAt: new Date(0),
    });
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<x>");
    expect(html).toContain("responses may be cached &#60;b&#62;");
    expect(html).toContain("failed: stall x1");
    expect(html.match(/<svg/g)).toHaveLength(3);
    expect(html).not.toMatch(/src=|href=|@import|url\(/);
  });

  it("draws something sensible for an arm with nothing completed", () => {
    const empty = benchReportJson({
      endpoint: "e",
      model: "m",
      seed: "ab",
      summary: create(ArmSummarySchema, {}),
      requests: [],
    });
    const html = renderHtmlReport({ title: "t", arms: [{ name: "a", report: empty, timeline: [] }] });
    expect(html).toContain("No completed requests.");
    expect(html).toContain("No requests.");
  });
});

describe("report JSON and terminal summary", () => {
  it("names the token source, keeps failures with an example, and lists findings", () => {
    expect(report).toMatchObject({
      requests: 3,
      completed: 2,
      failed: 1,
      output_tokens: 92,
      token_count_source: "logprobs",
    });
    expect(report.ttft_ms).toMatchObject({ mean: 10.5, p50: 10.5, count: 2 });
    const text = formatBenchSummary(report);
    expect(text).toContain("failed: stall x1 (e.g. request 2: the server sent nothing for 100 ms)");
    expect(text).toContain("finding: responses may be cached <b>");
    expect(text).toContain("counted from logprobs");
  });
});
