import { attachJobEvidence } from "../../../agent/job/job-evidence.ts";
import type { JobExecutor } from "../../../agent/job/job-executor.ts";

/**
 * Gives a stand-in pod (simulatedPod) the agent's evidence bundles, made by the same code as
 * run-pod-job (attachJobEvidence) from what it returns: no measurements, so the bundles hold the
 * job and each arm's result. A bundle that cannot be made fails the job (tests want to see it).
 */
export function withEvidenceBundles(executor: JobExecutor): JobExecutor {
  return async (job, context) => {
    const result = await executor(job, context);
    attachJobEvidence({
      job,
      result,
      runs: new Map(),
      judgedFrom: new Map(),
      teacherForced: new Map(),
      logs: new Map(),
      judge: { expectedGpus: 0 },
      agentVersion: "test",
      artefact: context.artefact?.bind(context),
      onProblem: (armId, error) => {
        throw new Error(`bundle of ${armId}: ${error.message}`);
      },
    });
    return result;
  };
}
