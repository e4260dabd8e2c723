import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  parseLdconfigCache,
  resolveExecutable,
  resolveNvmlLibrary,
  sha256File,
} from "./software-fingerprint.ts";

const tmp = mkdtempSync(join(tmpdir(), "cacheon-hw-fp-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// The lines `ldconfig -p | grep nvidia-ml` printed on the real H200 machine
// (test/fixtures/nvidia-smi/h200-x2-firecracker/fingerprint.txt).
const realLdconfig = `4 libs found in cache \`/etc/ld.so.cache'
\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libnvidia-ml.so.1
\tlibnvidia-ml.so.1 (libc6,x86-64) => /lib/libnvidia-ml.so.1
\tlibnvidia-ml.so (libc6,x86-64) => /usr/local/nvidia/lib64/libnvidia-ml.so
\tlibnvidia-ml.so (libc6,x86-64) => /lib/libnvidia-ml.so
`;

describe("parseLdconfigCache", () => {
  it("reads the real machine's entries in cache order and skips the header", () => {
    const entries = parseLdconfigCache(realLdconfig);
    expect(entries).toHaveLength(4);
    expect(entries[0]).toEqual({
      name: "libnvidia-ml.so.1",
      flags: "libc6,x86-64",
      path: "/usr/local/nvidia/lib64/libnvidia-ml.so.1",
    });
  });

  it("gives nothing for empty or foreign text", () => {
    expect(parseLdconfigCache("")).toEqual([]);
    expect(parseLdconfigCache("ldconfig: command not found\n")).toEqual([]);
  });
});

describe("resolveNvmlLibrary", () => {
  const lib = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    const real = join(dir, "libnvidia-ml.so.580.159.04");
    writeFileSync(real, `nvml in ${dir}`);
    symlinkSync(real, join(dir, "libnvidia-ml.so.1"));
    return real;
  };
  const inCache = lib(join(tmp, "cache"));
  const inPath = lib(join(tmp, "ldpath"));
  const cache = `\tlibnvidia-ml.so.1 (libc6,x86-64) => ${join(tmp, "cache", "libnvidia-ml.so.1")}\n`;

  it("follows LD_LIBRARY_PATH before the cache, as the loader does, and resolves symlinks", async () => {
    expect(
      await resolveNvmlLibrary({ env: { LD_LIBRARY_PATH: join(tmp, "ldpath") }, ldconfigOutput: cache }),
    ).toBe(inPath);
    expect(await resolveNvmlLibrary({ env: {}, ldconfigOutput: cache })).toBe(inCache);
  });

  it("gives '' when the library is nowhere", async () => {
    const found = await resolveNvmlLibrary({
      env: {},
      ldconfigOutput: "",
      library: "libcacheon-not-there.so.1",
    });
    expect(found).toBe("");
  });
});

describe("resolveExecutable and sha256File", () => {
  it("finds a bare name on PATH like execvp, resolving symlinks", async () => {
    const bin = join(tmp, "bin");
    mkdirSync(bin);
    const target = join(tmp, "real-nvidia-smi");
    writeFileSync(target, "#!/bin/sh\necho hi\n", { mode: 0o755 });
    symlinkSync(target, join(bin, "nvidia-smi"));
    expect(await resolveExecutable("nvidia-smi", { PATH: `${join(tmp, "empty")}:${bin}` })).toBe(target);
    expect(await resolveExecutable("nvidia-smi", { PATH: join(tmp, "empty") })).toBeUndefined();
    expect(await resolveExecutable(join(tmp, "nope"), {})).toBeUndefined();
  });

  it("hashes like sha256sum", async () => {
    const file = join(tmp, "blob");
    writeFileSync(file, Buffer.alloc(3 * 1024 * 1024, 7));
    const expected = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
    expect(await sha256File(file)).toBe(expected);
    await expect(sha256File(join(tmp, "missing"))).rejects.toThrow(/ENOENT/);
  });
});
