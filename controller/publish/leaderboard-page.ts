import { escapeXml as esc } from "../web/svg-plot.ts";
import {
  challengersPlot,
  leaderSpeedPlot,
  noisePerPodPlot,
  shortKey,
  verdictGroup,
} from "./history-plots.ts";
import type {
  LeaderboardDocument,
  PublishedAttempt,
  PublishedMiner,
  PublishedRound,
  PublishedSeat,
} from "./leaderboard-document.ts";

/** Options of {@link leaderboardPageHtml}. */
export interface LeaderboardPageOptions {
  /** @default "cacheon leaderboard" */
  title?: string;
  /** HTML placed under the header (the operators' status panel); none on the published page. */
  operatorPanel?: string;
  /** HTML placed after the rounds (the operators' latest round in detail); none on the published page. */
  appendix?: string;
  /** Link to the JSON the page shows. @default "leaderboard.json" */
  jsonHref?: string;
  /** Link of a round. @default its summary JSON, relative to leaderboard.json */
  roundHref?: (round: PublishedRound) => string;
  /** Reload the page every this many seconds (the live operators' page). @default never */
  refreshSeconds?: number;
}

/**
 * The leaderboard as one self-contained HTML page: inline CSS, SVG and a few lines of script
 * (the miner filter; everything else works without it), nothing fetched from anywhere, so it
 * opens from a folder, a bucket or the live server alike. The document is embedded too
 * (`<script type="application/json" id="leaderboard-data">`). Everything miners wrote is escaped.
 */
