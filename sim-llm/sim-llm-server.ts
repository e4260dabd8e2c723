import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CacheonError } from "../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../shared/log/logger.ts";
import { applyQwenChatTemplate } from "../shared/tokenizer/qwen-chat-template.ts";
import { parseMessages } from "./chat-template.ts";
import { type GenerateContext, runGenerate } from "./generate-handler.ts";
import { Generation } from "./generation.ts";
import {
  asBody,
  checkModel,
  maxModelLen,
  optBool,
  parseGenerateRequest,
  promptIdsOf,
} from "./openai-request.ts";
import { chatLogprobEntry, errorBody } from "./openai-response.ts";
import { ServingEngine, type ServingTiming } from "./serving-engine.ts";
import { benchmarkSpeedup, replaySpeedup, type SimLlmMode, wrongModelSalt } from "./sim-llm-mode.ts";
import { SimModel } from "./sim-model.ts";
import { decode, encode, isTokenId } from "./tokenizer.ts";

/** Options of {@link startSimLlm}. */
export interface SimLlmOptions {
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** Address to listen on. @default "127.0.0.1" */
  host?: string;
  /** Served model name (what /v1/models lists and requests must name). @default "Qwen/Qwen2.5-72B-Instruct" */
  model?: string;
  /** Speed factor: 1.05 serves 5% faster than the baseline's timing. @default 1 */
  speed?: number;
  /** Relative standard deviation of timing noise (per run and per step). @default 0 */
  jitter?: number;
  /** Standard deviation (nats) of seeded logit noise, as different GPU kernels give. @default 0 */
  numericNoise?: number;
  /** Seed of the numeric noise. @default a random seed per server (per process, like a GPU run) */
  noiseSeed?: number;
  /** Behaviour. @default "honest" */
  mode?: SimLlmMode;
  /** Time from binding the port to /health turning 200 ("loading the model"), in ms. @default 0 */
  readyDelayMs?: number;
  /** With mode "crash-after": requests served before the server dies. @default 3 */
  crashAfterRequests?: number;
  /** Step costs of the serving-speed model; missing fields take the defaults. @default defaultServingTiming */
  timing?: Partial<ServingTiming>;
  /** With mode "slow-drip": pause between bytes, in ms. @default 2 */
  dripMs?: number;
  /**
   * Called when mode "crash-after" crashes, after every socket is dropped. A process exits here.
   * @default nothing (the server just stops listening)
   */
  onCrash?: () => void;
  /** Where the server logs. @default silentLogger */
  logger?: Logger;
  /** Closes the server when aborted (as `close()` does). */
  signal?: AbortSignal;
}

/** A started sim server. */
export interface RunningSimLlm {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  url: string;
  port: number;
  /** Stops listening, ends every connection and timer. */
  close(): Promise<void>;
}

/** What GET /version answers (vLLM answers its own version there). */
export const simLlmVersion = "cacheon-sim-llm-0.1.0";
/** The default served model name. */
export const defaultModelName = "Qwen/Qwen2.5-72B-Instruct";
const maxBodyBytes = 16 * 1024 * 1024;

/**
 * Starts the deterministic reference LLM server. The port is bound first; /health answers 503 until
 * `readyDelayMs` has passed (never with mode "never-ready"), as vLLM does while it loads a model.
 */
