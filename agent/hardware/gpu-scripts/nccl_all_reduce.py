#!/usr/bin/env python3
"""NCCL all-reduce bus bandwidth across every visible GPU, for cacheon-agent's active check.

Starts one worker process per GPU (torch.distributed with the NCCL backend, a file
rendezvous in a private temporary folder: no network port), checks that one all-reduce
delivers the right sum on every rank, then times in-place float32 all-reduces of each
--sizes entry and reports the bus bandwidth the way nccl-tests does:
algbw = bytes / time, busbw = algbw * 2 * (n - 1) / n, in GB/s (1e9 bytes/s). The figure
of a size is the median of --repeats timed runs of --iters all-reduces, each run timed
with CUDA events on every rank and taken from the slowest rank.

NVLink multicast (NVLS) is forced off in the workers (NCCL_NVLS_ENABLE=0, and PyTorch's and
NVSHMEM's multicast switches): on shared hosts a program that uses it can put the GPUs out
of service, and the figures it is compared with were measured without it.

It prints exactly one JSON object on stdout and exits 0 when it measured, 2 when it could
not (no PyTorch, fewer than two GPUs, a worker failed or timed out, a wrong sum); the agent
parses the JSON and applies the profile's threshold itself, so this script never decides
pass or fail.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Smallest start value of the timed sums: well above float32's least normal (1.2e-38).
START = 1e-36

NO_MULTICAST = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}


def fail(message, code=2):
    print(json.dumps({"ok": False, "error": message}))
    sys.stdout.flush()
    sys.exit(code)


def parse_sizes(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        fail(f"--sizes {text!r} is not a comma-separated list of byte counts")
    if not sizes or any(s < 4096 for s in sizes):
        fail("--sizes needs at least one size, each >= 4096 bytes")
    return sizes


def worker(args):
    import torch
    import torch.distributed as dist

    rank, world = args.rank, args.world
    device = torch.device("cuda", rank)
    torch.cuda.set_device(device)
    init = {"backend": "nccl", "init_method": f"file://{args.rendezvous}", "rank": rank,
            "world_size": world}
    try:
        dist.init_process_group(**init, device_id=device)
    except TypeError:  # PyTorch before 2.3 has no device_id
        dist.init_process_group(**init)

    # Correctness first: rank r contributes r + 1, so every element must be n(n+1)/2.
    probe = torch.full((1 << 20,), float(rank + 1), dtype=torch.float32, device=device)
    dist.all_reduce(probe)
    expected = world * (world + 1) / 2
    correct = bool(torch.all(probe == expected).item())
    del probe

    results = []
    for size in args.sizes:
        numel = size // 4
        # Tiny non-zero values (never time on zeros): each in-place sum multiplies them by about
        # n, so they are refilled before every run and stay finite and normal through it.
        x = torch.empty((numel,), dtype=torch.float32, device=device)
        x.fill_(START)
        for _ in range(args.warmup):
            dist.all_reduce(x)
        runs = []
        for _ in range(args.repeats):
            x.fill_((rank + 1) * START)
            torch.cuda.synchronize(device)
            dist.barrier()
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(args.iters):
                dist.all_reduce(x)
            end.record()
            end.synchronize()
            seconds = torch.tensor([start.elapsed_time(end) / 1000.0 / args.iters],
                                   dtype=torch.float64, device=device)
            dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
            runs.append(float(seconds.item()))
        finite = bool(torch.isfinite(x[:1024]).all().item())
        del x
        torch.cuda.empty_cache()
        seconds = statistics.median(runs)
        factor = 2 * (world - 1) / world
        bus = [numel * 4 / s / 1e9 * factor for s in runs]
        results.append({
            "bytes": numel * 4,
            "time_us": round(seconds * 1e6, 1),
            "alg_gb_per_s": round(numel * 4 / seconds / 1e9, 3),
            "bus_gb_per_s": round(numel * 4 / seconds / 1e9 * factor, 3),
            "min_bus_gb_per_s": round(min(bus), 3),
            "max_bus_gb_per_s": round(max(bus), 3),
            "finite": finite,
        })
    try:
        raw = torch.cuda.nccl.version()
        version = ".".join(str(v) for v in raw) if isinstance(raw, tuple) else str(raw)
    except Exception:  # noqa: BLE001 - the version is informative only
        version = ""
    dist.destroy_process_group()
    if rank == 0:
        print(json.dumps({
            "correct": correct,
            "device_names": [torch.cuda.get_device_name(i) for i in range(world)],
            "sizes": results,
            "nccl_version": version,
            "torch_version": torch.__version__,
            "cuda_version": torch.version.cuda,
        }))
    sys.stdout.flush()


def coordinator(args):
    try:
        import torch
    except Exception as error:  # noqa: BLE001 - any import failure means no PyTorch here
        fail(f"PyTorch is not importable ({error}); run this inside the baseline image")
    if not torch.cuda.is_available():
        fail("CUDA is not available to PyTorch: no GPU visible to this process")
    if not torch.distributed.is_available() or not torch.distributed.is_nccl_available():
        fail("this PyTorch has no NCCL backend: use the baseline image's PyTorch")
    # Only counts devices here: the workers are fresh processes, and this one holds no context.
    world = torch.cuda.device_count()
    if world < 2:
        fail(f"an all-reduce needs at least 2 GPUs, {world} visible")
    if (args.iters + 1) * math.log10(world) > 70:
        fail(f"--iters {args.iters} would overflow float32 sums across {world} GPUs: use fewer")

    folder = tempfile.mkdtemp(prefix="cacheon-allreduce-")
    env = {**os.environ, **NO_MULTICAST, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    workers = []
    try:
        for rank in range(world):
            command = [sys.executable, os.path.abspath(__file__), "--worker", "--rank", str(rank),
                       "--world", str(world), "--rendezvous", os.path.join(folder, "rendezvous"),
                       "--sizes", ",".join(str(s) for s in args.sizes), "--iters", str(args.iters),
                       "--warmup", str(args.warmup), "--repeats", str(args.repeats)]
            # Files, not pipes: a worker blocked on a full pipe would stall every rank's collective.
            out = open(os.path.join(folder, f"out.{rank}"), "w")
            err = open(os.path.join(folder, f"err.{rank}"), "w")
            workers.append(subprocess.Popen(command, env=env, stdout=out, stderr=err))
            out.close()
            err.close()
        # Poll them all: one failed worker leaves the others waiting in a collective forever.
        deadline = started + args.timeout_s
        while any(process.poll() is None for process in workers):
            for rank, process in enumerate(workers):
                if process.returncode not in (None, 0):
                    with open(os.path.join(folder, f"err.{rank}")) as f:
                        last = (f.read().strip().splitlines() or ["no output"])[-1][:300]
                    fail(f"worker {rank} exited with {process.returncode}: {last}")
            if time.monotonic() > deadline:
                fail(f"the workers did not finish within {args.timeout_s} s: NCCL may be hung "
                     "(a degraded link or a GPU another process holds)")
            time.sleep(0.1)
        outputs = []
        for rank, process in enumerate(workers):
            if process.returncode != 0:
                with open(os.path.join(folder, f"err.{rank}")) as f:
                    last = (f.read().strip().splitlines() or ["no output"])[-1][:300]
                fail(f"worker {rank} exited with {process.returncode}: {last}")
            with open(os.path.join(folder, f"out.{rank}")) as f:
                outputs.append(f.read())
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)
    try:
        result = json.loads(outputs[0].strip().splitlines()[-1])
    except (IndexError, ValueError):
        fail("worker 0 printed no result")
    if not result["correct"]:
        fail(f"an all-reduce across {world} GPUs returned a wrong sum: the GPUs or their links are faulty")
    if not all(s["finite"] for s in result["sizes"]):
        fail("a timed all-reduce produced non-finite values: the GPUs or their links are faulty")
    print(json.dumps({
        "ok": True,
        "world_size": world,
        "device_names": result["device_names"],
        "nccl_version": result["nccl_version"],
        "torch_version": result["torch_version"],
        "cuda_version": result["cuda_version"],
        "nvls_enable": NO_MULTICAST["NCCL_NVLS_ENABLE"],
        "iters": args.iters,
        "repeats": args.repeats,
        "sizes": [{k: v for k, v in s.items() if k != "finite"} for s in result["sizes"]],
        "seconds": round(time.monotonic() - started, 3),
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=f"{64 << 20},{256 << 20},{1 << 30}",
                        help="bytes per all-reduce, comma-separated (default 64 MiB, 256 MiB, 1 GiB)")
    parser.add_argument("--iters", type=int, default=20, help="all-reduces per timed run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed all-reduces per size")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size")
    parser.add_argument("--timeout-s", type=float, default=240.0, help="give up on the workers after this")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--world", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rendezvous", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.sizes = parse_sizes(args.sizes)
    if args.iters < 1 or args.repeats < 1 or args.warmup < 0 or args.timeout_s <= 0:
        fail("--iters and --repeats must be >= 1, --warmup >= 0, --timeout-s > 0")
    if args.worker:
        os.environ.update(NO_MULTICAST)
        worker(args)
    else:
        coordinator(args)


if __name__ == "__main__":
    main()
