import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { healthReport } from "../health/health-report.ts";
import type { LoopStatus } from "../health/loop-monitor.ts";
import { type ControllerMetrics, createControllerMetrics } from "../metrics/controller-metrics.ts";
import {
  buildLeaderboardDocument,
  type LeaderboardDocument,
  type PublishedPolicy,
} from "../publish/leaderboard-document.ts";
import { readLeaderboardInput } from "../publish/leaderboard-input.ts";
import { leaderboardPageHtml, pageCss } from "../publish/leaderboard-page.ts";
import { type RoundSummary, roundSummary } from "../publish/round-summary.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import { controllerStatus } from "./controller-status.ts";
import { leaderboard } from "./leaderboard.ts";
import { statusItems, statusPanelHtml } from "./status-items.ts";
import { barChartSvg, escapeXml } from "./svg-plot.ts";

/** Options of {@link startWebServer}. */
export interface WebServerOptions {
  store: ControllerStore;
  /** host:port; port 0 picks a free one. */
  listen: string;
  /**
   * The controller's loops (LoopMonitor.statuses): /healthz is 503 while a critical one is stuck
   * beyond its limit, and /metrics reports each. @default no loops
   */
  loops?: () => LoopStatus[];
  /** The policy numbers the leaderboard shows miners. @default not shown */
  policy?: PublishedPolicy | undefined;
  /** The registry /metrics prints. @default one over the store and `loops` */
  metrics?: ControllerMetrics;
  logger?: Logger;
}

