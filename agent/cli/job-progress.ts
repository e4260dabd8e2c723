import { createProgressBar, type ProgressBar } from "../../shared/cli/progress-bar.ts";
import type { JobContext } from "../job/job-executor.ts";

/**
 * Shows a job's progress on a terminal stream: a progress bar per arm while it is measured, one
 * line for every other phase. `finish()` closes the last bar.
 */
export function jobProgress(stream: NodeJS.WritableStream & { isTTY?: boolean }): {
  emit: JobContext["emit"];
  finish(): void;
} {
  let bar: ProgressBar | undefined;
  let barArm = "";
  return {
    emit(event) {
      if (event.case !== "progress") return;
      if (event.value.phase === "measure" && event.value.total > 0) {
        if (barArm !== event.value.armId) {
          bar?.finish();
          barArm = event.value.armId;
          bar = createProgressBar({ label: barArm, total: event.value.total, stream });
        }
        bar?.update(event.value.done);
      } else
        stream.write(
          `${event.value.armId ? `${event.value.armId}: ` : ""}${event.value.phase} ${event.value.message}\n`,
        );
    },
    finish: () => bar?.finish(),
  };
}
