#!/usr/bin/env python3
"""GPU-to-GPU copy bandwidth, for cacheon-agent's active hardware check.

Runs inside the pinned baseline image (it carries PyTorch). For every ordered pair of
visible GPUs (or the pairs named with --pairs) it copies a buffer from the source GPU to
the destination GPU and reports the achieved one-way bandwidth in GB/s (1e9 bytes/s).
With a single GPU it measures a device-to-device copy inside that GPU and says so
("mode": "same-device"), since there is no link to test.

It prints exactly one JSON object on stdout and exits 0 when it measured, 2 when it could
not (no PyTorch, no CUDA, bad arguments); the agent parses the JSON and applies the
profile's threshold itself, so this script never decides pass or fail.

Timing: each pair gets warm-up copies, then `--repeats` timed runs of `--iters` copies,
each run bracketed by a synchronisation of both GPUs; the reported figure is the median
run, the spread is reported beside it. Wall-clock timing of synchronised batches is used
instead of CUDA events because a peer copy's stream belongs to one device and events on it
would not cover work queued on the other.
"""

import argparse
import json
import statistics
import sys
import time


def fail(message, code=2):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(code)


def parse_pairs(text, count):
    pairs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        parts = item.split(":")
        if len(parts) != 2:
            fail(f"--pairs item {item!r} is not SRC:DST; write e.g. 0:1,1:0")
        try:
            src, dst = int(parts[0]), int(parts[1])
        except ValueError:
            fail(f"--pairs item {item!r} is not SRC:DST with integer GPU indices")
        if not (0 <= src < count and 0 <= dst < count):
            fail(f"--pairs item {item!r} names a GPU outside 0..{count - 1}")
        pairs.append((src, dst))
    return pairs


def measure(torch, src, dst, nbytes, iters, warmup, repeats):
    numel = nbytes // 4
    a = torch.empty(numel, dtype=torch.float32, device=f"cuda:{src}").fill_(1.0)
    b = torch.empty(numel, dtype=torch.float32, device=f"cuda:{dst}")
    devices = {src, dst}

    def sync():
        for d in devices:
            torch.cuda.synchronize(d)

    for _ in range(warmup):
        b.copy_(a, non_blocking=True)
    sync()
    runs = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(iters):
            b.copy_(a, non_blocking=True)
        sync()
        elapsed = time.perf_counter() - start
        runs.append(numel * 4 * iters / elapsed / 1e9)
    # A copy that silently did nothing would report a huge figure: check the data arrived.
    if src != dst and not bool(torch.equal(b[:1024].cpu(), a[:1024].cpu())):
        fail(f"copy from GPU {src} to GPU {dst} did not deliver the data")
    del a, b
    torch.cuda.empty_cache()
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bytes", type=int, default=1 << 30, help="bytes per copy (default 1 GiB)")
    parser.add_argument("--iters", type=int, default=10, help="copies per timed run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed copies per pair")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per pair")
    parser.add_argument("--pairs", default="", help="SRC:DST,... (default: every ordered pair)")
    args = parser.parse_args()
    if args.bytes < 4096 or args.iters < 1 or args.repeats < 1 or args.warmup < 0:
        fail("--bytes must be >= 4096, --iters and --repeats >= 1, --warmup >= 0")

    try:
        import torch
    except Exception as error:  # noqa: BLE001 - any import failure means no PyTorch here
        fail(f"PyTorch is not importable ({error}); run this inside the baseline image")
    if not torch.cuda.is_available():
        fail("CUDA is not available to PyTorch: no GPU visible to this container")

    count = torch.cuda.device_count()
    names = [torch.cuda.get_device_name(i) for i in range(count)]
    if count == 1:
        pairs = [(0, 0)]
        mode = "same-device"
    else:
        pairs = parse_pairs(args.pairs, count) if args.pairs else [
            (s, d) for s in range(count) for d in range(count) if s != d
        ]
        mode = "peer"

    results = []
    for src, dst in pairs:
        peer = src != dst and bool(torch.cuda.can_device_access_peer(src, dst))
        runs = measure(torch, src, dst, args.bytes, args.iters, args.warmup, args.repeats)
        results.append({
            "src": src,
            "dst": dst,
            "gb_per_s": round(statistics.median(runs), 3),
            "min_gb_per_s": round(min(runs), 3),
            "max_gb_per_s": round(max(runs), 3),
            "peer_access": peer,
        })

    print(json.dumps({
        "ok": True,
        "mode": mode,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "device_count": count,
        "device_names": names,
        "bytes_per_copy": (args.bytes // 4) * 4,
        "iters": args.iters,
        "repeats": args.repeats,
        "pairs": results,
    }))


if __name__ == "__main__":
    main()
