import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Addresses of the real services `scripts/test-env start` runs. */
export interface TestServices {
  /** Path of the Docker engine's Unix socket. */
  dockerSocket: string;
  /** host:port of the image registry on loopback. */
  registry: string;
  /** S3 endpoint URL and credentials. */
  s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string };
}

const envFile = join(import.meta.dirname, "..", "..", ".cacheon", "test-env", "env");

/**
 * The services tests use. Reads the environment, falling back to the file `scripts/test-env start`
 * writes. Throws (never skips) when they are not set up, so a missing service fails the run.
 */
export function testServices(): TestServices {
  const env: Record<string, string | undefined> = { ...readEnvFile(), ...process.env };
  const need = (name: string): string => {
    const value = env[name];
    if (!value) {
      throw new Error(
        `${name} is not set: run \`scripts/test-env start\` (as root) before the tests, or use scripts/test`,
      );
    }
    return value;
  };
  return {
    dockerSocket: need("CACHEON_TEST_DOCKER_SOCKET"),
    registry: need("CACHEON_TEST_REGISTRY"),
    s3: {
      endpoint: need("CACHEON_TEST_S3_ENDPOINT"),
      accessKeyId: need("CACHEON_TEST_S3_ACCESS_KEY"),
      secretAccessKey: need("CACHEON_TEST_S3_SECRET_KEY"),
      region: "us-east-1",
    },
  };
}

function readEnvFile(): Record<string, string> {
  if (!existsSync(envFile)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(envFile, "utf8").split("\n")) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined) out[match[1]] = match[2];
  }
  return out;
}
