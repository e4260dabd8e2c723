import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { connectToController, enrolWithController } from "./controller-client.ts";

describe("the controller connection refuses plain http off loopback", () => {
  it.each(["http://10.0.0.5:7443", "http://controller.example:7443"])(
    "%s: refused before any byte is sent (the token would travel in clear text)",
    async (url) => {
      expect(() => connectToController({ url })).toThrow(
        /plain http to another machine: what it carries would cross the network in clear text; use https:\/\//,
      );
      await expect(
        enrolWithController({ endpoint: { url }, token: "cpe_x", podId: "p" }),
      ).rejects.toMatchObject({ code: "invalid-config" });
    },
  );

  it("accepts https anywhere and http on loopback", async () => {
    // A listener that counts connections: the refusal above never reached one like it.
    let connections = 0;
    const server = createServer((s) => {
      connections += 1;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      connectToController({ url: `http://127.0.0.1:${port}` }).close();
      connectToController({ url: "https://controller.example:7443" }).close();
      await enrolWithController({
        endpoint: { url: `http://127.0.0.1:${port}` },
        token: "cpe_x",
        podId: "p",
        timeoutMs: 2000,
      }).catch(() => {});
      expect(connections).toBeGreaterThan(0);
    } finally {
      server.close();
    }
  });
});
