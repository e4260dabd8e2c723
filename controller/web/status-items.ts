import type { LoopStatus } from "../health/loop-monitor.ts";
import type { ControllerStatus } from "./controller-status.ts";
import { escapeXml as esc } from "./svg-plot.ts";

/** One tile of the operators' status panel. */
export interface StatusItem {
  label: string;
  value: string;
  /** ok green, warn amber, bad red; none grey. */
  tone?: "ok" | "warn" | "bad";
  /** A second line (a reason, an error). */
  detail?: string;
}

/**
 * The operators' status panel as plain items, in the order shown: the one place that decides what
 * the page says about the controller. A new field of ControllerStatus (or a new loop) shows up
 * by adding its line here; the page renders whatever items it gets.
 */
export function statusItems(
  status: ControllerStatus,
  loops: readonly LoopStatus[],
  nowMs: number,
): StatusItem[] {
  const counts = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, n]) => `${n} ${k}`)
      .join(", ") || "none";
  const ago = (ms: number) => (ms > 0 ? `${duration(nowMs - ms)} ago` : "never");
  const items: StatusItem[] = [];
  const open = status.openRound;
  items.push(
    open
      ? {
          label: "round in progress",
          value: `${open.id} (${open.state}), block ${open.block}`,
          detail: `jobs: ${counts(open.jobs)}; deadline ${open.deadline}`,
          tone: "ok",
        }
      : { label: "round in progress", value: "none", detail: "a round starts when new submissions arrive" },
  );
  items.push(
    status.lastRound
      ? {
          label: "last settled round",
          value: `${status.lastRound.id} at ${status.lastRound.settledAt ?? "?"}`,
          detail: status.lastRound.published
            ? `published ${status.lastRound.published}`
            : "not published yet",
          tone: status.lastRound.published ? "ok" : "warn",
        }
      : { label: "last settled round", value: "none yet" },
  );
  const w = status.lastWeights;
  items.push(
    w
      ? {
          label: "last weights",
          value: `${w.state} at block ${w.confirmedBlock ?? w.block}`,
          detail: w.error
            ? `error: ${w.error}`
            : w.uids.map((u, i) => `uid ${u} = ${w.weights[i]}`).join(", ") || w.reason,
          tone: w.state === "confirmed" ? "ok" : w.state === "failed" ? "bad" : "warn",
        }
      : { label: "last weights", value: "never set", tone: "warn" },
  );
  items.push({
    label: "submissions",
    value: counts(status.submissions),
    ...(status.sealed.length > 0
      ? { detail: `${status.sealed.length} sealed (timelocked, not revealed yet)` }
      : {}),
  });
  for (const l of loops)
    items.push({
      label: `${l.name} loop${l.critical ? "" : " (not critical)"}`,
      value: l.stuck ? `stuck for ${duration(l.stuckForMs)}` : `last success ${ago(l.lastSuccessMs)}`,
      detail:
        l.lastError && l.lastErrorMs > 0
          ? `last error ${ago(l.lastErrorMs)}: ${l.lastError}`
          : `${l.passes} passes, ${l.failures} failed`,
      tone: l.stuck ? "bad" : l.lastErrorMs > l.lastSuccessMs ? "warn" : "ok",
    });
  items.push({
    label: "store",
    value: status.store,
    detail: `schema ${status.schemaVersion}, ${status.rounds} rounds`,
  });
  return items;
}

/** The panel's HTML (styled by the leaderboard page's `.status`). Everything is escaped. */
export function statusPanelHtml(items: readonly StatusItem[]): string {
  return `<section id="status" aria-label="controller status"><h2>Controller</h2><div class="status">${items
    .map(
      (i) =>
        `<div${i.tone ? ` class="${i.tone}"` : ""}><span class="k">${esc(i.label)}</span>${esc(i.value)}${i.detail ? `<br><span class="muted">${esc(i.detail)}</span>` : ""}</div>`,
    )
    .join("")}</div></section>`;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
