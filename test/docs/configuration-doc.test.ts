import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { controllerConfigSchema } from "../../controller/config/controller-config.ts";
import { configurationDoc, configurationDocPath } from "../../scripts/render-config-doc.ts";

describe("docs/configuration.md", () => {
  it("is the reference rendered from the configuration schema (run `node scripts/render-config-doc.ts` when this fails)", () => {
    expect(readFileSync(configurationDocPath, "utf8")).toBe(configurationDoc());
  });

  it("documents every setting", () => {
    const doc = readFileSync(configurationDocPath, "utf8");
    for (const key of Object.keys(controllerConfigSchema)) expect(doc).toContain(`| \`${key}\` |`);
  });
});