export function leaderboardPageHtml(doc: LeaderboardDocument, options: LeaderboardPageOptions = {}): string {
  const title = options.title ?? "cacheon leaderboard";
  const jsonHref = options.jsonHref ?? "leaderboard.json";
  const roundHref = options.roundHref ?? ((r: PublishedRound) => r.summary);
  const refresh = options.refreshSeconds
    ? `<meta http-equiv="refresh" content="${options.refreshSeconds}">`
    : "";
  const latest = doc.rounds[0];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>${refresh}<link rel="icon" href="data:,">
<style>${pageCss}</style></head>
<body><main>
<header><h1>${esc(title)}</h1>
<p class="sub">The fastest correct server of Qwen2.5-72B-Instruct, as this validator measured it.
Updated <time datetime="${esc(doc.generatedAt)}">${esc(humanTime(doc.generatedAt))}</time>${latest ? ` after round ${latest.number} (block ${latest.block})` : ""}.
Data: <a href="${esc(jsonHref)}">leaderboard.json</a> (<code>${esc(doc.schema)}</code>).</p></header>
${options.operatorPanel ?? ""}
<section id="standing" aria-label="standing"><h2>Who is paid now</h2><div class="cards">
${seatCard("Leader", doc.standing.leader, doc.policy?.leaderShare, doc.standing.runnerUp ? undefined : 1)}
${seatCard("Runner-up", doc.standing.runnerUp, doc.policy?.runnerUpShare)}
</div>${barHtml(doc)}</section>
<section id="history" aria-label="history"><h2>History</h2><div class="charts">
<figure>${leaderSpeedPlot(doc)}</figure>
<figure>${challengersPlot(doc)}</figure>
<figure>${noisePerPodPlot(doc)}</figure>
</div></section>
<section id="miners" aria-label="miners"><h2>Miners <span class="count">${doc.miners.length}</span></h2>
<p class="hint">Each hotkey's current submission. Open a row for every attempt, the measurements behind it and what to do next.</p>
<input id="filter" type="search" placeholder="Find a hotkey, uid or image" aria-label="find a miner">
<div class="wrap"><table class="miners"><thead><tr><th class="num">#</th><th class="num">uid</th><th>hotkey</th><th>verdict</th><th class="num">speed</th><th>image</th><th>why</th></tr></thead>
${doc.miners.map(minerRows).join("\n") || `<tbody><tr><td colspan="7" class="empty">No submissions yet.</td></tr></tbody>`}
</table></div></section>
<section id="rounds" aria-label="rounds"><h2>Rounds</h2>
<div class="wrap"><table class="rounds"><thead><tr><th class="num">round</th><th class="num">block</th><th>settled</th><th class="num">challengers</th><th>verdicts</th><th>leader after</th><th>pods</th><th></th></tr></thead><tbody>
${doc.rounds.map((r) => roundRow(r, roundHref(r))).join("\n") || `<tr><td colspan="8" class="empty">No settled round yet.</td></tr>`}
</tbody></table></div></section>
${options.appendix ?? ""}
<footer><p>How a verdict is reached: every job runs the pinned baseline before and after the challengers on one pod; speed is the baseline's time to each token over the arm's.
A challenger must pass the correctness gate, then beat the seat holder on the same pod by more than the bar, and again on a second pod with another seed.
Machine-readable: <a href="${esc(jsonHref)}">leaderboard.json</a>, and each round's summary under <code>rounds/&lt;id&gt;/summary.json</code>.</p></footer>
</main>
<script type="application/json" id="leaderboard-data">${jsonForScript(doc)}</script>
<script>${filterScript}</script>
</body></html>
`;
}

function seatCard(
  role: string,
  seat: PublishedSeat | null,
  share: number | undefined,
  soleShare?: number,
): string {
  if (!seat)
    return `<div class="card empty-seat"><h3>${role}</h3><p>Nobody holds this seat.${role === "Leader" ? " The first correct server faster than the baseline by the bar takes it." : ""}</p></div>`;
  const paid = soleShare ?? share;
  return `<div class="card seat" data-role="${esc(role.toLowerCase())}"><h3>${role}${paid !== undefined ? ` <span class="share">${Math.round(paid * 100)}% of the pool</span>` : ""}</h3>
<p class="speed">${seat.settledSpeed.toFixed(3)}<span>x the baseline</span></p>
<p><span class="label">hotkey</span> <code class="key" title="${esc(seat.hotkey)}">${esc(seat.hotkey)}</code>${seat.uid !== null ? ` <span class="label">uid</span> ${seat.uid}` : ""}</p>
<p><span class="label">image</span> <code class="ref">${esc(seat.image ?? "-")}</code></p>
${seat.sinceRound ? `<p class="since">held since ${esc(seat.sinceRound)}</p>` : ""}</div>`;
}

function barHtml(doc: LeaderboardDocument): string {
  const bar = doc.bar;
  const policy = doc.policy;
  if (!doc.standing.leader) {
    return `<p class="bar">To take the lead: pass the correctness gate and beat the baseline by more than the bar${policy ? ` (at least ${pct(policy.minMargin)}, more on noisy pods: ${policy.noiseMultiplier} x the measured noise)` : ""}, on two pods.</p>`;
  }
  const rule = policy
    ? `more than max(${pct(policy.minMargin)}, ${policy.noiseMultiplier} x measured noise)`
    : "more than the bar";
  const measured = bar
    ? bar.roundId
      ? ` In ${esc(bar.roundId)} the bar over the leader was <strong>${bar.ratio.toFixed(3)}x</strong> (noise ${pct(bar.noise ?? 0)}): about <strong>${bar.targetSpeed.toFixed(3)}x the baseline</strong>.`
      : ` No challenger has been measured against this leader yet; the bar is at least <strong>${bar.ratio.toFixed(3)}x</strong> the leader: about <strong>${bar.targetSpeed.toFixed(3)}x the baseline</strong>.`
    : "";
  return `<p class="bar">To take the lead: be faster than the leader on the same pod by ${rule}, and again on a second pod with another seed.${measured} Beating the runner-up the same way pays the runner-up's share.</p>`;
}

