import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  HardwareFailureSchema,
  HardwareReportSchema,
  SoftwareFingerprintSchema,
} from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { verificationOf } from "./connect-fleet.ts";

const report = (fields: Parameters<typeof create<typeof HardwareReportSchema>>[1]) =>
  toBinary(HardwareReportSchema, create(HardwareReportSchema, fields));

describe("verificationOf", () => {
  it("passes an ok report and lists the failures of a failed one", () => {
    expect(verificationOf(report({ ok: true }))).toEqual({ ok: true, failures: [] });
    expect(
      verificationOf(
        report({
          ok: false,
          failures: [
            create(HardwareFailureSchema, { rule: "gpu-count", subject: "host", detail: "found 2" }),
          ],
        }),
      ),
    ).toEqual({ ok: false, failures: ["gpu-count (host): found 2"] });
    expect(verificationOf(new Uint8Array())).toEqual({
      ok: false,
      failures: ["the agent enrolled without a hardware report"],
    });
  });

  it("refuses a report whose agent accepted a replayed nvidia-smi, even one that says ok", () => {
    const outcome = verificationOf(
      report({ ok: true, fingerprint: create(SoftwareFingerprintSchema, { nvidiaSmiReplay: true }) }),
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.failures).toEqual([
      "nvidia-smi-replay (host): the agent ran with CACHEON_ALLOW_NVIDIA_SMI_REPLAY, so its nvidia-smi may be a replay of someone else's GPUs",
    ]);
  });
});