export async function startSimLlm(options: SimLlmOptions = {}): Promise<RunningSimLlm> {
  const modelName = options.model ?? defaultModelName;
  const mode = options.mode ?? "honest";
  const logger = options.logger ?? silentLogger;
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new CacheonError("invalid-config", `speed must be above 0, got ${speed}`);
  const noise = options.numericNoise ?? 0;
  const noiseSeed = options.noiseSeed ?? Math.floor(Math.random() * 2 ** 32);
  const engineOptions = { timing: options.timing ?? {}, jitter: options.jitter ?? 0 };
  const ctx: GenerateContext = {
    modelName,
    mode,
    model: new SimModel({ numericNoise: noise, noiseSeed }),
    wrongModel: new SimModel({ salt: wrongModelSalt, numericNoise: noise, noiseSeed }),
    engine: new ServingEngine({ ...engineOptions, speed }),
    fastEngine: new ServingEngine({ ...engineOptions, speed: speed * benchmarkSpeedup }),
    replayEngine: new ServingEngine({ ...engineOptions, speed: speed * replaySpeedup }),
    replays: new Set(),
    cache: new Map(),
    timers: new Set(),
    dripMs: options.dripMs ?? 2,
  };
  warmUp(ctx.model);
  const crashAfter = options.crashAfterRequests ?? 3;
  let ready = false;
  let crashed = false;
  let served = 0;
  const startedAt = Date.now();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const err = CacheonError.from(error);
      logger.warn("request failed", { path: req.url, error: err });
      sendError(res, statusOf(err), err.message);
    });
  });
  server.keepAliveTimeout = 65_000;

  const crash = () => {
    if (crashed) return;
    crashed = true;
    logger.error("crash-after: crashing on purpose", { served });
    server.close();
    server.closeAllConnections();
    closeEverything();
    options.onCrash?.();
  };
  const closeEverything = () => {
    ctx.engine.close();
    ctx.fastEngine.close();
    ctx.replayEngine.close();
    for (const t of ctx.timers) clearTimeout(t);
    ctx.timers.clear();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const method = req.method ?? "GET";
    const route = routes[path];
    if (!route)
      return sendError(
        res,
        404,
        `no route ${method} ${path}; this server serves ${Object.keys(routes).join(", ")}`,
      );
    if (route.method !== method) {
      res.setHeader("allow", route.method);
      return sendError(res, 405, `${method} ${path} is not allowed; use ${route.method}`);
    }
    if (route.needsReady && !ready) {
      return sendError(res, 503, "the model is still loading; poll GET /health until it answers 200");
    }
    const body = route.method === "POST" ? asBody(await readJson(req)) : {};
    await route.run(body, req, res);
  }

  type Body = Record<string, unknown>;
  const generate =
    (kind: "chat" | "completion") => async (body: Body, _req: IncomingMessage, res: ServerResponse) => {
      checkModel(body, modelName);
      const request = parseGenerateRequest(body, kind);
      served += 1;
      if (mode === "crash-after" && served > crashAfter) {
        crash();
        return;
      }
      runGenerate(ctx, request, `${kind}:${canonicalJson(body)}`, res);
    };

  const routes: Record<
    string,
    {
      method: "GET" | "POST";
      needsReady: boolean;
      run: (body: Body, req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
    }
  > = {
    "/health": {
      method: "GET",
      needsReady: false,
      run: (_b, _r, res) => {
        if (ready) {
          res.writeHead(200);
          res.end();
        } else
          sendError(
            res,
            503,
            mode === "never-ready" ? "the model never finishes loading" : "the model is still loading",
          );
      },
    },
    "/version": {
      method: "GET",
      needsReady: false,
      run: (_b, _r, res) => sendJson(res, 200, { version: simLlmVersion }),
    },
    "/v1/models": {
      method: "GET",
      needsReady: false,
      run: (_b, _r, res) =>
        sendJson(res, 200, {
          object: "list",
          data: [
            {
              id: modelName,
              object: "model",
              created: Math.floor(startedAt / 1000),
              owned_by: "vllm",
              root: modelName,
              parent: null,
              max_model_len: maxModelLen,
            },
          ],
        }),
    },
    "/v1/chat/completions": { method: "POST", needsReady: true, run: generate("chat") },
    "/v1/completions": { method: "POST", needsReady: true, run: generate("completion") },
    "/tokenize": {
      method: "POST",
      needsReady: true,
      run: (body, _r, res) => {
        checkModel(body, modelName);
        let tokens: number[];
        if (body.messages !== undefined) {
          const add = optBool(body, "add_generation_prompt") ?? true;
          tokens = encode(applyQwenChatTemplate(parseMessages(body.messages), { addGenerationPrompt: add }));
        } else if (body.prompt !== undefined) {
          if (typeof body.prompt !== "string")
            throw new CacheonError("invalid-argument", "prompt: must be a string");
          tokens = body.prompt === "" ? [] : promptIdsOf(body, "completion");
        } else {
          throw new CacheonError(
            "invalid-argument",
            "send either prompt (a string) or messages (a chat) to tokenize",
          );
        }
        const strs = optBool(body, "return_token_strs") ?? false;
        sendJson(res, 200, {
          count: tokens.length,
          max_model_len: maxModelLen,
          tokens,
          ...(strs ? { token_strs: tokens.map((t) => decode([t])) } : {}),
        });
      },
    },
    "/detokenize": {
      method: "POST",
      needsReady: true,
      run: (body, _r, res) => {
        checkModel(body, modelName);
        const tokens = body.tokens;
        if (!Array.isArray(tokens))
          throw new CacheonError("invalid-argument", "tokens: must be a list of token ids");
        const bad = tokens.findIndex((t) => !isTokenId(t));
        if (bad >= 0) {
          throw new CacheonError(
            "invalid-argument",
            `tokens[${bad}]: ${JSON.stringify(tokens[bad])} is not a token id of this model`,
          );
        }
        sendJson(res, 200, { prompt: decode(tokens as number[]) });
      },
    },
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        new CacheonError(
          "unavailable",
          `cannot listen on ${options.host ?? "127.0.0.1"}:${options.port ?? 0}: ${error.message}`,
        ),
      ),
    );
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  let readyTimer: NodeJS.Timeout | undefined;
  if (mode !== "never-ready") {
    const delay = options.readyDelayMs ?? 0;
    if (delay > 0) readyTimer = setTimeout(() => (ready = true), delay);
    else ready = true;
  }
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? "127.0.0.1";
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  logger.info("sim-llm listening", { port, mode, speed, model: modelName });
  const close = async () => {
    if (readyTimer) clearTimeout(readyTimer);
    closeEverything();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };
  if (options.signal?.aborted) await close();
  else options.signal?.addEventListener("abort", () => void close(), { once: true });
  return { url: `http://${urlHost}:${port}`, port, close };
}

/**
 * Runs one short greedy generation before the port opens, so the first request a client times does
 * not pay for the tokenizer's and the model's first use (a real server warms up before /health).
 */
function warmUp(model: SimModel): void {
  const prompt = encode(applyQwenChatTemplate([{ role: "user", content: "Warm up." }]));
  const generation = new Generation(model, model.run(prompt), {
    maxTokens: 32,
    temperature: 0,
    stop: [],
    ignoreEos: true,
    minTokens: 0,
    topLogprobs: 5,
  });
  for (let t = generation.next(); t; t = generation.next()) chatLogprobEntry(t, true);
}

function statusOf(err: CacheonError): number {
  switch (err.code) {
    case "invalid-argument":
      return 400;
    case "not-found":
      return 404;
    case "resource-exhausted":
      return 413;
    case "unavailable":
      return 503;
    default:
      return 500;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, errorBody(status, message));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) {
      throw new CacheonError(
        "resource-exhausted",
        `the request body is larger than ${maxBodyBytes} bytes; send a smaller request`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CacheonError(
      "invalid-argument",
      `the request body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

/** JSON with sorted keys, so equal requests give equal cache keys. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
