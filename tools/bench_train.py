#!/usr/bin/env python3
"""Training speed, PyTorch vs our engine, on the CIFAR-10 MobileNet v1 (alpha 1), CPU.

What it does
------------
1. Decodes a class-balanced subset of CIFAR-10 training JPEGs into memory once: the first
   LIMIT/10 files (sorted names) of each class folder DATA/train/<class>/*.jpg, LIMIT = --limit
   (default 5120).
2. PyTorch: the network of tools/make_golden.py (`MobileNet`, alpha 1, 10 classes) in train mode,
   channels_last model and input, torch.set_num_threads(T), batch 128, cross-entropy,
   torch.optim.SGD(lr 0.1, momentum 0.9, weight_decay 5e-4). Each step draws the next 128 images of
   a shuffled order and augments them in the loop (zero-pad 4, random 32x32 crop, random
   horizontal flip, per-channel mean/std normalisation), then forward, backward, step. --warmup
   steps are run first and not timed; then --steps timed steps. Reports images/s from the median
   step time and overall (steps * 128 / total time); the step time includes augmentation.
3. Ours: runs
       MOBILENET train --data DATA --variant cifar --alpha 1 --batch-size 128 --optimizer sgd
                       --lr 0.1 --threads T --epochs 1 --max-steps STEPS --limit-train LIMIT
                       --quiet --out TMPDIR
   and reads `images_per_sec` from the last line of TMPDIR/metrics.jsonl (its wall time is shown
   too). If the binary is missing or has no `train` command, prints "mobilenet train not
   available" and reports PyTorch alone.
4. Alternates the two for --rounds rounds (PyTorch first, a fresh model each round) and prints a
   table of images/s per round and the ratio ours / PyTorch (median over rounds), or with
   --json one JSON object on stdout.

Usage
-----
    python3 -m venv .venv && .venv/bin/pip install torch numpy pillow
    mkdir -p /tmp/cifar10 && tar -xzf ../shared/data/cifar10/cifar10-jpeg.tar.gz -C /tmp/cifar10
    cargo build --release -p mobilenet-cli
    .venv/bin/python tools/bench_train.py --data /tmp/cifar10 [--threads 2] [--steps 40]
        [--warmup 5] [--rounds 2] [--limit 5120] [--mobilenet target/release/mobilenet] [--json]

Run it on an otherwise idle machine: both engines use --threads cores, and PyTorch's OpenMP
threads wait for each other at every layer, so a busy core slows it far more than its share (on a
2-core machine shared with compilers, steps went from ~0.4 s to 3.5-7.7 s).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import MobileNet  # noqa: E402  (the same network as the golden fixtures)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BATCH = 128
LR = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


def log(msg, quiet):
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_subset(data, limit):
    """First limit/10 images of each class (sorted file names): uint8 (N, 32, 32, 3), int64 (N,)."""
    train = os.path.join(data, "train")
    classes = sorted(d for d in os.listdir(train) if os.path.isdir(os.path.join(train, d)))
    per_class = limit // len(classes)
    images, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(train, name)
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg")))
        for f in files[:per_class]:
            with Image.open(os.path.join(folder, f)) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
            labels.append(label)
    x = np.stack(images)
    if x.shape[1:] != (32, 32, 3):
        raise SystemExit(f"expected 32x32 RGB images, got {x.shape[1:]}")
    return x, np.array(labels, dtype=np.int64)


def augment(batch_u8, rng):
    """Zero-pad 4, random 32x32 crop, random flip, normalise: float32 NCHW tensor, channels_last."""
    n = batch_u8.shape[0]
    padded = np.zeros((n, 40, 40, 3), dtype=np.uint8)
    padded[:, 4:36, 4:36] = batch_u8
    dy = rng.integers(0, 9, n)
    dx = rng.integers(0, 9, n)
    flip = rng.random(n) < 0.5
    out = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i in range(n):
        crop = padded[i, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = crop[:, ::-1] if flip[i] else crop
    x = (out.astype(np.float32) / 255.0 - MEAN) / STD
    # NHWC memory viewed as NCHW is exactly torch's channels_last layout.
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def bench_pytorch(x_u8, y, steps, warmup, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MobileNet(alpha=1.0).to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    order = rng.permutation(len(x_u8))
    pos = 0
    times = []
    t_start = None
    for step in range(warmup + steps):
        if step == warmup:
            t_start = time.perf_counter()
        t0 = time.perf_counter()
        if pos + BATCH > len(order):
            order, pos = rng.permutation(len(x_u8)), 0
        idx = order[pos:pos + BATCH]
        pos += BATCH
        xb = augment(x_u8[idx], rng).contiguous(memory_format=torch.channels_last)
        yb = torch.from_numpy(y[idx])
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_start
    return {
        "images_per_sec_median": BATCH / statistics.median(times),
        "images_per_sec_overall": steps * BATCH / total,
        "median_step_s": statistics.median(times),
        "last_loss": loss.item(),
    }


def ours_available(binary):
    if not os.path.isfile(binary):
        return False
    try:
        r = subprocess.run([binary, "train", "--help"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def bench_ours(binary, data, threads, steps, limit):
    with tempfile.TemporaryDirectory(prefix="bench_train_") as out:
        cmd = [binary, "train", "--data", data, "--variant", "cifar", "--alpha", "1",
               "--batch-size", str(BATCH), "--optimizer", "sgd", "--lr", str(LR),
               "--threads", str(threads), "--epochs", "1", "--max-steps", str(steps),
               "--limit-train", str(limit), "--quiet", "--out", out]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            return {"error": f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[-500:]}",
                    "command": " ".join(cmd)}
        metrics = os.path.join(out, "metrics.jsonl")
        try:
            with open(metrics) as f:
                lines = [ln for ln in f.read().splitlines() if ln.strip()]
            ips = float(json.loads(lines[-1])["images_per_sec"])
        except (OSError, IndexError, KeyError, ValueError) as e:
            return {"error": f"cannot read images_per_sec from metrics.jsonl: {e}",
                    "command": " ".join(cmd)}
        return {"images_per_sec": ips, "wall_s": wall, "command": " ".join(cmd)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with train/<class>/*.jpg")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--limit", type=int, default=5120, help="training images decoded (class-balanced)")
    ap.add_argument("--mobilenet", default=os.path.join(ROOT, "target", "release", "mobilenet"))
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    quiet = args.json

    torch.set_num_threads(args.threads)
    log(f"decoding {args.limit} images from {args.data} ...", quiet)
    x_u8, y = load_subset(args.data, args.limit)
    have_ours = ours_available(args.mobilenet)
    if not have_ours:
        print("mobilenet train not available", file=sys.stderr if quiet else sys.stdout, flush=True)

    rounds = []
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}: PyTorch {args.warmup}+{args.steps} steps ...", quiet)
        row = {"round": r + 1, "pytorch": bench_pytorch(x_u8, y, args.steps, args.warmup, seed=r)}
        if have_ours:
            log(f"round {r + 1}/{args.rounds}: ours {args.steps} steps ...", quiet)
            row["ours"] = bench_ours(args.mobilenet, args.data, args.threads, args.steps, len(x_u8))
        rounds.append(row)

    pt = [row["pytorch"]["images_per_sec_median"] for row in rounds]
    ours = [row["ours"]["images_per_sec"] for row in rounds
            if "ours" in row and "images_per_sec" in row["ours"]]
    summary = {
        "cpu": cpu_name(),
        "threads": args.threads,
        "torch_version": torch.__version__,
        "batch": BATCH,
        "steps": args.steps,
        "warmup": args.warmup,
        "images": int(len(x_u8)),
        "pytorch_images_per_sec_median": statistics.median(pt),
        "ours_images_per_sec_median": statistics.median(ours) if ours else None,
        "ratio_ours_over_pytorch": statistics.median(ours) / statistics.median(pt) if ours else None,
        "ours_available": have_ours,
        "rounds": rounds,
    }
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"CPU: {summary['cpu']}, {args.threads} threads, torch {torch.__version__}, "
          f"batch {BATCH}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"{len(x_u8)} images")
    print(f"{'round':>5}  {'PyTorch img/s (median step)':>27}  {'PyTorch img/s (overall)':>23}  "
          f"{'ours img/s':>10}  {'ours/PyTorch':>12}")
    for row in rounds:
        p = row["pytorch"]
        o = row.get("ours", {})
        ours_s = f"{o['images_per_sec']:10.1f}" if "images_per_sec" in o else f"{'n/a':>10}"
        ratio = (f"{o['images_per_sec'] / p['images_per_sec_median']:12.2f}"
                 if "images_per_sec" in o else f"{'n/a':>12}")
        print(f"{row['round']:>5}  {p['images_per_sec_median']:27.1f}  "
              f"{p['images_per_sec_overall']:23.1f}  {ours_s}  {ratio}")
        if "error" in o:
            print(f"       ours failed: {o['error']}")
    if ours:
        print(f"median ratio ours/PyTorch: {summary['ratio_ours_over_pytorch']:.2f}")


if __name__ == "__main__":
    main()
