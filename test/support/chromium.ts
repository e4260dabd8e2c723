import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** Debian's Chromium, installed by `scripts/test-env start` (playwright's own downloads do not work here). */
export const chromiumPath = "/usr/bin/chromium";

/** Where browser tests keep their screenshots (git-ignored; CI keeps them as artefacts). */
export const screenshotDir = join(import.meta.dirname, "..", "..", "test-artifacts", "screenshots");

/** A headless Chromium with a fresh profile; close() removes the profile. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Starts Debian's headless Chromium through playwright-core, with a fresh profile and everything
 * that would reach Google (component updates, sync, QUIC probes, background networking) off, so
 * a page test sends nothing beyond loopback. Throws (never skips) when Chromium is missing.
 */
export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(chromiumPath))
    throw new Error(
      `${chromiumPath} is missing: run \`scripts/test-env start\` (as root), which installs Debian's chromium`,
    );
  const profile = mkdtempSync(join(tmpdir(), "cacheon-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Path of a screenshot under {@link screenshotDir}, creating the folder. */
export function screenshotPath(name: string): string {
  mkdirSync(screenshotDir, { recursive: true });
  return join(screenshotDir, name);
}
