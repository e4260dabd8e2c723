import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CommandProviderOptions,
  createCommandProvider,
} from "../../controller/pods/command-provider.ts";
import type { PodProvider } from "../../controller/pods/pod-provider.ts";
import { processAlive } from "../fixtures/providers/process-alive.ts";

const script = join(import.meta.dirname, "..", "fixtures", "providers", "fake-cloud.ts");

/** The `command` provider driving test/fixtures/providers/fake-cloud.ts, whose machines are real processes. */
export interface FakeCloud {
  provider: PodProvider;
  dir: string;
  /** Live machine processes by machine id. */
  machines(): { id: string; pid: number; podId: string }[];
  /** Kills a machine from outside, as a cloud reclaiming it would. */
  vanish(machineId: string): void;
  /** The user-data the cloud received for a machine. */
  userData(machineId: string): string;
  /** Kills every machine left (a safety net; tests assert there are none) and removes the directory. */
  dispose(): void;
}

/** Creates a fake cloud in a fresh temporary directory. */
export function createFakeCloud(
  options: Partial<CommandProviderOptions> & { env?: Record<string, string> } = {},
): FakeCloud {
  const dir = mkdtempSync(join(tmpdir(), "cacheon-fake-cloud-"));
  const command = (verb: string) => [process.execPath, script, verb] as const;
  const provider = createCommandProvider({
    name: "command:fake-cloud",
    create: command("create"),
    list: command("list"),
    delete: command("delete"),
    timeoutMs: 20_000,
    ...options,
    env: { FAKE_CLOUD_DIR: dir, ...options.env },
  });
  const alive = processAlive;
  const all = () =>
    readdirSync(dir)
      .filter((name) => name.endsWith(".machine.json"))
      .map(
        (name) =>
          JSON.parse(readFileSync(join(dir, name), "utf8")) as { id: string; pid: number; podId: string },
      );
  return {
    provider,
    dir,
    machines: () => all().filter((m) => alive(m.pid)),
    vanish(machineId) {
      const machine = all().find((m) => m.id === machineId);
      if (!machine) throw new Error(`no machine ${machineId}`);
      process.kill(machine.pid, "SIGKILL");
    },
    userData: (machineId) => readFileSync(join(dir, `${machineId}.user-data`), "utf8"),
    dispose() {
      for (const m of all()) if (alive(m.pid)) process.kill(m.pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
