import type { ArtefactSettings, ControllerSettings } from "../cli/controller-settings.ts";
import { type ArtefactSink, localFolderSink, s3Sink } from "../publish/artefact-sink.ts";
import { type DoctorCheck, fail, ok, skip } from "./doctor-check.ts";

/** Key of the probe object doctor writes (overwritten each run; the controller never deletes). */
export const probeKey = ".cacheon-doctor-probe";

/**
 * Checks that results can be published: writes a small probe object through the same sink
 * `serve` uses (folder or S3), and the same for the raw artefact bucket when agents upload there.
 * Names where the published page will be.
 */
export async function checkPublishTarget(
  publish: ControllerSettings["publish"],
  artefacts: ArtefactSettings,
  options: { nowMs?: number } = {},
): Promise<DoctorCheck[]> {
  const body = `written by cacheon-controller doctor at ${new Date(options.nowMs ?? Date.now()).toISOString()}\n`;
  const probe = async (id: string, title: string, sink: ArtefactSink, what: string): Promise<DoctorCheck> => {
    try {
      await sink.put(probeKey, body, "text/plain; charset=utf-8");
    } catch (error) {
      return fail(
        id,
        title,
        (error as Error).message,
        what === "folder"
          ? "create the folder or fix publish.folder, and let the controller's user write it"
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
  } else checks.push(skip("artefacts", "raw artefact bucket", `artefacts.target is ${artefacts.target}`));
  return checks;
}
