// A small OpenAI-style server that misbehaves on request, for container isolation tests. It runs
// inside a FROM-scratch image with only the Node binary, so it uses nothing but node: built-ins.
// The behaviour comes from HOSTILE_MODE (comma-separated):
//   serve          answer /health and stream one chat completion (default)
//   slow           stream 20 chunks 50 ms apart instead of one
//   ignore-sigterm keep running after SIGTERM (the engine must kill it)
//   flood-log      write log lines as fast as the pipe takes them
//   fork-bomb      spawn child processes without bound
//   never-ready    /health answers 503 forever
//   crash          exit with code 3 after HOSTILE_CRASH_MS (default 300) milliseconds
//   oom            allocate memory until the kernel kills the process
//   probe-egress   try to reach HOSTILE_EGRESS_HOST:PORT and report the result on /egress
//   fill-volume    write 1 MiB blocks to HOSTILE_FILL_DIR (default /data) until a write fails;
//                  /state reports the bytes written and the error
//   huge-body      answer /health and the chat probe with 200 and a body that never ends;
//                  /state reports how many bytes were sent
//   launch-report  /state reports argv, the cache variables and which directories are writable
import { spawn } from "node:child_process";
import { appendFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { connect } from "node:net";

// The mode comes from the environment, or from a --mode= argument baked into an image's command.
const modeArg = process.argv.find((a) => a.startsWith("--mode="))?.slice("--mode=".length);
const modes = new Set((process.env.HOSTILE_MODE || modeArg || "serve").split(","));
const port = Number(process.env.PORT ?? 8000);

if (process.argv[2] === "child") {
  // A fork-bomb child: stays alive and tries to spawn more.
  setInterval(() => {}, 1 << 30);
  forkMore();
} else {
  main();
}

function main(): void {
  const state = {
    egress: "unknown",
    forks: 0,
    forkErrors: 0,
    rootfsWritable: "",
    modelWritable: "",
    tmpWritable: "",
    filled: 0,
    fillError: "",
    bodyBytesSent: 0,
    argv: process.argv.slice(2),
    cacheEnv: {} as Record<string, string>,
    writable: {} as Record<string, string>,
  };
  state.rootfsWritable = tryWrite("/escape-test");
  state.modelWritable = tryWrite("/model/escape-test");
  state.tmpWritable = tryWrite("/tmp/scratch");
  if (modes.has("ignore-sigterm")) {
    process.on("SIGTERM", () => console.log("SIGTERM ignored"));
  }
  if (modes.has("crash")) {
    setTimeout(
      () => {
        console.error("crashing on purpose");
        process.exit(3);
      },
      Number(process.env.HOSTILE_CRASH_MS ?? 300),
    );
  }
  if (modes.has("flood-log")) {
    const line = `${"flood ".repeat(170)}\n`;
    const pump = () => {
      while (process.stdout.write(line)) {}
      process.stdout.once("drain", pump);
    };
    pump();
  }
  if (modes.has("fork-bomb")) {
    forkMore((ok) => {
      if (ok) state.forks += 1;
      else state.forkErrors += 1;
    });
  }
  if (modes.has("oom")) {
    const hog: Buffer[] = [];
    setInterval(() => {
      for (let i = 0; i < 16; i++) hog.push(Buffer.alloc(4 << 20, 1));
    }, 10);
  }
  if (modes.has("fill-volume")) {
    const file = `${process.env.HOSTILE_FILL_DIR ?? "/data"}/flood.bin`;
    const block = Buffer.alloc(1 << 20, 7);
    const fill = () => {
      try {
        for (let i = 0; i < 16; i++) {
          appendFileSync(file, block);
          state.filled += block.length;
        }
        setImmediate(fill);
      } catch (error) {
        state.fillError = (error as NodeJS.ErrnoException).code ?? String(error);
      }
    };
    fill();
  }
  if (modes.has("launch-report")) {
    for (const name of ["HOME", "XDG_CACHE_HOME", "TRITON_CACHE_DIR", "VLLM_CACHE_ROOT"]) {
      const dir = process.env[name];
      if (dir === undefined) continue;
      state.cacheEnv[name] = dir;
      state.writable[dir] = tryWrite(`${dir}/probe`);
    }
    state.writable["/"] = tryWrite("/probe");
    state.writable["/tmp"] = tryWrite("/tmp/probe");
  }
  if (modes.has("probe-egress")) {
    const host = process.env.HOSTILE_EGRESS_HOST ?? "1.1.1.1";
    const target = Number(process.env.HOSTILE_EGRESS_PORT ?? 80);
    const socket = connect({ host, port: target, timeout: 3000 });
    socket.on("connect", () => {
      state.egress = "connected";
      socket.destroy();
    });
    socket.on("timeout", () => {
      state.egress = "timeout";
      socket.destroy();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      state.egress = `error ${error.code}`;
    });
  }

  const endless = (res: import("node:http").ServerResponse) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = Buffer.alloc(64 * 1024, 120);
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) state.bodyBytesSent += chunk.length;
      if (!res.destroyed) res.once("drain", pump);
    };
    res.on("close", () => res.removeAllListeners("drain"));
    pump();
  };
  const server = createServer((req, res) => {
    if (modes.has("huge-body") && (req.url === "/health" || req.url === "/v1/chat/completions")) {
      req.resume();
      endless(res);
      return;
    }
    if (req.url === "/health") {
      res.writeHead(modes.has("never-ready") ? 503 : 200).end();
      return;
    }
    if (req.url === "/state" || req.url === "/egress") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state));
      return;
    }
    if (req.url === "/v1/chat/completions" && req.method === "POST") {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        const chunk = (last: boolean) => ({
          id: "hostile",
          object: "chat.completion.chunk",
          model: "hostile",
          choices: [{ index: 0, delta: { content: "ok " }, finish_reason: last ? "stop" : null }],
        });
        // "slow": 20 chunks 50 ms apart, a stand-in for a server that takes time to generate.
        const chunks = modes.has("slow") ? 20 : 1;
        let sent = 0;
        const next = () => {
          sent += 1;
          res.write(`data: ${JSON.stringify(chunk(sent === chunks))}\n\n`);
          if (sent < chunks) setTimeout(next, 50);
          else res.end("data: [DONE]\n\n");
        };
        next();
      });
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(port, "0.0.0.0", () =>
    console.log(`hostile server on ${port}, modes ${[...modes].join(",")}`),
  );
}

function forkMore(report?: (ok: boolean) => void): void {
  const tick = () => {
    try {
      const child = spawn(process.execPath, [process.argv[1] ?? "", "child"], { stdio: "ignore" });
      child.on("error", () => report?.(false));
      child.on("spawn", () => report?.(true));
    } catch {
      report?.(false);
    }
  };
  setInterval(tick, 20);
}

function tryWrite(path: string): string {
  try {
    writeFileSync(path, "x");
    return "yes";
  } catch (error) {
    return `no: ${(error as NodeJS.ErrnoException).code}`;
  }
}
