import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { uploadNameProblem } from "../control-plane/upload-storage.ts";

/**
 * Where the controller keeps the raw artefacts of jobs (each arm's evidence bundle): what remote
 * agents uploaded through pre-signed URLs, or what agents in this process handed over. Private:
 * bundles hold a job's prompts, which stay secret until the round settles and publication copies
 * them out.
 */
export interface EvidenceStore {
  /** Where it keeps things, for people and logs. */
  readonly location: string;
  /** Keeps an artefact of a job (agents in this process); the same name again replaces it. */
  keep(jobId: string, name: string, body: Uint8Array): Promise<void>;
  /** An artefact of a job, or undefined when there is none. */
  read(jobId: string, name: string): Promise<Uint8Array | undefined>;
}

/** The path of an artefact under a store's root: `jobs/<job>/<name>`, as the upload storage lays it out. */
export function artefactPath(jobId: string, name: string): string {
  const problem = uploadNameProblem(name) ?? uploadNameProblem(jobId);
  if (problem)
    throw new CacheonError("invalid-argument", `artefact ${JSON.stringify(`${jobId}/${name}`)}: ${problem}`);
  return `jobs/${jobId}/${name}`;
}

/** An evidence store in a local folder (agents.mode local with artefacts.target folder). */
export function folderEvidenceStore(root: string): EvidenceStore {
  const base = resolve(root);
  const pathOf = (jobId: string, name: string) => {
    const path = join(base, artefactPath(jobId, name));
    if (!path.startsWith(base + sep))
      throw new CacheonError("invalid-argument", `artefact ${jobId}/${name} escapes ${base}`);
    return path;
  };
  return {
    location: `file://${base}`,
    async keep(jobId, name, body) {
      const path = pathOf(jobId, name);
      try {
        await mkdir(dirname(path), { recursive: true });
        const temp = `${path}.tmp-${process.pid}`;
        await writeFile(temp, body, { mode: 0o600 });
        await rename(temp, path);
      } catch (error) {
        throw new CacheonError(
          "unavailable",
          `cannot keep ${path}: ${(error as Error).message}; check artefacts.folder and its permissions`,
          { cause: error },
        );
      }
    },
    async read(jobId, name) {
      try {
        return new Uint8Array(await readFile(pathOf(jobId, name)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw new CacheonError(
          "unavailable",
          `cannot read ${pathOf(jobId, name)}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
    },
  };
}
