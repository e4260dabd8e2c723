import type { ArtefactSettings, ControllerSettings } from "../cli/controller-settings.ts";
import { type ArtefactSink, localFolderSink, s3Sink } from "../publish/artefact-sink.ts";
import { type DoctorCheck, fail, ok, warn } from "./doctor-check.ts";

/** Key of the probe object doctor writes (overwritten each run; the controller never deletes). */
export const probeKey = ".cacheon-doctor-probe";

/**
 * Checks that results can be published: writes a small probe object through the same sink
 * `serve` uses (folder or S3), and the same for where raw artefacts are kept. Names where the
 * published page will be. Keeping no artefacts is a warning: settled rounds then publish no
 * evidence bundles, so no miner can judge the verdicts again with `cacheon-agent regrade`.
 */
export async function checkPublishTarget(
  publish: ControllerSettings["publish"],
  artefacts: ArtefactSettings,
  options: { nowMs?: number; agentsMode?: "local" | "remote" } = {},
): Promise<DoctorCheck[]> {
  const body = `written by cacheon-controller doctor at ${new Date(options.nowMs ?? Date.now()).toISOString()}\n`;
  const probe = async (
    id: string,
    title: string,
    sink: ArtefactSink,
    what: "folder" | "s3",
    setting = "publish.folder",
  ): Promise<DoctorCheck> => {
    try {
      await sink.put(probeKey, body, "text/plain; charset=utf-8");
    } catch (error) {
      return fail(
        id,
        title,
        (error as Error).message,
        what === "folder"
          ? `create the folder or fix ${setting}, and let the controller's user write it`
          : "check the bucket exists and the credentials may PutObject in it (and the endpoint for S3-compatible servers)",
      );
    }
    return ok(id, title, `writable (${sink.locate(probeKey)})`, [
      `the leaderboard page will be ${sink.locate("index.html")}`,
    ]);
  };
  const checks = [
    publish.target === "local"
      ? await probe("publish", "publish target", localFolderSink(publish.folder), "folder")
      : await probe("publish", "publish target", s3Sink(publish), "s3"),
  ];
  if (artefacts.target === "s3") {
    const check = await probe("artefacts", "raw artefact bucket", s3Sink(artefacts), "s3");
    checks.push(check.status === "ok" ? { ...check, details: [] } : check);
  } else if (artefacts.target === "folder") {
    const sink = localFolderSink(artefacts.folder);
    const check = await probe("artefacts", "raw artefact folder", sink, "folder", "artefacts.folder");
    checks.push(check.status === "ok" ? { ...check, details: [] } : check);
  } else
    checks.push(
      warn(
        "artefacts",
        "raw artefacts",
        "artefacts.target is none: no evidence bundle is kept, so settled rounds publish none and no miner can judge your verdicts again",
        options.agentsMode === "local"
          ? "set artefacts.target folder (artefacts.folder) or s3 (artefacts.s3.*)"
          : "set artefacts.target s3 and artefacts.s3.* (empty fields reuse publish.s3.*); agents upload through pre-signed URLs",
      ),
    );
  return checks;
}