function minerRows(m: PublishedMiner): string {
  const search = [m.hotkey, m.uid ?? "", m.image ?? "", m.verdict].join(" ").toLowerCase();
  const main = `<tr class="miner" data-search="${esc(search)}"><td class="num">${m.rank ?? ""}</td><td class="num">${m.uid ?? ""}</td>
<td><code class="key" title="${esc(m.hotkey)}">${esc(shortKey(m.hotkey))}</code></td><td>${badge(m.verdict)}</td>
<td class="num">${m.speed > 0 ? `${m.speed.toFixed(3)}x` : "-"}</td><td class="image">${imageCell(m.image)}</td><td class="why"><div class="clamp" title="${esc(m.reason)}">${esc(m.reason) || "-"}</div></td></tr>`;
  const steps = m.nextSteps.length
    ? `<div class="steps"><h4>What to do next</h4><ul>${m.nextSteps.map((s) => `<li>${esc(s)}</li>`).join("")}</ul></div>`
    : "";
  const attempts = m.attempts.length
    ? `<table class="attempts"><thead><tr><th>round</th><th>verdict</th><th class="num">speed</th><th>measurements</th><th>why</th></tr></thead><tbody>${m.attempts.map(attemptRow).join("")}</tbody></table>`
    : `<p class="muted">Not measured in a settled round yet.</p>`;
  const detail = `<tr class="detail"><td colspan="7"><details><summary>${m.attempts.length ? `${m.attempts.length} attempt${m.attempts.length === 1 ? "" : "s"}` : "details"}${m.nextSteps.length ? ", next steps" : ""}</summary>
<p><span class="label">hotkey</span> <code class="key">${esc(m.hotkey)}</code></p><p><span class="label">image</span> <code class="ref">${esc(m.image ?? "-")}</code></p>
<p><span class="label">why</span> ${esc(m.reason) || "-"}</p>${steps}${attempts}</details></td></tr>`;
  return `<tbody class="miner-group">${main}\n${detail}</tbody>`;
}

function attemptRow(a: PublishedAttempt): string {
  const measurements = a.measurements.length
    ? `<ul class="measurements">${a.measurements
        .map((m) => {
          const against = m.against
            ? `against the ${esc(m.against.seat)} ${m.against.ratio.toFixed(3)}x, needed more than ${m.against.bar.toFixed(3)}x (noise ${pct(m.against.noise)})`
            : "";
          return `<li><span class="label">${esc(m.phase)}</span> on <code>${esc(m.podId)}</code>: ${m.gate === "pass" ? "gate passed" : `<span class="fail">gate failed</span>`}, ${m.speed.toFixed(3)}x the baseline${against ? `; ${against}` : ""}</li>`;
        })
        .join("")}</ul>`
    : "-";
  return `<tr><td class="nowrap">${esc(a.roundId)}</td><td>${badge(a.verdict)}</td><td class="num">${a.settledSpeed > 0 ? `${a.settledSpeed.toFixed(3)}x` : a.speed > 0 ? `${a.speed.toFixed(3)}x` : "-"}</td><td>${measurements}</td><td class="why">${esc(a.reason) || "-"}</td></tr>`;
}

function roundRow(r: PublishedRound, href: string): string {
  const groups = new Map<string, number>();
  for (const [verdict, n] of Object.entries(r.verdicts)) {
    const g = verdictGroup(verdict).short;
    groups.set(g, (groups.get(g) ?? 0) + n);
  }
  const pods = [...new Set(r.jobs.map((j) => j.podId).filter((p): p is string => p !== null))];
  return `<tr><td class="num">${r.number}</td><td class="num">${r.block}</td><td>${esc(r.settledAt ? humanTime(r.settledAt) : "-")}</td>
<td class="num">${r.challengers}</td><td>${[...groups].map(([g, n]) => `${n} ${esc(g)}`).join(", ") || "-"}</td>
<td>${r.leader ? `<code class="key" title="${esc(r.leader.hotkey)}">${esc(shortKey(r.leader.hotkey))}</code> ${r.leader.settledSpeed.toFixed(3)}x` : "-"}</td>
<td>${pods.map((p) => `<code>${esc(p)}</code>`).join(" ") || "-"} <span class="muted">(${r.jobs.length} job${r.jobs.length === 1 ? "" : "s"})</span></td>
<td><a href="${esc(href)}">details</a></td></tr>`;
}

function badge(verdict: string): string {
  const group = verdictGroup(verdict);
  return `<span class="badge" style="--c:${group.colour}">${esc(verdict || "-")}</span>`;
}

