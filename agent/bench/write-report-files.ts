import { writeFileSync } from "node:fs";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** Writes a report to FILE, or to `stdout` when FILE is "-"; file errors name the file. */
export function writeReportFile(path: string, text: string, stdout: NodeJS.WritableStream): void {
  if (path === "-") {
    stdout.write(text);
    return;
  }
  try {
    writeFileSync(path, text);
  } catch (error) {
    throw new CacheonError("invalid-argument", `cannot write ${path}: ${(error as Error).message}`);
  }
}
