import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoopMonitor } from "../health/loop-monitor.ts";
import { runScenarioRound } from "../rounds/testing/sim-scenario.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import type { leaderboard } from "./leaderboard.ts";
import { barChartSvg, escapeXml } from "./svg-plot.ts";
import { parseListen, startWebServer, type WebServer } from "./web-server.ts";

let store: ControllerStore;
let web: WebServer;
let now = Date.now();
const monitor = new LoopMonitor({ now: () => now });
const rounds = monitor.register("rounds", { stuckAfterMs: 60_000 });
const weights = monitor.register("weights", { stuckAfterMs: 60_000 });

beforeAll(async () => {
  store = openStore({ path: ":memory:" });
  await runScenarioRound(store, [
    { hotkey: "<script>alert(1)</script>", uid: 9, raw: "junk", commitBlock: 20 },
  ]);
  rounds.passSucceeded();
  weights.passSucceeded();
  web = await startWebServer({ store, listen: "127.0.0.1:0", loops: () => monitor.statuses() });
});
afterAll(async () => {
  await web?.close();
});

const get = (path: string, init?: RequestInit) => fetch(`${web.url}${path}`, init);

describe("web server", () => {
  it("serves the leaderboard page with plots, escaping what miners wrote", async () => {
    const res = await get("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain("<svg");
    expect(html).toMatch(/speed against baseline/);
    expect(html).toMatch(/Noise per job/);
    expect(html).toMatch(/Correctness/);
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // The correctness plot labels a failed gate "fail" (its bar is drawn a sliver long to be seen).
    expect(html).toMatch(/<title>[^<]*divergent[^<]*<\/title>[\s\S]*?>fail<\/text>/);
    const round = await get("/rounds/round-1");
    expect(await round.text()).toMatch(/[0-9a-f]{8}-round-1-e0-a0 on (a|b)/);
    expect((await get("/rounds/nope")).status).toBe(404);
  });

  it("serves Prometheus metrics", async () => {
    const text = await (await get("/metrics")).text();
    expect(text).toMatch(/^# TYPE cacheon_controller_submissions gauge$/m);
    expect(text).toMatch(/^cacheon_controller_submissions\{state="copy"\} 1$/m);
    expect(text).toMatch(/^cacheon_controller_rounds_total 1$/m);
    expect(text).toMatch(/^cacheon_controller_leader_speed 1\.\d+$/m);
    expect(text).toMatch(/^cacheon_controller_loop_passes_total\{loop="rounds"\} 1$/m);
    expect(text).toMatch(/^cacheon_controller_loop_stuck\{loop="weights"\} 0$/m);
    // Never confirmed weights are infinitely old (an alert on the age fires); process metrics are there.
    expect(text).toMatch(/^cacheon_controller_weights_age_seconds \+Inf$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toMatch(/^# TYPE cacheon_controller_round_duration_seconds histogram$/m);
    for (const line of text
      .trim()
      .split("\n")
      .filter((l) => l !== ""))
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{.*\})? (-?[\d.e+-]+|[+-]Inf|NaN))$/);
  });

  it("health turns 503 while a critical loop is stuck, naming it, and recovers", async () => {
    const ok = await get("/healthz");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, store: "ok", stuck: [] });
    now += 30_000;
    weights.passFailed(new Error("chain unavailable"));
    now += 31_000;
    rounds.progressed();
    const stuck = await get("/healthz");
    expect(stuck.status).toBe(503);
    const body = (await stuck.json()) as { stuck: string[]; loops: { name: string; stuckForMs: number }[] };
    expect(body).toMatchObject({
      ok: false,
      stuck: ["weights"],
      loops: [
        { name: "rounds", stuck: false, stuckForMs: 0 },
        { name: "weights", stuck: true, stuckForMs: 61_000, lastError: "chain unavailable" },
      ],
    });
    weights.passSucceeded();
    expect((await get("/healthz")).status).toBe(200);
  });

  it("serves JSON and refuses other methods and paths", async () => {
    const board = (await (await get("/api/leaderboard")).json()) as ReturnType<typeof leaderboard>;
    expect(board[0]).toMatchObject({ rank: 1, hotkey: "carol" });
    expect(board[1]).toMatchObject({ rank: 2, hotkey: "bob" });
    expect((await get("/api/rounds/round-1")).status).toBe(200);
    expect((await get("/api/rounds/x")).status).toBe(404);
    expect((await get("/", { method: "POST" })).status).toBe(405);
    expect((await get("/nothing")).status).toBe(404);
    expect((await get("/", { method: "HEAD" })).status).toBe(200);
  });

  it("names a listen address it cannot use", async () => {
    expect(() => parseListen("8090")).toThrow(/not host:port/);
    expect(() => parseListen("h:99999")).toThrow(/not host:port/);
    expect(parseListen(":8090")).toEqual({ host: "0.0.0.0", port: 8090 });
    expect(parseListen("[::1]:0")).toEqual({ host: "::1", port: 0 });
    const port = new URL(web.url).port;
    await expect(startWebServer({ store, listen: `127.0.0.1:${port}` })).rejects.toThrow(
      /cannot listen on .*EADDRINUSE/,
    );
  });
});

describe("barChartSvg", () => {
  it("draws one bar per value with a reference line, and escapes labels", () => {
    const svg = barChartSvg({
      title: "t & u",
      reference: 1,
      bars: [
        { label: 'a"<b>', value: 2, kind: "pass" },
        { label: "c", value: Number.NaN, kind: "fail" },
      ],
    });
    expect(svg.match(/<rect /g)).toHaveLength(2);
    expect(svg).toContain("stroke-dasharray");
    expect(svg).toContain("t &amp; u");
    expect(svg).toContain("a&quot;&lt;b&gt;");
    expect(escapeXml("'")).toBe("&#39;");
  });
});