/** "registry/repo:tag@sha256:0123456789ab…" with the whole reference in the title. */
function imageCell(image: string | null): string {
  if (!image) return "-";
  const at = image.indexOf("@sha256:");
  if (at < 0) return `<code class="ref" title="${esc(image)}">${esc(image)}</code>`;
  return `<code class="ref" title="${esc(image)}">${esc(image.slice(0, at))}<br><span class="muted">@${esc(image.slice(at + 1, at + 20))}…</span></code>`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
}

function humanTime(iso: string): string {
  return iso
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC")
    .replace(/Z$/, " UTC");
}

/** JSON safe inside a script element: no "</script>" or "<!--" can close or confuse it. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

const filterScript = `(function(){var f=document.getElementById("filter");if(!f)return;f.addEventListener("input",function(){var q=f.value.trim().toLowerCase();document.querySelectorAll("tbody.miner-group").forEach(function(g){var row=g.querySelector("tr.miner");g.hidden=q!==""&&row.getAttribute("data-search").indexOf(q)<0;});});})();`;

/** The stylesheet of the leaderboard page, shared by the operators' other pages. */
export const pageCss = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--bg:#f6f7f9;--card:#fff;--accent:#0072b2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 20px 40px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px}h3{font-size:15px;margin:0 0 6px}h4{margin:10px 0 4px;font-size:14px}
.sub,.hint,.muted{color:var(--muted)}.sub{margin:0}.hint{margin:0 0 8px;font-size:14px}
a{color:var(--accent)}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code.key,code.ref{word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px}
.card p{margin:4px 0}.card .speed{font-size:30px;font-weight:650;margin:2px 0 6px}.card .speed span{font-size:14px;font-weight:400;color:var(--muted);margin-left:6px}
.share{font-weight:400;color:var(--muted);font-size:13px;margin-left:6px}
.empty-seat{color:var(--muted)}.since{color:var(--muted);font-size:13px}
.label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em;margin-right:4px}
.bar{background:#eef5fb;border-left:4px solid var(--accent);padding:10px 14px;border-radius:4px;margin:14px 0 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:14px}
.wrap+.charts{margin-top:14px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
svg.chart{display:block;height:auto;font-family:inherit}
#filter{width:100%;max-width:420px;padding:7px 10px;border:1px solid var(--line);border-radius:6px;font:inherit;margin-bottom:10px}
.wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{width:100%;border-collapse:collapse}
th,td{padding:7px 10px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line);font-size:14px}
th{background:#fafbfc;font-weight:600;white-space:nowrap;position:sticky;top:0}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.why{min-width:16em;max-width:34em}
td.image{min-width:15em}.nowrap{white-space:nowrap}
.clamp{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}
tr.miner:hover td{background:#fafcff}
tr.detail td{padding:0 10px 6px;border-bottom:1px solid var(--line)}
tr.miner td{border-bottom:none}
details summary{cursor:pointer;color:var(--accent);font-size:13px;padding:2px 0}
details[open]{padding-bottom:8px}
table.attempts{margin-top:8px;border:1px solid var(--line)}
table.attempts th,table.attempts td{font-size:13px}
ul.measurements{margin:0;padding-left:16px}ul.measurements li{margin:2px 0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12.5px;font-weight:600;white-space:nowrap;color:var(--c);background:color-mix(in srgb,var(--c) 14%,white);border:1px solid color-mix(in srgb,var(--c) 45%,white)}
.fail{color:#b83c00;font-weight:600}
.count{font-size:14px;color:var(--muted);font-weight:400}
.empty{color:var(--muted);text-align:center;padding:14px}
.status{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:8px;margin:14px 0 0}
.status div{background:var(--card);border:1px solid var(--line);border-left:4px solid #9aa3b2;border-radius:6px;padding:7px 10px;font-size:14px}
.status div.ok{border-left-color:#009e73}.status div.warn{border-left-color:#e69f00}.status div.bad{border-left-color:#d55e00}
.status .k{display:block;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
footer{margin-top:30px;color:var(--muted);font-size:13px}
@media (max-width:640px){main{padding:12px}.charts{grid-template-columns:1fr}td.why{min-width:12em}}
`;
