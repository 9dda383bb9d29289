#!/usr/bin/env python3
"""Our engine vs ONNX Runtime on MobileNet v1 alpha 1.0 / 224, batch 1, float32, same machine, same run.

What it does
------------
Alternates, for several rounds, a timed block of ONNX Runtime (the graph that
tools/bench_onnxruntime.py builds: same shapes, TF-SAME pads, BN folded, ReLU6)
and a timed block of `mobilenet bench --json` (our built-in model, same code
path as `predict`), at 1 and at 2 threads. Interleaving the two spreads any
load from other processes over both. For each setting it reports the best
(min) and the median of the per-round medians, and the ratio ours / ORT.

Usage
-----
    cargo build --release -p mobilenet-cli
    .venv/bin/pip install onnx onnxruntime numpy
    .venv/bin/python tools/compare_peers.py                # table
    .venv/bin/python tools/compare_peers.py --json         # one JSON object
    .venv/bin/python tools/compare_peers.py --rounds 5 --runs 300 --threads 1,2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_onnxruntime as ortb  # noqa: E402


def ours(binary, threads, runs):
    out = subprocess.run(
        [binary, "bench", "--json", "--threads", str(threads), "--iters", str(runs), "--max-seconds", "5"],
        check=True, capture_output=True, text=True).stdout
    v = json.loads(out)
    return {"min_ms": v["min_ms"], "median_ms": v["median_ms"], "isa": v["isa"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "mobilenet"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    model, _macs = ortb.build_mobilenet_v1()
    feed = {"input": np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    sessions = {t: ortb.make_session(model, t) for t in threads}
    res = {t: {"ours": [], "ort": []} for t in threads}
    isa = None
    for r in range(a.rounds):
        for t in threads:
            res[t]["ort"].append(ortb.time_session(sessions[t], feed, 20, a.runs, 5.0))
            o = ours(a.binary, t, a.runs)
            isa = o["isa"]
            res[t]["ours"].append(o)
            print(f"round {r + 1} threads {t}: ours median {o['median_ms']:.3f} ms, "
                  f"ORT median {res[t]['ort'][-1]['median_ms']:.3f} ms", file=sys.stderr)
    summary = {"peer": "onnxruntime", "peer_version": ortb.ort.__version__, "cpu": ortb.cpu_name(),
               "isa": isa, "model": "MobileNet v1 1.0/224, batch 1, fp32", "threads": {}}
    for t in threads:
        row = {}
        for who in ("ours", "ort"):
            row[who] = {"min_ms": min(x["min_ms"] for x in res[t][who]),
                        "median_ms": statistics.median(x["median_ms"] for x in res[t][who])}
        row["ratio_min"] = row["ours"]["min_ms"] / row["ort"]["min_ms"]
        row["ratio_median"] = row["ours"]["median_ms"] / row["ort"]["median_ms"]
        summary["threads"][str(t)] = row
    if a.json:
        print(json.dumps(summary))
        return
    print(f"{summary['model']} on {summary['cpu']} (ours: isa {isa}; ORT {summary['peer_version']})")
    print(f"{'threads':>7} {'ours min':>9} {'ours med':>9} {'ORT min':>9} {'ORT med':>9} {'ratio min':>10} {'ratio med':>10}")
    for t in threads:
        r = summary["threads"][str(t)]
        print(f"{t:>7} {r['ours']['min_ms']:>9.3f} {r['ours']['median_ms']:>9.3f} {r['ort']['min_ms']:>9.3f} "
              f"{r['ort']['median_ms']:>9.3f} {r['ratio_min']:>10.2f} {r['ratio_median']:>10.2f}")
    print("ratio = ours / ORT: below 1 means we are faster")


if __name__ == "__main__":
    main()
