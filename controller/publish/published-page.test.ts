import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, screenshotPath, type TestBrowser } from "../../test/support/chromium.ts";
import { createTestBucket } from "../../test/support/s3-test-bucket.ts";
import { LoopMonitor } from "../health/loop-monitor.ts";
import { ingestCommitments } from "../intake/ingest-commitments.ts";
import { createLocalJobRunner } from "../rounds/job-runner.ts";
import { runRound } from "../rounds/run-round.ts";
import { simulatedPod } from "../rounds/simulated-pod.ts";
import {
  fakeDigest,
  runScenarioRound,
  scenarioCommitments,
  scenarioRef,
  scenarioSettings,
  scenarioSimImages,
} from "../rounds/testing/sim-scenario.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import { type ControllerStore, openStore } from "../store/controller-store.ts";
import { startWebServer, type WebServer } from "../web/web-server.ts";
import { defaultWeightPolicy } from "../weights/weight-policy.ts";
import { localFolderSink, s3Sink } from "./artefact-sink.ts";
import { type LeaderboardDocument, publishedPolicy } from "./leaderboard-document.ts";
import { publishRound } from "./publish-round.ts";

// The published leaderboard in Debian's headless Chromium: the page a publication writes to a
// folder, the same page served live by the controller, and the operators' page. Each is checked
// against the JSON it shows, must fetch nothing from anywhere else, and leaves screenshots in
// test-artifacts/screenshots/ for people to look at.

const policy = publishedPolicy(defaultScoringPolicy, defaultWeightPolicy);
const hostile = "</script><img src=x onerror=alert(1)>";

let store: ControllerStore;
let folder: string;
let web: WebServer;
let browser: TestBrowser;
let doc: LeaderboardDocument;

beforeAll(async () => {
  store = openStore({ path: ":memory:" });
  // Round 1: the standard scenario, plus a hotkey that committed junk under a hostile name.
  const junk = { hotkey: hostile, uid: 9, raw: "junk", commitBlock: 20 };
  await runScenarioRound(store, [junk]);
  // Round 2: a correct challenger not fast enough, a fast wrong one, and a re-tag of dave's image.
  const images = {
    ...scenarioSimImages,
    [fakeDigest("8")]: {
      speed: 1.2,
      configDigest: fakeDigest("a8"),
      layers: [fakeDigest("10"), fakeDigest("18")],
    },
    [fakeDigest("9")]: {
      speed: 2.2,
      correct: false,
      configDigest: fakeDigest("a9"),
      layers: [fakeDigest("10"), fakeDigest("19")],
    },
  };
  ingestCommitments({
    store,
    snapshot: {
      block: 80,
      // A snapshot holds every registered hotkey's commitment: the first round's stay.
      entries: [
        ...scenarioCommitments,
        junk,
        { hotkey: "hank", uid: 7, raw: `127.0.0.1:5000/hank/server:v2@${fakeDigest("8")}`, commitBlock: 70 },
        { hotkey: "ivy", uid: 8, raw: `127.0.0.1:5000/ivy/server:v1@${fakeDigest("9")}`, commitBlock: 71 },
        { hotkey: "jo", uid: 10, raw: scenarioRef("slow").replace("slow:v1", "mine:v1"), commitBlock: 72 },
      ],
    },
  });
  await runRound(
    {
      store,
      runner: createLocalJobRunner({
        pods: {
          a: simulatedPod("a", { images }),
          b: simulatedPod("b", { images }),
        },
      }),
      settings: scenarioSettings,
      policy: defaultScoringPolicy,
      finalizedHead: async () => ({ block: 90, hash: "0x0203" }),
    },
    new AbortController().signal,
  );
  folder = mkdtempSync(join(tmpdir(), "published-page-"));
  for (const round of store.rounds.list(10).reverse())
    await publishRound({ store, sink: localFolderSink(folder), roundId: round.id, policy });
  doc = JSON.parse(readFileSync(join(folder, "leaderboard.json"), "utf8")) as LeaderboardDocument;
  const monitor = new LoopMonitor();
  monitor.register("rounds", { stuckAfterMs: 60_000 }).passSucceeded();
  monitor.register("weights", { stuckAfterMs: 60_000 }).passFailed(new Error("chain unavailable"));
  web = await startWebServer({ store, listen: "127.0.0.1:0", loops: () => monitor.statuses(), policy });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await web?.close();
  store?.close();
});

