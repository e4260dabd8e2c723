import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllReduceOutput, parseBandwidthOutput } from "./bandwidth-check.ts";
import { localBandwidthRunner } from "./gpu-script-runners.ts";
import { gpuScriptNames, gpuScriptText, pythonScriptBootstrap, writeGpuScripts } from "./gpu-scripts.ts";

// test/fixtures/fake-torch stands in for PyTorch's GPU calls (no GPU here): the scripts' process
// handling runs for real, the figures it yields are meaningless.
const fakeTorch = join(import.meta.dirname, "..", "..", "test", "fixtures", "fake-torch");
const env = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH,
  PYTHONDONTWRITEBYTECODE: "1",
  ...extra,
});

describe("writeGpuScripts", () => {
  it("writes every script, as in the source tree, to a folder only this user can enter, and removes it", async () => {
    const written = await writeGpuScripts();
    expect(statSync(written.dir).mode & 0o777).toBe(0o700);
    for (const name of gpuScriptNames) {
      expect(readFileSync(written.path(name), "utf8")).toBe(
        readFileSync(join(import.meta.dirname, "gpu-scripts", name), "utf8"),
      );
    }
    await written.remove();
    expect(existsSync(written.dir)).toBe(false);
  });
});

describe("pythonScriptBootstrap (how a container gets a script without a mount)", () => {
  it("runs the script passed in CACHEON_GPU_SCRIPT with the arguments after its name", () => {
    let out = "";
    try {
      execFileSync("python3", ["-c", pythonScriptBootstrap, "gpu_copy_bandwidth.py", "--bytes", "1"], {
        encoding: "utf8",
        env: env({ CACHEON_GPU_SCRIPT: gpuScriptText("gpu_copy_bandwidth.py") }),
      });
    } catch (error) {
      out = (error as { stdout: string }).stdout;
    }
    expect(() => parseBandwidthOutput(out, 0)).toThrow(/--bytes must be >= 4096/);
  });
});

describe("nccl_all_reduce.py through the local runner", () => {
  it("says PyTorch is missing where it is (this machine)", async () => {
    const run = localBandwidthRunner({ env: env({ PYTHONPATH: "/nonexistent" }) });
    const out = await run({ script: "nccl_all_reduce.py" });
    expect(() => parseAllReduceOutput(out, 0)).toThrow(/could not measure: PyTorch is not importable/);
  });

  it("starts one worker per GPU with NVLink multicast forced off, whatever the caller's environment says", async () => {
    const run = localBandwidthRunner({
      env: env({ PYTHONPATH: fakeTorch, NCCL_NVLS_ENABLE: "1" }),
      args: { "nccl_all_reduce.py": ["--sizes", "4096,8192", "--iters", "2", "--repeats", "1"] },
    });
    const check = parseAllReduceOutput(await run({ script: "nccl_all_reduce.py" }), 0);
    expect(check.ranks).toBe(4);
    expect(check.sizes.map((s) => s.bytes)).toEqual([4096n, 8192n]);
    expect(check.ncclVersion).toBe("2.28.9");
  });

  it("names a worker that fails instead of waiting for the others, and refuses a single GPU", async () => {
    const failing = localBandwidthRunner({
      env: env({ PYTHONPATH: fakeTorch, FAKE_FAIL_RANK: "2" }),
      args: { "nccl_all_reduce.py": ["--sizes", "4096", "--iters", "1", "--repeats", "1"] },
    });
    const out = await failing({ script: "nccl_all_reduce.py" });
    expect(() => parseAllReduceOutput(out, 0)).toThrow(
      /could not measure: worker 2 exited with 1: RuntimeError: NCCL error: unhandled system error/,
    );
    const single = localBandwidthRunner({ env: env({ PYTHONPATH: fakeTorch, FAKE_GPUS: "1" }) });
    await expect(
      single({ script: "nccl_all_reduce.py" }).then((o) => parseAllReduceOutput(o, 0)),
    ).rejects.toThrow(/an all-reduce needs at least 2 GPUs, 1 visible/);
  });
});
