import type { RequestTimeline } from "../bench/run-workload.ts";
import type { BenchReportJson, CompareReportJson, DistributionJson } from "./bench-report.ts";

/** One measured server in the page. */
export interface HtmlArm {
  name: string;
  report: BenchReportJson;
  timeline: readonly RequestTimeline[];
}

/** Input of {@link renderHtmlReport}. */
export interface HtmlReportInput {
  title: string;
  /** One arm for `bench`, reference and candidate for `compare`. */
  arms: readonly HtmlArm[];
  /** Compare only. */
  verdict?: CompareReportJson["verdict"];
  speedRatio?: number;
  /** What speedRatio is, e.g. "time-to-token-k". @default "time-to-token-k" */
  speedStatistic?: string;
  correctness?: CompareReportJson["correctness"];
  /** When the report was made. @default new Date() */
  generatedAt?: Date;
}

const colours = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1"];
const width = 760;
const height = 220;
const pad = { left: 56, right: 12, top: 12, bottom: 34 };

/**
 * A self-contained HTML page (inline CSS and SVG, no scripts, no external assets): the summary
 * table, TTFT distribution, output tokens/s over time, a per-request timeline, findings and,
 * for a comparison, the correctness verdict with per-prompt evidence.
 */
export function renderHtmlReport(input: HtmlReportInput): string {
  const generated = (input.generatedAt ?? new Date()).toISOString();
  const parts: string[] = [];
  parts.push(`<h1>${esc(input.title)}</h1><p class="muted">generated ${esc(generated)}</p>`);
  if (input.verdict) {
    parts.push(
      `<p class="verdict ${input.verdict}">verdict: <b>${input.verdict.toUpperCase()}</b> &middot; speed ratio (${esc(input.speedStatistic ?? "time-to-token-k")}) <b>${(input.speedRatio ?? 0).toFixed(4)}</b></p>`,
    );
  }
  parts.push(summaryTable(input.arms));
  for (const arm of input.arms) {
    const notes = [
      ...arm.report.findings.map((f) => `finding: ${f}`),
      ...Object.entries(arm.report.failures_by_code).map(([c, n]) => `failed: ${c} x${n}`),
    ];
    if (notes.length > 0)
      parts.push(`<h3>${esc(arm.name)}</h3><ul>${notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>`);
  }
  parts.push("<h2>Time to first token</h2>", ttftHistogram(input.arms));
  parts.push("<h2>Output tokens per second over time</h2>", throughputChart(input.arms));
  for (const [i, arm] of input.arms.entries()) {
    parts.push(
      `<h2>Per-request timeline: ${esc(arm.name)}</h2>`,
      timelineChart(arm, colours[i % colours.length] as string),
    );
  }
  if (input.correctness) parts.push(correctnessSection(input.correctness));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:820px;color:#1a202c}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #cbd5e0;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.muted{color:#718096}.verdict{font-size:18px}
.pass{color:#2f855a}.fail{color:#c53030}svg{background:#f7fafc;border:1px solid #e2e8f0}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
</style></head><body>
${parts.join("\n")}
</body></html>
`;
}

function summaryTable(arms: readonly HtmlArm[]): string {
  const head = `<tr><th></th>${arms.map((a) => `<th>${esc(a.name)}</th>`).join("")}</tr>`;
  const row = (label: string, f: (r: BenchReportJson) => string) =>
    `<tr><td>${label}</td>${arms.map((a) => `<td>${esc(f(a.report))}</td>`).join("")}</tr>`;
  const dist = (label: string, pick: (r: BenchReportJson) => DistributionJson) =>
    row(label, (r) => {
      const d = pick(r);
      return `${d.mean.toFixed(2)} / ${d.p50.toFixed(2)} / ${d.p90.toFixed(2)} / ${d.p99.toFixed(2)}`;
    });
  return `<table>${head}
${row("endpoint", (r) => r.endpoint)}
${row("requests (completed / failed)", (r) => `${r.requests} (${r.completed} / ${r.failed})`)}
${row("wall s (repetitions)", (r) => `${r.wall_s.toFixed(3)} (${r.repetition_wall_s.map((w) => w.toFixed(3)).join(", ")})`)}
${row("output tokens (source)", (r) => `${r.output_tokens} (${r.token_count_source})`)}
${row("output tokens/s", (r) => r.output_tokens_per_s.toFixed(1))}
${row("requests/s", (r) => r.requests_per_s.toFixed(3))}
${dist("TTFT ms mean/p50/p90/p99", (r) => r.ttft_ms)}
${dist("TPOT ms mean/p50/p90/p99", (r) => r.tpot_ms)}
${dist("ITL ms mean/p50/p90/p99", (r) => r.itl_ms)}
${dist("E2E ms mean/p50/p90/p99", (r) => r.e2e_ms)}
${dist("queued ms mean/p50/p90/p99", (r) => r.queued_ms)}
</table>`;
}

function legend(arms: readonly HtmlArm[]): string {
  if (arms.length < 2) return "";
  return `<p class="legend">${arms.map((a, i) => `<span style="background:${colours[i % colours.length]}"></span>${esc(a.name)}`).join("")}</p>`;
}

function ttftHistogram(arms: readonly HtmlArm[]): string {
  const values = arms.map((a) => a.report.per_request.filter((r) => r.ok).map((r) => r.ttft_ms));
  const all = values.flat();
  if (all.length === 0) return "<p>No completed requests.</p>";
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const bins = 30;
  const span = hi > lo ? hi - lo : 1;
  const counts = values.map((vs) => {
    const c = new Array<number>(bins).fill(0);
    for (const v of vs) {
      const b = Math.min(bins - 1, Math.floor(((v - lo) / span) * bins));
      c[b] = (c[b] ?? 0) + 1;
    }
    return c;
  });
  const maxCount = Math.max(...counts.flat(), 1);
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = plotW / bins / arms.length;
  const bars = counts
    .map((c, a) =>
      c
        .map((n, b) => {
          if (n === 0) return "";
          const h = (n / maxCount) * plotH;
          const x = pad.left + (b * plotW) / bins + a * barW;
          return `<rect x="${x.toFixed(1)}" y="${(pad.top + plotH - h).toFixed(1)}" width="${Math.max(barW - 1, 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${colours[a % colours.length]}"><title>${n} requests</title></rect>`;
        })
        .join(""),
    )
    .join("");
  return `${legend(arms)}${svg(bars + axes(lo, lo + span, "TTFT ms", 0, maxCount, "requests"))}`;
}

function throughputChart(arms: readonly HtmlArm[]): string {
  const end = Math.max(
    0,
    ...arms.flatMap((a) => a.timeline.map((t) => (Number.isFinite(t.endMs) ? t.endMs : 0))),
  );
  if (end <= 0) return "<p>No completed requests.</p>";
  const bins = 60;
  const binMs = end / bins;
  const series = arms.map((arm) => {
    const tokens = new Array<number>(bins).fill(0);
    for (const t of arm.timeline) {
      if (!t.ok || !(t.lastContentMs >= t.firstContentMs) || t.outputTokens === 0) continue;
      // Tokens spread evenly between first and last content: a fair picture at this resolution.
      const dur = Math.max(t.lastContentMs - t.firstContentMs, 1e-6);
      for (let b = 0; b < bins; b++) {
        const s = Math.max(b * binMs, t.firstContentMs);
        const e = Math.min((b + 1) * binMs, t.lastContentMs);
        if (e > s) tokens[b] = (tokens[b] as number) + (t.outputTokens * (e - s)) / dur;
        else if (
          t.lastContentMs === t.firstContentMs &&
          t.firstContentMs >= b * binMs &&
          t.firstContentMs < (b + 1) * binMs
        ) {
          tokens[b] = (tokens[b] as number) + t.outputTokens;
        }
      }
    }
    return tokens.map((n) => n / (binMs / 1000));
  });
  const maxRate = Math.max(...series.flat(), 1);
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const lines = series
    .map((rates, a) => {
      const points = rates
        .map(
          (r, b) =>
            `${(pad.left + ((b + 0.5) * plotW) / bins).toFixed(1)},${(pad.top + plotH - (r / maxRate) * plotH).toFixed(1)}`,
        )
        .join(" ");
      return `<polyline fill="none" stroke="${colours[a % colours.length]}" stroke-width="2" points="${points}"/>`;
    })
    .join("");
  return `${legend(arms)}${svg(lines + axes(0, end / 1000, "seconds since the first timed request", 0, maxRate, "tokens/s"))}`;
}

function timelineChart(arm: HtmlArm, colour: string): string {
  const rows = arm.timeline.slice(0, 400);
  if (rows.length === 0) return "<p>No requests.</p>";
  const end = Math.max(...rows.map((t) => (Number.isFinite(t.endMs) ? t.endMs : t.sentMs)), 1);
  const rowH = Math.max(1, Math.min(6, 300 / rows.length));
  const h = pad.top + pad.bottom + rows.length * rowH;
  const plotW = width - pad.left - pad.right;
  const x = (ms: number) => (pad.left + (ms / end) * plotW).toFixed(1);
  const marks = rows
    .map((t, i) => {
      const y = (pad.top + i * rowH + rowH / 2).toFixed(1);
      const stop = Number.isFinite(t.endMs) ? t.endMs : t.sentMs;
      const waiting = `<line x1="${x(t.sentMs)}" x2="${x(Number.isFinite(t.firstContentMs) ? t.firstContentMs : stop)}" y1="${y}" y2="${y}" stroke="#a0aec0" stroke-width="${Math.max(1, rowH - 1)}"/>`;
      const streaming = Number.isFinite(t.firstContentMs)
        ? `<line x1="${x(t.firstContentMs)}" x2="${x(Math.max(t.lastContentMs, t.firstContentMs + end / plotW))}" y1="${y}" y2="${y}" stroke="${t.ok ? colour : "#c53030"}" stroke-width="${Math.max(1, rowH - 1)}"/>`
        : "";
      return `<g><title>rep ${t.repetition} request ${t.requestIndex}: ${t.outputTokens} tokens${t.ok ? "" : " (failed)"}</title>${waiting}${streaming}</g>`;
    })
    .join("");
  const note =
    arm.timeline.length > rows.length
      ? `<p class="muted">first ${rows.length} of ${arm.timeline.length} requests</p>`
      : "";
  return `<p class="muted">grey: waiting for the first token; colour: streaming; red: failed</p>${note}${svg(marks + axes(0, end / 1000, "seconds since the first timed request", 0, 0, ""), h)}`;
}

