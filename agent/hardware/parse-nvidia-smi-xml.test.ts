import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { parseNvidiaSmiXml } from "./parse-nvidia-smi-xml.ts";

const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const read = (...path: string[]) => readFileSync(join(fixtures, ...path), "utf8");

describe("parseNvidiaSmiXml on real captures", () => {
  it("reads every field of the 2x H200 capture", () => {
    const query = parseNvidiaSmiXml(read("h200-x2", "q.xml"));
    expect(query.problems).toEqual([]);
    expect(query.truncated).toBe(false);
    expect(query.driverVersion).toBe("580.159.04");
    expect(query.cudaVersion).toBe("13.0");
    expect(query.attachedGpus).toBe(2);
    expect(query.gpus).toHaveLength(2);
    const [gpu0, gpu1] = query.gpus;
    expect(gpu0).toMatchObject({
      index: 0,
      name: "NVIDIA H200",
      uuid: "GPU-f0f64d5d-e8f4-9506-fc29-ecf78423604d",
      serial: "1653924058781",
      pciBusId: "00000000:00:06.0",
      memoryTotalMib: 143771n,
      memoryUsedMib: 0n,
      driverVersion: "580.159.04",
      vbiosVersion: "96.00.A5.00.1A",
      migEnabled: false,
      eccEnabled: true,
      eccUncorrectedVolatile: 0n,
      remapPending: false,
      remapFailure: false,
      retiredPagesPending: 0n,
      persistenceMode: true,
      computeMode: "Default",
      fabricState: "Completed",
      fabricStatus: "Success",
      processes: [],
      temperatureC: 38,
      utilizationPercent: 0,
      powerLimitW: 700,
    });
    expect(gpu1?.uuid).toBe("GPU-fcafd754-641c-8e39-0b5f-ed72555c0a35");
    expect(gpu1?.index).toBe(1);
  });

  it("reads the process, memory, load and heat of the busy capture from the H200 device machine", () => {
    const [gpu0, gpu1] = parseNvidiaSmiXml(read("h200-x2-firecracker", "busy", "q.xml")).gpus;
    expect(gpu0?.processes.map((p) => ({ pid: p.pid, name: p.name, mib: p.usedMemoryMib }))).toEqual([
      { pid: 972, name: "python3", mib: 21868n },
    ]);
    expect(gpu0?.utilizationPercent).toBe(100);
    expect(gpu0?.temperatureC).toBe(54);
    expect(gpu0?.memoryUsedMib).toBe(21877n);
    expect(gpu1?.processes).toEqual([]);
  });

  it("reads the idle capture from the H200 device machine", () => {
    const query = parseNvidiaSmiXml(read("h200-x2-firecracker", "idle", "q.xml"));
    expect(query.problems).toEqual([]);
    expect(query.gpus.map((g) => [g.name, g.memoryTotalMib, g.fabricState])).toEqual([
      ["NVIDIA H200", 143771n, "Completed"],
      ["NVIDIA H200", 143771n, "Completed"],
    ]);
  });
});

