"""Peak memory of streaming a folder of images vs its size (issue 17, benchmark 6(c)).

A synthetic folder of 32×32 RGB PNG images in 10 class folders grows to each size of
``--sizes``; for each size a fresh process opens it with ``open_dataset("folder")`` and
iterates it batch by batch through ``data_loader`` (what a streaming consumer does), and
reports its peak resident memory (``resource.getrusage``, ``ru_maxrss``). For contrast,
up to ``--collect-max`` images, another process loads the folder whole with
``load_dataset("folder")`` (one float32 tensor, what a command that materializes its data
holds). Streaming memory must stay flat; the whole-tensor load grows by 12 KB per image.

Usage:
    python benchmarks/bench_data_memory.py --out benchmarks/data_memory.json

Needs no data: the images are generated into a temporary folder (about 3 KB each) that
is deleted at the end. About 4 minutes on 2 CPU cores with the defaults; the largest
whole-tensor load holds about 0.6 GB.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CLASSES = 10
SIDE = 32


def _pngs(count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct random 32×32 RGB images, PNG-encoded."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        buffer = io.BytesIO()
        pixels = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def _grow(root: Path, have: int, want: int, images: list[bytes]) -> None:
    """Add images ``have..want-1`` to ``root/<class>/``."""
    for i in range(have, want):
        folder = root / f"class{i % CLASSES}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i:06d}.png").write_bytes(images[i % len(images)])


def _peak_mb() -> float:
    """Peak resident memory of this process (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(root: Path, mode: str, batch_size: int, workers: int) -> dict[str, Any]:
    """One process's work on ``root``: ``baseline``, ``stream`` or ``collect``."""
    import torch

    from advkit.data import data_loader, load_dataset, open_dataset

    torch.set_num_threads(1)
    start = time.perf_counter()
    n, total = 0, 0.0
    if mode == "stream":
        dataset = open_dataset("folder", data_dir=root)
        for x, _ in data_loader(dataset, batch_size, num_workers=workers):
            n += len(x)
            total += float(x.sum())
    elif mode == "collect":
        x, _ = load_dataset("folder", data_dir=root)
        n, total = len(x), float(x.sum())
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "mode": mode,
        "images": n,
        "peak_rss_mb": round(_peak_mb(), 1),
        "peak_rss_workers_mb": round(children, 1),
        "seconds": round(time.perf_counter() - start, 2),
        "pixel_sum": total,
    }


def _run(root: Path, mode: str, args: argparse.Namespace, workers: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", str(root), "--mode", mode]
    command += ["--batch-size", str(args.batch_size), "--workers", str(workers)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    row["workers"] = workers
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000,25000,50000")
    parser.add_argument("--collect-max", type=int, default=50000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/data_memory.json")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="stream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.mode, args.batch_size, args.workers)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="advkit-data-memory-"))
    rows = [{"size": 0, **_run(root, "baseline", args, 0)}]
    print(f"baseline (python, torch, advkit.data): {rows[0]['peak_rss_mb']} MB", flush=True)
    try:
        images, have = _pngs(97), 0
        for size in sizes:
            started = time.perf_counter()
            _grow(root, have, size, images)
            have = size
            generated = time.perf_counter() - started
            modes = ["stream"] + (["collect"] if size <= args.collect_max else [])
            for mode in modes:
                row = {"size": size, "generate_s": round(generated, 1)}
                row.update(_run(root, mode, args, args.workers if mode == "stream" else 0))
                rows.append(row)
                print(
                    f"{size:6d} images  {mode:8s} peak RSS {row['peak_rss_mb']:7.1f} MB "
                    f"(workers {row['peak_rss_workers_mb']:.1f} MB)  {row['seconds']:.1f} s",
                    flush=True,
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    meta = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python "
        f"{platform.python_version()}",
        "image": f"{SIDE}x{SIDE} RGB PNG, {CLASSES} class folders",
        "batch_size": args.batch_size,
    }
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
