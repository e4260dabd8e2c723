import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseNvidiaSmiXml } from "../hardware/parse-nvidia-smi-xml.ts";
import { releaseViolations } from "./check-gpus-released.ts";

const fixtures = join(
  import.meta.dirname,
  "..",
  "..",
  "test",
  "fixtures",
  "nvidia-smi",
  "h200-x2-firecracker",
);
const gpus = (state: string, edit: (xml: string) => string = (x) => x) =>
  parseNvidiaSmiXml(edit(readFileSync(join(fixtures, state, "q.xml"), "utf8"))).gpus;

describe("releaseViolations (real H200 captures)", () => {
  it("finds nothing on idle GPUs", () => {
    expect(releaseViolations(gpus("idle"), 1024)).toEqual([]);
  });

  it("names a process left on a GPU", () => {
    expect(releaseViolations(gpus("busy"), 1024)).toEqual(["gpu 0: pid 972 python3 holds 21868 MiB"]);
  });

  it("names memory held with no process left (the driver did not release it: a reset's case)", () => {
    const stuck = gpus("busy", (xml) => xml.replace(/<process_info>[\s\S]*?<\/process_info>/g, ""));
    expect(releaseViolations(stuck, 1024)).toEqual(["gpu 0: 21877 MiB in use with no process"]);
    expect(releaseViolations(stuck, 32_000)).toEqual([]);
  });
});