/** A running web server. */
export interface WebServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * The operators' view over HTTP: `/` leaderboard and latest rounds with plots, `/rounds/<id>`
 * one round (speed against baseline, noise, correctness), `/metrics` in Prometheus text format,
 * `/healthz`, and JSON under `/api/`. Read-only; nothing here changes state.
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const log = options.logger ?? silentLogger;
  const metrics = options.metrics ?? createControllerMetrics({ store: options.store, loops: options.loops });
  const { host, port } = parseListen(options.listen);
  const server = createServer((req, res) => {
    try {
      route(req, res);
    } catch (error) {
      const err = CacheonError.from(error);
      log.error("web request failed", { path: req.url, error: err });
      send(res, 500, "text/plain; charset=utf-8", `internal error: ${err.message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new CacheonError(
          "unavailable",
          `cannot listen on ${options.listen} (web.listen): ${error.code ?? error.message}; pick a free port`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  return {
    url,
    server,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  function route(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, "text/plain; charset=utf-8", "only GET and HEAD\n", { allow: "GET, HEAD" });
      return;
    }
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const store = options.store;
    if (path === "/healthz") {
      const h = healthOf();
      send(res, h.ok ? 200 : 503, "application/json", `${JSON.stringify(h)}\n`);
    } else if (path === "/metrics") {
      metrics.text().then(
        (text) => send(res, 200, metrics.contentType, text),
        (error: unknown) => {
          log.error("metrics failed", { error });
          send(res, 500, "text/plain; charset=utf-8", `metrics failed: ${(error as Error).message}\n`);
        },
      );
    } else if (path === "/api/leaderboard") {
      send(res, 200, "application/json", `${JSON.stringify(leaderboard(store), null, 2)}\n`);
    } else if (path === "/api/status") {
      send(res, 200, "application/json", `${JSON.stringify(controllerStatus(store), null, 2)}\n`);
    } else if (path.startsWith("/api/rounds/")) {
      const round = store.rounds.get(decodeURIComponent(path.slice("/api/rounds/".length)));
      if (!round) send(res, 404, "application/json", `${JSON.stringify({ error: "no such round" })}\n`);
      else send(res, 200, "application/json", `${JSON.stringify(roundSummary(store, round), null, 2)}\n`);
    } else if (path === "/") {
      send(res, 200, "text/html; charset=utf-8", indexPage());
    } else if (path === "/leaderboard.json" || path === "/published/leaderboard.json") {
      send(res, 200, "application/json", `${JSON.stringify(document(), null, 2)}\n`);
    } else if (path === "/published/" || path === "/published/index.html") {
      // Exactly the page publication writes, with its relative links served below.
      send(res, 200, "text/html; charset=utf-8", leaderboardPageHtml(document()));
    } else if (/^\/published\/rounds\/[^/]+\/summary\.json$/.test(path)) {
      const round = store.rounds.get(decodeURIComponent(path.split("/")[3] ?? ""));
      if (!round || round.state !== "settled")
        send(res, 404, "application/json", `${JSON.stringify({ error: "no such settled round" })}\n`);
      else send(res, 200, "application/json", `${JSON.stringify(roundSummary(store, round), null, 2)}\n`);
    } else if (path.startsWith("/rounds/")) {
      const round = store.rounds.get(decodeURIComponent(path.slice("/rounds/".length)));
      if (!round) send(res, 404, "text/html; charset=utf-8", page("not found", "<p>No such round.</p>"));
      else send(res, 200, "text/html; charset=utf-8", page(round.id, roundHtml(roundSummary(store, round))));
    } else {
      send(
        res,
        404,
        "text/plain; charset=utf-8",
        "not found: try /, /published/, /leaderboard.json, /metrics, /healthz, /api/leaderboard, /api/status\n",
      );
    }
  }

  function healthOf() {
    let storeError: string | undefined;
    try {
      options.store.schemaVersion();
    } catch (error) {
      storeError = (error as Error).message;
    }
    return healthReport({ loops: options.loops?.() ?? [], storeError });
  }

  function document(): LeaderboardDocument {
    return buildLeaderboardDocument(readLeaderboardInput(options.store, { policy: options.policy }));
  }

  function indexPage(): string {
    const store = options.store;
    const latest = store.rounds.list(1)[0];
    const loops = options.loops?.() ?? [];
    return leaderboardPageHtml(document(), {
      title: "cacheon controller",
      operatorPanel: statusPanelHtml(statusItems(controllerStatus(store), loops, Date.now())),
      appendix: latest
        ? `<section id="latest-round" aria-label="latest round"><h2>Latest round: ${escapeXml(latest.id)}</h2>${roundHtml(roundSummary(store, latest))}</section>`
        : "",
      jsonHref: "/leaderboard.json",
      roundHref: (r) => `/rounds/${encodeURIComponent(r.id)}`,
      refreshSeconds: 30,
    });
  }
}

/** The plots of one round: speed against baseline per job, noise per job, correctness per arm. */
export function roundHtml(summary: RoundSummary): string {
  const decided = summary.jobs.filter((j) => j.arms.length > 0);
  const speedPlots = decided
    .map((j) =>
      figure(
        barChartSvg({
          title: `${j.jobId} on ${j.podId ?? "?"} (${j.decision ?? j.state}): speed against baseline`,
          reference: 1,
          format: (v) => `${v.toFixed(3)}x`,
          bars: j.arms
            .filter((a) => !a.role.endsWith("baseline"))
            .map((a) => ({
              label: `${a.role} ${a.hotkey}`,
              value: a.speed ?? 0,
              kind: a.gate === "pass" ? ("pass" as const) : ("fail" as const),
              title: `${a.hotkey} ${a.outcome} ${a.gate ?? ""} ${a.reason}`.trim(),
            })),
        }),
      ),
    )
    .join("");
  const noise = barChartSvg({
    title: "Noise per job: baseline bookend spread (%)",
    format: (v) => `${v.toFixed(2)}%`,
    bars: decided.map((j) => ({
      label: j.jobId.replace(`${summary.roundId}-`, ""),
      value: (j.bookendSpread ?? 0) * 100,
      kind: j.decision === "decided" ? ("info" as const) : ("fail" as const),
      title: `${j.jobId}: ${j.decision ?? j.state} ${j.reason}`,
    })),
  });
  const correctness = barChartSvg({
    title: "Correctness: 1 = passed the gate, 0 = failed",
    format: (v) => (v >= 1 ? "pass" : "fail"),
    bars: decided.flatMap((j) =>
      j.arms
        .filter((a) => !a.role.endsWith("baseline"))
        .map((a) => ({
          label: `${j.slot} ${a.hotkey}`,
          value: a.gate === "pass" ? 1 : 0.02,
          kind: a.gate === "pass" ? ("pass" as const) : ("fail" as const),
          title: a.reason,
        })),
    ),
  });
  const verdicts = summary.verdicts
    .map(
      (v) =>
        `<tr><td><code class="key">${escapeXml(v.hotkey)}</code></td><td>${escapeXml(v.verdict)}</td><td class="num">${v.settledSpeed > 0 ? `${v.settledSpeed.toFixed(3)}x` : "-"}</td><td class="why">${escapeXml(v.reason)}</td></tr>`,
    )
    .join("");
  return `<p>Round ${escapeXml(summary.roundId)}, block ${summary.block}, seed <code>${escapeXml(summary.seed.slice(0, 16))}…</code>, ${escapeXml(summary.state)}.</p>
<div class="wrap"><table><thead><tr><th>hotkey</th><th>verdict</th><th class="num">settled speed</th><th>why</th></tr></thead><tbody>${verdicts}</tbody></table></div>
<div class="charts">${speedPlots}<figure>${noise}</figure><figure>${correctness}</figure></div>`;
}

function figure(svg: string): string {
  return `<figure>${svg}</figure>`;
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeXml(title)}</title>
<meta http-equiv="refresh" content="30"><link rel="icon" href="data:,"><style>${pageCss}</style></head>
<body><main><p><a href="/">&larr; controller</a></p><h1>${escapeXml(title)}</h1>${body}</main></body></html>\n`;
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": type,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

/** Parses "host:port" ("[::1]:8090", ":8090" = all interfaces); throws naming the setting. */
export function parseListen(listen: string, setting = "web.listen"): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new CacheonError(
      "invalid-config",
      `${setting} "${listen}" is not host:port (e.g. 127.0.0.1:8090, [::1]:8090, :8090)`,
    );
  }
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}
