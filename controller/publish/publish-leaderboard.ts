import type { ControllerStore } from "../store/controller-store.ts";
import type { ArtefactSink } from "./artefact-sink.ts";
import { buildLeaderboardDocument, type PublishedPolicy } from "./leaderboard-document.ts";
import { readLeaderboardInput } from "./leaderboard-input.ts";
import { leaderboardPageHtml } from "./leaderboard-page.ts";

/** Options of {@link publishLeaderboard}. */
export interface PublishLeaderboardOptions {
  store: ControllerStore;
  sink: ArtefactSink;
  /** The policy numbers shown to miners (the bar, the shares). @default not shown */
  policy?: PublishedPolicy | undefined;
}

/**
 * Writes `leaderboard.json` and the static `index.html` that shows it, at the root of the
 * publish target, from the store as it is now. The page is written last, so a reader who finds
 * it also finds the JSON it links to.
 */
export async function publishLeaderboard(
  options: PublishLeaderboardOptions,
): Promise<{ page: string; json: string }> {
  const doc = buildLeaderboardDocument(readLeaderboardInput(options.store, { policy: options.policy }));
  await options.sink.put("leaderboard.json", `${JSON.stringify(doc, null, 2)}\n`, "application/json");
  await options.sink.put("index.html", leaderboardPageHtml(doc), "text/html; charset=utf-8");
  return { page: options.sink.locate("index.html"), json: options.sink.locate("leaderboard.json") };
}
