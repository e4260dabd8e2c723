import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { postJson } from "../testing/sim-client.ts";

// The CLI as a real process: flags, environment, exit codes.
const mainFile = join(import.meta.dirname, "main.ts");

function launch(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [mainFile, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

async function output(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

async function firstLine(child: ChildProcess): Promise<string> {
  let text = "";
  for await (const chunk of child.stdout as NodeJS.ReadableStream) {
    text += chunk;
    if (text.includes("\n")) return text.split("\n")[0] ?? "";
  }
  throw new Error("the process ended without printing a line");
}

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${url}/health`)).status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url}/health did not turn 200`);
}

describe("cacheon-sim-llm process", () => {
  it("prints help and exits 0", async () => {
    const r = await output(launch(["--help"]));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--numeric-noise");
    expect(r.stdout).toContain("CACHEON_SIM_MODE");
  });

  it("exits 2 on an unknown flag, a bad mode or a bad environment value", async () => {
    const flag = await output(launch(["--nope"]));
    expect(flag.code).toBe(2);
    const mode = await output(launch(["--mode", "evil"]));
    expect(mode.code).toBe(2);
    expect(mode.stderr).toMatch(/--mode: "evil" is not one of/);
    const timing = await output(launch(["--timing", "decodeStepBaseMs=fast"]));
    expect(timing.code).toBe(2);
    expect(timing.stderr).toMatch(/--timing: "decodeStepBaseMs=fast"/);
    const env = await output(launch([], { CACHEON_SIM_SPEED: "fast" }));
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/CACHEON_SIM_SPEED: expected a number/);
  });

  it("serves on the given port with --json, and exits 0 on SIGTERM", async () => {
    const child = launch(
      ["--port", "0", "--json", "--model", "sim/test", "--timing", "decodeStepBaseMs=1,prefillBaseMs=0"],
      // Long enough that the first /health lands while still loading on a busy machine.
      { CACHEON_SIM_READY_DELAY_S: "3" },
    );
    const done = output(child);
    const line = JSON.parse(await firstLine(child)) as { url: string; model: string };
    expect(line.model).toBe("sim/test");
    // The port is bound while the "model" still loads: 503, then 200.
    expect((await fetch(`${line.url}/health`)).status).toBe(503);
    await waitHealthy(line.url);
    const res = await postJson(`${line.url}/v1/chat/completions`, {
      model: "sim/test",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 3,
    });
    expect(
      ((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens,
    ).toBeLessThanOrEqual(3);
    child.kill("SIGTERM");
    expect((await done).code).toBe(0);
  });

  it("exits 1 when crash-after (from the environment) crashes", async () => {
    const child = launch(["--port", "0", "--json"], {
      CACHEON_SIM_MODE: "crash-after",
      CACHEON_SIM_CRASH_AFTER: "1",
    });
    const done = output(child);
    const { url } = JSON.parse(await firstLine(child)) as { url: string };
    const body = { messages: [{ role: "user", content: "hi" }], max_tokens: 2 };
    expect((await postJson(`${url}/v1/chat/completions`, body)).status).toBe(200);
    await expect(postJson(`${url}/v1/chat/completions`, body)).rejects.toThrow();
    const r = await done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/crashed on purpose/);
  });
});
