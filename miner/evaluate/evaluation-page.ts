import { armRoleOf } from "../../controller/rounds/arm-measurements.ts";
import { type LineSeries, lineChartSvg } from "../../controller/web/line-chart-svg.ts";
import { type Bar, barChartSvg, escapeXml } from "../../controller/web/svg-plot.ts";
import { median } from "../../shared/stats/summarise.ts";
import type { Evaluation } from "./evaluate-image.ts";
import type { EvaluationAnswer } from "./evaluation-answer.ts";

/** Most points one curve draws (longer ones are thinned evenly). */
const maxPoints = 200;

/**
 * The evaluation as one self-contained HTML page (inline CSS and SVG, no script, nothing
 * fetched): the answer and the bar first, then the plots: time-to-token curves of every arm,
 * TTFT and TPOT distributions, speed against the baseline with the bar, per-prompt correctness.
 * Every text from the images or the job is escaped. Pure.
 */
export function renderEvaluationHtml(evaluation: Evaluation, answer: EvaluationAnswer): string {
  const roleOf = new Map(evaluation.job.arms.map((a) => [a.armId, armLabel(evaluation, a.armId)]));
  const label = (armId: string) => roleOf.get(armId) ?? armId;

  // Time to token i: the median over the arm's outputs of the i-th token's arrival, ms.
  const curves: LineSeries[] = [...evaluation.tokenTimes].map(([armId, outputs]) => {
    const longest = Math.max(0, ...outputs.map((o) => o.length));
    const step = Math.max(1, Math.ceil(longest / maxPoints));
    const points: { x: number; y: number }[] = [];
    for (let i = 0; i < longest; i += step) {
      const at = outputs.flatMap((o) => (o[i] === undefined ? [] : [o[i] as number]));
      if (at.length > 0) points.push({ x: i + 1, y: median(at) });
    }
    return { name: label(armId), points };
  });
  const distribution = (pick: (r: Evaluation["requests"][number]) => number): LineSeries[] =>
    evaluation.job.arms.map((arm) => {
      const values = evaluation.requests
        .filter((r) => r.armId === arm.armId && r.ok)
        .map(pick)
        .filter((v) => Number.isFinite(v))
        .sort((a, b) => a - b);
      return {
        name: label(arm.armId),
        points: values.map((v, i) => ({ x: ((i + 1) / values.length) * 100, y: v })),
      };
    });
  const speedBars: Bar[] = evaluation.score.arms
    .filter(
      (a) => a.role !== "opening-baseline" && a.role !== "closing-baseline" && a.role !== "interim-baseline",
    )
    .map((a) => ({
      label: label(a.armId),
      value: a.speed,
      kind: a.gate === "pass" ? (a.submissionId === "yours" ? "info" : "baseline") : "fail",
      title: a.reason || `${a.speed.toFixed(3)}x the baseline`,
    }));
  const promptBars: Bar[] = answer.prompts.map((p) => ({
    label: `${p.promptId}${p.kind ? ` (${p.kind})` : ""}`,
    value: p.e2eMs,
    kind: p.verdict === "pass" ? "pass" : p.verdict === "fail" ? "fail" : "baseline",
    title: p.reasons.join(", ") || p.verdict,
  }));
  const bar = answer.bar;
  const noiseBand = bar
    ? `<p class="band">Bar: ${bar.needed.toFixed(3)}x the ${bar.against} (moat and ${(bar.noise * 100).toFixed(1)}% measured noise); yours: ${bar.ratio.toFixed(3)}x. Noise band: ${(1 - bar.noise).toFixed(3)}x to ${(1 + bar.noise).toFixed(3)}x.</p>`
    : "";
  const rows = answer.prompts
    .map(
      (p) =>
        `<tr class="${p.verdict === "fail" ? "fail" : ""}"><td>${escapeXml(p.promptId)}</td><td>${escapeXml(p.kind || "-")}</td><td>${p.ttftMs.toFixed(0)}</td><td>${p.e2eMs.toFixed(0)}</td><td>${escapeXml(p.verdict)}</td><td>${escapeXml(p.reasons.join(", "))}</td></tr>`,
    )
    .join("");
  const lines = (title: string, items: readonly string[]) =>
    items.length === 0
      ? ""
      : `<h2>${title}</h2><ul>${items.map((i) => `<li>${escapeXml(i)}</li>`).join("")}</ul>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>cacheon evaluation: ${escapeXml(answer.verdict)}</title>
<style>
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:1.5rem auto;max-width:60rem;padding:0 1rem;color:#222}
.verdict{font-size:1.4rem;font-weight:bold;padding:.6rem .9rem;border-radius:.4rem;background:#eceff1}
.verdict.paid{background:#e8f5e9;color:#1b5e20}.verdict.unpaid{background:#ffebee;color:#b71c1c}
table{border-collapse:collapse;width:100%;font-size:.85rem;overflow-wrap:anywhere}
th,td{border-bottom:1px solid #ddd;padding:.25rem .4rem;text-align:left}
tr.fail td{color:#b71c1c}.chart{display:block;margin:1rem 0}.band{color:#555}
</style></head><body>
<h1>Would a validator pay this image?</h1>
<p class="verdict ${answer.verdict === "leader" || answer.verdict === "runner-up" ? "paid" : "unpaid"}" id="verdict">${escapeXml(answer.verdict)}</p>
<p id="answer">${escapeXml(answer.answer)}</p>
<p id="next"><strong>Next:</strong> ${escapeXml(answer.nextStep)}</p>
<p>Speed: ${answer.speed.toFixed(3)}x the baseline (time to token k). Job ${escapeXml(evaluation.job.jobId)}, seed ${escapeXml(evaluation.job.roundSeed)}.</p>
${noiseBand}
${barChartSvg({ title: "Speed against the baseline (dashed: the bar to clear)", bars: speedBars, reference: bar?.needed ?? 1, format: (v) => `${v.toFixed(3)}x` })}
${lineChartSvg({ title: "Time to token (median over outputs)", series: curves, xLabel: "token", yLabel: "ms", format: (v) => v.toFixed(0) })}
${lineChartSvg({ title: "TTFT distribution", series: distribution((r) => r.ttftMs), xLabel: "percentile", yLabel: "ms", format: (v) => v.toFixed(0) })}
${lineChartSvg({ title: "TPOT distribution", series: distribution((r) => r.tpotMs), xLabel: "percentile", yLabel: "ms per token", format: (v) => v.toFixed(1) })}
${barChartSvg({ title: "Per-prompt end-to-end time (green: correct, red: failed)", bars: promptBars, format: (v) => `${v.toFixed(0)} ms` })}
<h2>Per prompt</h2>
<table id="prompts"><thead><tr><th>prompt</th><th>kind</th><th>TTFT ms</th><th>E2E ms</th><th>correctness</th><th>reasons</th></tr></thead><tbody>${rows}</tbody></table>
${lines("Correctness", answer.correctness)}
${lines("Findings", answer.findings)}
</body></html>
`;
}

/** "yours a1", "leader a1", "opening-baseline a0", ... */
function armLabel(evaluation: Evaluation, armId: string): string {
  const arm = evaluation.job.arms.find((a) => a.armId === armId);
  if (arm?.submissionId === "yours") return `yours ${armId}`;
  const role = Object.entries(armRoleOf).find(([, v]) => v === arm?.role)?.[0] ?? "arm";
  return `${role} ${armId}`;
}
