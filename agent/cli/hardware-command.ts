import { toJson } from "@bufbuild/protobuf";
import Dockerode from "dockerode";
import { type CliCommand, ExitCode } from "../../shared/cli/cli-command.ts";
import { createProgressBar } from "../../shared/cli/progress-bar.ts";
import { type HardwareReport, HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { formatBytes } from "../hardware/bandwidth-check.ts";
import { dockerBandwidthRunner, localBandwidthRunner } from "../hardware/gpu-script-runners.ts";
import { probeHardware } from "../hardware/probe-hardware.ts";
import { builtInProfileNames, defaultProfileName } from "../hardware/profiles.ts";

/** `cacheon-agent hardware`: checks the machine against a hardware profile. */
export const hardwareCommand: CliCommand = {
  name: "hardware",
  summary: "verify this machine's GPUs, NVLink topology and software against a hardware profile",
  help: `Usage: cacheon-agent hardware [options]

Runs nvidia-smi (-q -x, topo -m, nvlink -s), checks that it is NVIDIA's ELF binary, hashes it and
libnvidia-ml.so.1 against the allow-list of driver builds, refuses loader overrides (LD_PRELOAD,
LD_AUDIT, untrusted LD_LIBRARY_PATH, /etc/ld.so.preload), reads host facts (CPU, memory, OS,
Docker, NVIDIA runtime, free disk, Fabric Manager's version) and checks them all against a
profile. Every failed rule names the GPU, link or pair it concerns; a value nvidia-smi reports
as N/A fails the rule that needs it. Findings (an unknown driver build) are listed, not failed.

Tests and demos that replay captured nvidia-smi output through a script must set
CACHEON_ALLOW_NVIDIA_SMI_REPLAY=1; the report then says so, and controllers refuse it.

Options:
  --profile NAME|FILE   ${builtInProfileNames.join(", ")}, or a YAML/JSON file (may "extends: h200x8")
                        (default ${defaultProfileName}; env CACHEON_HARDWARE_PROFILE)
  --nvidia-smi PATH     nvidia-smi to run (default: nvidia-smi on PATH)
  --bandwidth           also run the active tests (need PyTorch): the GPU-to-GPU copy of every
                        ordered pair, then an NCCL all-reduce across every GPU (one process per
                        GPU, NVLink multicast off) when the profile sets its threshold. The
                        Python scripts are inside the agent; nothing else is needed on disk
  --bandwidth-image REF run the tests inside this image (the pinned baseline) with all GPUs;
                        without it they run with python3 on this machine
  --no-docker           do not ask Docker for host facts (host rules that need it then fail)
  --json                print the report as JSON (the proto HardwareReport's JSON mapping,
                        every field present): { ok, profile, gpus, links, failures: [{rule,
                        subject, detail}], host, fingerprint, bandwidth, takenAtUnixMs }
  -h, --help            this help

Exit codes: 0 the machine meets the profile; 1 it does not; 2 cannot tell (nvidia-smi missing
or failing, bad profile or flags).

Examples:
  cacheon-agent hardware
  cacheon-agent hardware --profile none --json
  cacheon-agent hardware --bandwidth --bandwidth-image vllm/vllm-openai@sha256:...
`,
  options: {
    profile: { type: "string" },
    "nvidia-smi": { type: "string" },
    bandwidth: { type: "boolean" },
    "bandwidth-image": { type: "string" },
    "no-docker": { type: "boolean" },
  },
  async run(values, _positionals, io) {
    const profile =
      (values.profile as string | undefined) ?? io.env.CACHEON_HARDWARE_PROFILE ?? defaultProfileName;
    const docker = values["no-docker"] ? undefined : new Dockerode();
    const image = values["bandwidth-image"] as string | undefined;
    const bandwidth = Boolean(values.bandwidth) || image !== undefined;
    const bar = values.json
      ? undefined
      : createProgressBar({ label: "hardware", total: 5, stream: io.stderr });
    const report = await probeHardware({
      profile,
      nvidiaSmiPath: values["nvidia-smi"] as string | undefined,
      docker,
      env: io.env,
      signal: io.signal,
      runBandwidthCheck: !bandwidth
        ? undefined
        : image && docker
          ? dockerBandwidthRunner({ docker, image })
          : localBandwidthRunner({ env: io.env }),
      onStep: (step, index) => bar?.update(index, step),
    });
    bar?.update(5);
    bar?.finish(report.ok ? "ok" : `${report.failures.length} failure(s)`);
    io.stdout.write(
      values.json
        ? `${JSON.stringify(toJson(HardwareReportSchema, report, { alwaysEmitImplicit: true }), null, 2)}\n`
        : renderReport(report),
    );
    return report.ok ? ExitCode.ok : ExitCode.negative;
  },
};

/** The report for a person: one line per GPU, then the failures. */
export function renderReport(report: HardwareReport): string {
  const lines = [`profile ${report.profile}: ${report.ok ? "OK" : "NOT MET"}`];
  for (const gpu of report.gpus) {
    const active = gpu.nvlinks.filter((l) => l.active).length;
    lines.push(
      `  gpu ${gpu.index}  ${gpu.name}  ${gpu.memoryTotalMib} MiB  ${gpu.uuid}  driver ${gpu.driverVersion}  nvlink ${active}/${gpu.nvlinks.length}  fabric ${gpu.fabricState || "-"}`,
    );
  }
  const pairs = new Map<string, number>();
  for (const link of report.links) pairs.set(link.connection, (pairs.get(link.connection) ?? 0) + 1);
  if (pairs.size > 0) lines.push(`  pairs: ${[...pairs].map(([c, n]) => `${n}x ${c || "?"}`).join(", ")}`);
  const fp = report.fingerprint;
  if (fp?.nvidiaSmiPath) lines.push(`  nvidia-smi ${fp.nvidiaSmiPath} sha256 ${fp.nvidiaSmiSha256}`);
  if (fp?.nvmlLibraryPath) lines.push(`  nvml ${fp.nvmlLibraryPath} sha256 ${fp.nvmlLibrarySha256}`);
  for (const pair of report.bandwidth?.pairs ?? []) {
    lines.push(`  copy gpu ${pair.src}->${pair.dst}: ${pair.gbPerS.toFixed(1)} GB/s`);
  }
  const allReduce = report.bandwidth?.allReduce;
  for (const size of allReduce?.sizes ?? []) {
    lines.push(
      `  all-reduce ${allReduce?.ranks} GPUs ${formatBytes(size.bytes)}: bus ${size.busGbPerS.toFixed(1)} GB/s (${size.timeUs.toFixed(0)} us)`,
    );
  }
  lines.push(`  probe took ${(Number(report.durationMs) / 1000).toFixed(1)} s`);
  for (const f of report.failures) lines.push(`  FAIL ${f.rule} [${f.subject}]: ${f.detail}`);
  for (const f of report.findings) lines.push(`  NOTE ${f.rule} [${f.subject}]: ${f.detail}`);
  return `${lines.join("\n")}\n`;
}
