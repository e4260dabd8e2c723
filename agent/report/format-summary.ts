import type { BenchReportJson, DistributionJson } from "./bench-report.ts";

/** The terminal summary of one measured server. */
export function formatBenchSummary(r: BenchReportJson, title = "bench"): string {
  const lines: string[] = [];
  lines.push(`${title}: ${r.endpoint}  model ${r.model}  seed ${r.seed}`);
  lines.push(
    `  requests ${r.requests} (${r.completed} completed, ${r.failed} failed)   wall ${r.wall_s.toFixed(3)} s` +
      (r.repetition_wall_s.length > 1
        ? ` (median of ${r.repetition_wall_s.map((w) => w.toFixed(3)).join(", ")}; cv ${(r.wall_cv * 100).toFixed(1)}%)`
        : ""),
  );
  lines.push(
    `  output ${r.output_tokens} tokens (counted from ${r.token_count_source})   ${r.output_tokens_per_s.toFixed(1)} tokens/s   ${r.requests_per_s.toFixed(2)} requests/s`,
  );
  lines.push(`  ${"".padEnd(10)}${["mean", "p50", "p90", "p99", "max"].map((h) => h.padStart(10)).join("")}`);
  const row = (name: string, d: DistributionJson) =>
    `  ${name.padEnd(10)}${[d.mean, d.p50, d.p90, d.p99, d.max].map((v) => v.toFixed(2).padStart(10)).join("")}`;
  lines.push(
    row("ttft ms", r.ttft_ms),
    row("tpot ms", r.tpot_ms),
    row("itl ms", r.itl_ms),
    row("e2e ms", r.e2e_ms),
  );
  lines.push(row("queued ms", r.queued_ms));
  for (const [code, count] of Object.entries(r.failures_by_code)) {
    const first = r.per_request.find((q) => q.failure === code);
    lines.push(
      `  failed: ${code} x${count}${first ? ` (e.g. request ${first.request_index}: ${first.failure_detail})` : ""}`,
    );
  }
  for (const f of r.findings) lines.push(`  finding: ${f}`);
  return `${lines.join("\n")}\n`;
}
