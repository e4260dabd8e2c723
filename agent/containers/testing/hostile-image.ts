import { readFileSync } from "node:fs";
import { join } from "node:path";
import type Docker from "dockerode";
import { buildNodeTestImage } from "./node-test-image.ts";

/**
 * The hostile test server (hostile-server.ts) in a FROM-scratch image; its behaviour is chosen
 * per container with HOSTILE_MODE, or baked in with `mode`. Built once per content. Returns the local tag.
 */
export function buildHostileImage(
  docker: Docker,
  mode?: string,
  options: { volumes?: string[] } = {},
): Promise<string> {
  return buildNodeTestImage({
    ...(options.volumes ? { volumes: options.volumes } : {}),
    docker,
    repository: "cacheon-test/hostile",
    area: "containers",
    files: { "hostile-server.ts": readFileSync(join(import.meta.dirname, "hostile-server.ts")) },
    cmd: [
      "/bin/node",
      "--disable-warning=ExperimentalWarning",
      "/app/hostile-server.ts",
      ...(mode ? [`--mode=${mode}`] : []),
    ],
  });
}
