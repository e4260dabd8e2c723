import { once } from "node:events";
import { createServer, request } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A registry on loopback that serves another registry's content slowly; see {@link startSlowRegistry}. */
export interface SlowRegistry {
  /** "127.0.0.1:port": pull `${host}/repo@digest` to get the upstream's image, slowly. */
  host: string;
  /** Blob bytes sent so far. */
  sent(): number;
  close(): Promise<void>;
}

/**
 * A reverse proxy in front of a real registry (plain HTTP on loopback) that passes everything on
 * but sends blob bodies at `bytesPerSecond`, and after `stallAfterBytes` of a blob sends nothing
 * more while keeping the connection open: the slow and the stalled registry a pull must survive.
 */
export async function startSlowRegistry(options: {
  upstream: string;
  bytesPerSecond: number;
  stallAfterBytes?: number;
}): Promise<SlowRegistry> {
  let sent = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const blob = /\/blobs\/sha256:/.test(req.url ?? "");
    const forward = request(
      `http://${options.upstream}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: options.upstream } },
      async (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        if (!blob) return void upstream.pipe(res);
        let sentHere = 0;
        for await (const chunk of upstream as AsyncIterable<Buffer>) {
          for (let at = 0; at < chunk.length; at += 1024) {
            if (res.destroyed) return;
            if (options.stallAfterBytes !== undefined && sentHere >= options.stallAfterBytes) {
              await new Promise(() => {}); // keep the connection, send nothing
            }
            const piece = chunk.subarray(at, at + 1024);
            res.write(piece);
            sentHere += piece.length;
            sent += piece.length;
            await new Promise((resolve) =>
              setTimeout(resolve, (1000 * piece.length) / options.bytesPerSecond),
            );
          }
        }
        res.end();
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent: () => sent,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