describe("parseNvidiaSmiXml on hostile text", () => {
  const real = read("h200-x2", "q.xml");

  it("throws a clear invalid-argument error for empty output", () => {
    expect(() => parseNvidiaSmiXml("")).toThrow(CacheonError);
    expect(() => parseNvidiaSmiXml("")).toThrow(/empty output, not <nvidia_smi_log>/);
  });

  it("throws for a driver error message or foreign XML", () => {
    expect(() => parseNvidiaSmiXml("NVIDIA-SMI has failed because it couldn't communicate")).toThrow(
      /no XML element/,
    );
    expect(() => parseNvidiaSmiXml("<html><body>hi</body></html>")).toThrow(/root element <html>/);
  });

  it("keeps the GPUs read before a cut and says the output was truncated", () => {
    const cut = real.slice(0, real.indexOf("<pdi>0xfd9de122eb344a7d</pdi>") + 12);
    const query = parseNvidiaSmiXml(cut);
    expect(query.truncated).toBe(true);
    expect(query.gpus).toHaveLength(2);
    expect(query.gpus[0]?.fabricState).toBe("Completed");
    expect(query.gpus[1]?.uuid).toBe("GPU-fcafd754-641c-8e39-0b5f-ed72555c0a35");
    expect(query.gpus[1]?.memoryTotalMib).toBe(0n);
    expect(query.problems.join("\n")).toMatch(/element\(s\) open/);
  });

  it("turns N/A, [N/A] and Not Supported into empty / zero / -1, never a number", () => {
    const text = real
      .replace("<product_name>NVIDIA H200</product_name>", "<product_name>[N/A]</product_name>")
      .replace("<total>143771 MiB</total>", "<total>N/A</total>")
      .replace("<gpu_temp>38 C</gpu_temp>", "<gpu_temp>[Not Supported]</gpu_temp>")
      .replace("<gpu_util>0 %</gpu_util>", "<gpu_util>N/A</gpu_util>")
      .replace("<state>Completed</state>", "<state>N/A</state>")
      .replace("<uuid>GPU-f0f64d5d-e8f4-9506-fc29-ecf78423604d</uuid>", "<uuid>N/A</uuid>");
    const gpu = parseNvidiaSmiXml(text).gpus[0];
    expect(gpu).toMatchObject({
      name: "",
      memoryTotalMib: 0n,
      temperatureC: -1,
      utilizationPercent: -1,
      fabricState: "",
      uuid: "",
    });
    expect(parseNvidiaSmiXml(text).problems).toContain("gpu 0 has no UUID");
  });

  it("ignores unknown tags and reads ANSI-coloured output", () => {
    const text = `\u001b[32m${real.replace("<product_name>", "<future_field><x>1</x></future_field><product_name>")}\u001b[0m`;
    const query = parseNvidiaSmiXml(text);
    expect(query.gpus).toHaveLength(2);
    expect(query.gpus[0]?.name).toBe("NVIDIA H200");
  });

  it("reports an attached_gpus count that disagrees with the GPUs described", () => {
    const query = parseNvidiaSmiXml(
      real.replace("<attached_gpus>2</attached_gpus>", "<attached_gpus>8</attached_gpus>"),
    );
    expect(query.problems).toEqual(["attached_gpus says 8 but the output describes 2 GPU(s)"]);
  });

  it("sums volatile uncorrectable ECC errors of every memory type and reads remap flags", () => {
    const text = real
      .replace("<dram_uncorrectable>0</dram_uncorrectable>", "<dram_uncorrectable>2</dram_uncorrectable>")
      .replace(
        "<sram_uncorrectable_parity>0</sram_uncorrectable_parity>",
        "<sram_uncorrectable_parity>1</sram_uncorrectable_parity>",
      )
      .replace(
        "<remapped_row_pending>No</remapped_row_pending>",
        "<remapped_row_pending>Yes</remapped_row_pending>",
      );
    const gpu = parseNvidiaSmiXml(text).gpus[0];
    expect(gpu?.eccUncorrectedVolatile).toBe(3n);
    expect(gpu?.remapPending).toBe(true);
  });

  it("takes a per-GPU driver from the GSP firmware and falls back to the top-level driver", () => {
    const text = real.replace(
      "<gsp_firmware_version>580.159.04</gsp_firmware_version>",
      "<gsp_firmware_version>N/A</gsp_firmware_version>",
    );
    expect(parseNvidiaSmiXml(text).gpus.map((g) => g.driverVersion)).toEqual(["580.159.04", "580.159.04"]);
    const mixed = real.replace(
      "<gsp_firmware_version>580.159.04</gsp_firmware_version>",
      "<gsp_firmware_version>570.1</gsp_firmware_version>",
    );
    expect(parseNvidiaSmiXml(mixed).gpus.map((g) => g.driverVersion)).toEqual(["570.1", "580.159.04"]);
  });
});
