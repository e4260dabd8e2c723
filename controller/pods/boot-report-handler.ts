import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { Fleet } from "./fleet.ts";

/** Options of {@link createBootReportHandler}. */
export interface BootReportHandlerOptions {
  /** The fleet the pods belong to. */
  fleet: Pick<Fleet, "checkToken" | "bootFailed">;
  /** Largest accepted body, bytes. @default 65536 */
  maxBodyBytes?: number;
  /** @default silentLogger */
  logger?: Logger;
}

/**
 * A Node HTTP or HTTP/2 (compatibility API) handler that returns false for requests it does not
 * own, so it can sit in front of other handlers (e.g. as connectNodeAdapter's `fallback`).
 */
export type BootReportHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => boolean;

const route = /^\/v1\/pods\/([a-z0-9][a-z0-9-]{0,62})\/boot-failure$/;

/**
 * Serves `POST /v1/pods/<podId>/boot-failure`, where a pod's cloud-init reports the step that
 * failed. Authenticated with the pod's own enrolment token (`authorization: Bearer <token>`);
 * body `{"stage": string, "message": string, "log"?: string}`. The fleet fails and returns the pod
 * and notes its host. Answers 204 done, 400 bad body, 401 bad token, 404 unknown pod,
 * 405 wrong method, 413 body too large.
 */
export function createBootReportHandler(options: BootReportHandlerOptions): BootReportHandler {
  const maxBody = options.maxBodyBytes ?? 65_536;
  const logger = options.logger ?? silentLogger;
  return (req, res) => {
    const match = route.exec(new URL(req.url ?? "/", "http://x").pathname);
    if (!match?.[1]) return false;
    const podId = match[1];
    // The two response types share these members but not their overloads; one narrow view serves both.
    const out = res as unknown as {
      headersSent: boolean;
      writeHead(status: number, headers: Record<string, string>): void;
      end(body?: string): void;
    };
    const reply = (status: number, error?: string) => {
      if (out.headersSent) return;
      out.writeHead(status, error ? { "content-type": "application/json" } : {});
      out.end(error ? JSON.stringify({ error }) : undefined);
    };
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      reply(405, "use POST");
      return true;
    }
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!token || !options.fleet.checkToken(podId, token)) {
      // One answer for unknown pods and bad tokens, so the endpoint does not reveal which pods exist.
      reply(401, "unknown pod or wrong enrolment token");
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) {
        reply(413, `body over ${maxBody} bytes`);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => {
      let body: { stage?: unknown; message?: unknown; log?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        reply(400, "body must be JSON: {stage, message, log?}");
        return;
      }
      if (typeof body?.stage !== "string" || !body.stage || typeof body.message !== "string") {
        reply(400, 'body needs "stage" (non-empty string) and "message" (string)');
        return;
      }
      const stage = body.stage.slice(0, 64);
      logger.warn("pod reported a boot failure", {
        podId,
        stage,
        message: body.message.slice(0, 4000),
        log: typeof body.log === "string" ? body.log.slice(-4000) : "",
      });
      options.fleet.bootFailed(podId, stage, body.message.slice(0, 4000)).then(
        () => reply(204),
        (error: unknown) => {
          logger.error("could not record a boot failure", { podId, error });
          reply(500, "could not record the failure");
        },
      );
    });
    return true;
  };
}
