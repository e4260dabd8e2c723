import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ConfigSchema, envName, renderConfigReference } from "./config-schema.ts";
import { loadConfig } from "./load-config.ts";

const schema: ConfigSchema = {
  "server.listen": {
    type: "string",
    doc: "Address to listen on.",
    default: "127.0.0.1:7000",
    flag: "listen",
  },
  "server.maxAgents": { type: "integer", doc: "Agents at most.", default: 8, min: 1, max: 1024 },
  "log.format": { type: "string", doc: "Log format.", values: ["json", "pretty"], default: "json" },
  "chain.endpoints": { type: "string-list", doc: "Chain endpoints.", default: ["ws://127.0.0.1:9944"] },
  "wallet.name": { type: "string", doc: "Wallet.", required: true },
  "tls.enabled": { type: "boolean", doc: "TLS.", default: false },
};

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("loadConfig", () => {
  it("layers defaults < file < env < flags and records each source", () => {
    const file = tempFile("c.yaml", "server:\n  listen: 0.0.0.0:1\n  maxAgents: 4\nwallet:\n  name: w\n");
    const { values, sources } = loadConfig({
      schema,
      file,
      envPrefix: "T_",
      env: { T_SERVER_MAX_AGENTS: "16", T_CHAIN_ENDPOINTS: "ws://a, ws://b", T_TLS_ENABLED: "yes" },
      flags: { listen: "127.0.0.1:9" },
    });
    expect(values).toEqual({
      "server.listen": "127.0.0.1:9",
      "server.maxAgents": 16,
      "log.format": "json",
      "chain.endpoints": ["ws://a", "ws://b"],
      "wallet.name": "w",
      "tls.enabled": true,
    });
    expect(sources).toMatchObject({
      "server.listen": "flag",
      "server.maxAgents": "env",
      "wallet.name": "file",
      "log.format": "default",
    });
  });

  it("reports every problem at once", () => {
    const file = tempFile(
      "c.json",
      JSON.stringify({ server: { maxAgents: 0, lisen: "x" }, log: { format: "xml" } }),
    );
    let message = "";
    try {
      loadConfig({ schema, file, envPrefix: "T_", env: { T_TLS_ENABLED: "maybe" } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/5 problems/);
    expect(message).toMatch(/unknown key "server.lisen"/);
    expect(message).toMatch(/server.maxAgents: 0 is below the minimum 1/);
    expect(message).toMatch(/"xml" is not one of "json", "pretty"/);
    expect(message).toMatch(/T_TLS_ENABLED: expected true or false/);
    expect(message).toMatch(/wallet.name: required; set "wallet.name" in the config file or T_WALLET_NAME/);
  });

  it("names an unreadable or malformed file", () => {
    expect(() => loadConfig({ schema, file: "/nonexistent.yaml", envPrefix: "T_" })).toThrow(
      /cannot read config file/,
    );
    expect(() => loadConfig({ schema, file: tempFile("x.yaml", "a: [1,"), envPrefix: "T_" })).toThrow(
      /not valid YAML/,
    );
    expect(() => loadConfig({ schema, file: tempFile("x.yaml", "- 1\n- 2\n"), envPrefix: "T_" })).toThrow(
      /mapping/,
    );
  });

  it("derives environment names and renders a reference table", () => {
    expect(envName("CACHEON_", "server.maxAgents")).toBe("CACHEON_SERVER_MAX_AGENTS");
    const table = renderConfigReference(schema, "T_");
    expect(table).toContain("| `server.listen` | `T_SERVER_LISTEN` | `--listen` | string |");
    expect(table).toContain("One of `json`, `pretty`.");
  });
});