const opened: Page[] = [];
afterEach(async () => {
  for (const page of opened.splice(0)) await page.close().catch(() => {});
});

/** Opens a page, recording every request and script error. */
async function open(url: string): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const page = await browser.context.newPage();
  // A page left open by a failed test would keep the next one in a background tab.
  opened.push(page);
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(url);
  return { page, requests, errors };
}

/** What a reader checks on the published page, wherever it is served from. */
async function checkPublishedPage(page: Page): Promise<void> {
  // The embedded document is the published JSON.
  const embedded = JSON.parse(
    (await page.locator("#leaderboard-data").textContent()) ?? "",
  ) as LeaderboardDocument;
  expect(embedded.schema).toBe("cacheon.leaderboard.v1");
  expect(embedded.miners.map((m) => m.hotkey)).toEqual(doc.miners.map((m) => m.hotkey));
  const leader = doc.standing.leader;
  const runnerUp = doc.standing.runnerUp;
  expect(leader?.hotkey).toBe("carol");
  expect(runnerUp?.hotkey).toBe("bob");
  // The seats, on screen.
  const leaderCard = page.locator('.seat[data-role="leader"]');
  await expect
    .poll(() => leaderCard.textContent())
    .toContain(`${leader?.settledSpeed.toFixed(3)}x the baseline`);
  expect(await leaderCard.textContent()).toContain("80% of the pool");
  expect(await leaderCard.textContent()).toContain("carol");
  expect(await page.locator('.seat[data-role="runner-up"]').textContent()).toContain(
    runnerUp?.settledSpeed.toFixed(3) ?? "?",
  );
  expect(await page.locator(".bar").textContent()).toMatch(/about \d\.\d{3}x the baseline/);
  // One row per miner, in the document's order, with its verdict and speed.
  const rows = page.locator("tr.miner");
  expect(await rows.count()).toBe(doc.miners.length);
  for (const [i, m] of doc.miners.entries()) {
    const cells = await rows.nth(i).locator("td").allInnerTexts();
    expect(cells[3], m.hotkey).toBe(m.verdict);
    expect(cells[4]).toBe(m.speed > 0 ? `${m.speed.toFixed(3)}x` : "-");
  }
  // What miners wrote is text, never markup.
  expect(await page.locator("img").count()).toBe(0);
  expect(await page.locator("tr.miner", { hasText: "</scri" }).count()).toBe(1);
  expect(await page.locator("tr.detail", { hasText: hostile }).count()).toBe(1);
  // Verdicts of round 2 beside round 1's, with their reasons.
  const verdictOf = (hotkey: string) => doc.miners.find((m) => m.hotkey === hotkey);
  expect(verdictOf("hank")?.verdict).toBe("below-bar");
  expect(verdictOf("ivy")?.verdict).toBe("failed");
  expect(verdictOf("jo")?.verdict).toBe("copy");
  for (const hotkey of ["hank", "ivy", "jo"])
    expect(await page.locator("tr.miner", { hasText: hotkey }).textContent()).toContain(
      verdictOf(hotkey)?.reason.slice(0, 20) ?? "?",
    );
  // History: two rounds in every plot.
  expect(await page.locator("#rounds tbody tr").count()).toBe(2);
  const charts = page.locator("#history svg");
  expect(await charts.count()).toBe(3);
  expect(await charts.nth(0).locator("circle").count()).toBe(4); // leader and runner-up, 2 rounds
  expect(await charts.nth(1).locator("rect[height]").count()).toBeGreaterThanOrEqual(4);
  expect(await charts.nth(2).locator("circle").count()).toBeGreaterThanOrEqual(2);
  // The filter finds one miner; the row opens on its attempts and next steps.
  await page.fill("#filter", "dave");
  expect(await page.locator("tbody.miner-group:not([hidden])").count()).toBe(1);
  await page.locator("tbody.miner-group:not([hidden]) summary").click();
  const details = await page.locator("tbody.miner-group:not([hidden]) details").textContent();
  expect(details).toContain("What to do next");
  expect(details).toMatch(/against the \w+ \d\.\d{3}x, needed more than \d\.\d{3}x/);
  await page.fill("#filter", "");
  expect(await page.locator("tbody.miner-group:not([hidden])").count()).toBe(doc.miners.length);
  // Nothing overflows the page sideways at a desktop width.
  expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
}

