#!/usr/bin/env python3
"""A streaming chat-completions client built the way vLLM's and SGLang's benchmark clients are.

One aiohttp session, `async for` over the response's lines, `time.perf_counter()` taken when a
line is read, `json.loads` of every chunk, TTFT at the first chunk with content, closed loop at a
fixed concurrency. bench/bench-client-ceiling.ts runs it (with Debian's python3-aiohttp) beside the
project's client on the same core against the same server and compares chunks per second.

Given its best chance: keep-alive with no connection limit (vLLM's older client opened a session
per request), a 10 MiB read buffer as vLLM's newer client sets, and the role-only first chunk not
counted as the first token (the pitfall REFERENCE.md names), so TTFT means what ours means.

    python3 bench/aiohttp-stream-client.py --url http://127.0.0.1:8000 --concurrency 64 \
        --requests 128 --warmup 16 --model m --max-tokens 128

Prints one JSON line: {"wallS", "chunks", "ttftP50", "ttftP99", "cpuS", "sysS"} (cpuS: this
process's CPU time in the timed window, sysS the kernel's part of it).
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

import aiohttp


async def one(session, url, payload):
    """One streamed request: returns (ttft seconds, content chunks)."""
    start = time.perf_counter()
    ttft = 0.0
    chunks = 0
    text = ""
    async with session.post(url, json=payload) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {(await response.text())[:200]}")
        async for line in response.content:
            line = line.strip()
            if not line:
                continue
            chunk = line.decode("utf-8").removeprefix("data: ")
            if chunk == "[DONE]":
                break
            timestamp = time.perf_counter()
            data = json.loads(chunk)
            choices = data.get("choices")
            if choices:
                content = choices[0]["delta"].get("content")
                if content:
                    if ttft == 0.0:
                        ttft = timestamp - start
                    chunks += 1
                    text += content
    return ttft, chunks


async def closed_loop(session, url, payload, concurrency, count, out):
    next_index = 0

    async def worker():
        nonlocal next_index
        while next_index < count:
            next_index += 1
            out.append(await one(session, url, payload))

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--model", default="ceiling")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--top-logprobs", type=int, default=5)
    args = parser.parse_args()
    url = args.url.rstrip("/") + "/v1/chat/completions"
    payload = {
        "model": args.model,
        "messages": [{"role": "user", "content": "Say something."}],
        "max_tokens": args.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "logprobs": True,
        "top_logprobs": args.top_logprobs,
    }
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=6 * 60 * 60)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, read_bufsize=10 * 1024**2
    ) as session:
        await closed_loop(session, url, payload, args.concurrency, args.warmup, [])
        results = []
        before = os.times()
        start = time.perf_counter()
        await closed_loop(session, url, payload, args.concurrency, args.requests, results)
        wall = time.perf_counter() - start
        after = os.times()
    ttfts = sorted(r[0] * 1000 for r in results)
    print(
        json.dumps(
            {
                "wallS": wall,
                "chunks": sum(r[1] for r in results),
                "ttftP50": statistics.median(ttfts),
                "ttftP99": percentile(ttfts, 99),
                "cpuS": (after.user - before.user) + (after.system - before.system),
                "sysS": after.system - before.system,
            }
        )
    )


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except RuntimeError as error:
        print(f"aiohttp-stream-client: {error}", file=sys.stderr)
        sys.exit(1)