function correctnessSection(c: CompareReportJson["correctness"]): string {
  const rows = c.evidence
    .map(
      (e) =>
        `<tr><td>${esc(String(e.prompt_id))}</td><td>${e.request_index}</td><td class="${e.verdict}">${esc(String(e.verdict))}</td><td>${e.shared_prefix_tokens}/${e.reference_tokens}</td><td>${fmt(e.max_prefix_logprob_diff)}</td><td>${fmt(e.teacher_forced_mean_logprob)}</td><td>${fmt(e.reference_mean_logprob)}</td><td style="text-align:left">${esc(String(e.reason))}</td></tr>`,
    )
    .join("");
  return `<h2>Correctness: <span class="${c.passed ? "pass" : "fail"}">${c.passed ? "passed" : "failed"}</span></h2>
<p>${c.prompts} outputs judged: ${c.prompts_passed} passed, ${c.prompts_failed} failed, ${c.prompts_missing} missing.</p>
${c.reasons.length ? `<ul>${c.reasons.map((r) => `<li>${esc(r)}</li>`).join("")}</ul>` : ""}
<table><tr><th>prompt</th><th>request</th><th>verdict</th><th>shared prefix</th><th>max prefix &Delta;logprob</th><th>teacher-forced mean logprob</th><th>reference mean logprob</th><th>reason</th></tr>${rows}</table>
<p class="muted">thresholds: ${esc(c.thresholds.join(", "))}</p>`;
}