describe("the published leaderboard page", () => {
  it("opens from the publish folder with the data of leaderboard.json, fetching nothing else", async () => {
    const url = pathToFileURL(join(folder, "index.html")).href;
    const { page, requests, errors } = await open(url);
    await checkPublishedPage(page);
    expect(errors).toEqual([]);
    expect(requests.filter((r) => !r.startsWith("file://"))).toEqual([]);
    await page.screenshot({ path: screenshotPath("published-folder.png"), fullPage: true });
    await page.locator("tbody.miner-group").nth(2).locator("summary").click();
    await page.locator("#miners").screenshot({ path: screenshotPath("published-folder-miners.png") });
    // The round links lead to the published round summaries.
    const href = await page.locator("#rounds a").first().getAttribute("href");
    expect(href).toMatch(/^rounds\/round-2\/summary\.json$/);
    const summary = JSON.parse(readFileSync(join(folder, href as string), "utf8"));
    expect(summary.schema).toBe("cacheon.round-summary.v1");
    await page.setViewportSize({ width: 420, height: 900 });
    await page.screenshot({ path: screenshotPath("published-narrow.png"), fullPage: true });
  });

  it("is served live by the controller, identical in data, with its relative links", async () => {
    const { page, requests, errors } = await open(`${web.url}/published/`);
    await checkPublishedPage(page);
    expect(errors).toEqual([]);
    const origin = new URL(web.url).origin;
    expect(requests.filter((r) => !r.startsWith(origin))).toEqual([]);
    const href = (await page.locator("#rounds a").first().getAttribute("href")) as string;
    const linked = await page.request.get(new URL(href, `${web.url}/published/`).href);
    expect(linked.status()).toBe(200);
    expect((await linked.json()).roundId).toBe("round-2");
    const json = await page.request.get(new URL("leaderboard.json", `${web.url}/published/`).href);
    const live = (await json.json()) as LeaderboardDocument;
    expect({ ...live, generatedAt: "" }).toEqual({ ...doc, generatedAt: "" });
    await page.screenshot({ path: screenshotPath("published-live.png"), fullPage: true });
  });

  it("is the operators' page too, with the controller's status, the plots and readable tables", async () => {
    const { page, requests, errors } = await open(`${web.url}/`);
    expect(errors).toEqual([]);
    expect(requests.every((r) => r.startsWith(new URL(web.url).origin))).toBe(true);
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text (blocks, capitals) is what is checked
    const status = await page.locator("#status").innerText();
    expect(status).toMatch(/ROUND IN PROGRESS\s+none/i);
    expect(status).toMatch(/LAST SETTLED ROUND\s+round-2/i);
    expect(status).toContain("chain unavailable");
    expect(await page.locator("#status .warn").count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator("#history svg").count()).toBe(3);
    expect(await page.locator("tr.miner").count()).toBe(doc.miners.length);
    expect(await page.locator("#latest-round svg").count()).toBeGreaterThan(2);
    expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
    await page.screenshot({ path: screenshotPath("operator-page.png"), fullPage: true });
    // A round's page, linked from the rounds table.
    await page.locator("#rounds a").first().click();
    await page.waitForURL(/\/rounds\/round-2$/);
    expect(await page.locator("h1").textContent()).toBe("round-2");
    expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
    await page.screenshot({ path: screenshotPath("operator-round.png"), fullPage: true });
  });

  it("is published to the real S3 server beside the round objects", async () => {
    const { bucket, client, s3, remove } = await createTestBucket("cacheon-page");
    try {
      const sink = s3Sink({ bucket, prefix: "v1", ...s3 });
      await publishRound({ store, sink, roundId: "round-2", policy });
      const get = async (key: string) =>
        client.send(new GetObjectCommand({ Bucket: bucket, Key: `v1/${key}` }));
      const page = await get("index.html");
      expect(page.ContentType).toMatch(/^text\/html/);
      expect(await page.Body?.transformToString()).toContain('id="leaderboard-data"');
      const json = JSON.parse((await (await get("leaderboard.json")).Body?.transformToString()) ?? "");
      expect(json.schema).toBe("cacheon.leaderboard.v1");
      expect(json.standing.leader.hotkey).toBe("carol");
    } finally {
      await remove();
    }
  });
});