function svg(body: string, h = height): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" font-size="11" font-family="system-ui,sans-serif">${body.replaceAll("__H__", String(h))}</svg>`;
}

/** Axes with min/max tick labels; the x axis sits at the bottom of whatever height the svg gets. */
function axes(x0: number, x1: number, xLabel: string, y0: number, y1: number, yLabel: string): string {
  const xAxisY = "__H__";
  return `<g fill="#4a5568"><text x="${pad.left}" y="${xAxisY}" dy="-18">${fmt(x0)}</text><text x="${width - pad.right}" y="${xAxisY}" dy="-18" text-anchor="end">${fmt(x1)}</text><text x="${(width / 2).toFixed(0)}" y="${xAxisY}" dy="-4" text-anchor="middle">${esc(xLabel)}</text>${
    yLabel
      ? `<text x="${pad.left - 4}" y="${pad.top + 8}" text-anchor="end">${fmt(y1)}</text><text x="${pad.left - 4}" y="${xAxisY}" dy="-${pad.bottom}" text-anchor="end">${fmt(y0)}</text><text x="10" y="${pad.top + 40}" transform="rotate(-90 10 ${pad.top + 40})" text-anchor="end">${esc(yLabel)}</text>`
      : ""
  }</g>`;
}

function fmt(v: unknown): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return "-";
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
