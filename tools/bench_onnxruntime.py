#!/usr/bin/env python3
"""ONNX Runtime CPU latency of MobileNet v1 (alpha 1.0, 224x224, fp32): a peer number for our Rust engine.

What it does
------------
Builds, in memory with ``onnx.helper`` (no file needed), a float32 NCHW
MobileNet v1 alpha=1.0, 224x224, 1001-class classifier with random weights
from a fixed numpy seed, BatchNorm already folded (every conv has a bias and
is followed by Clip(0, 6)):

  stem     Conv 3x3 s2 3->32, pads [0,0,1,1] (TF SAME for stride 2), Clip 0..6
  13 x     depthwise Conv 3x3 group=C, stride s, pads TF-SAME
           (s=2 -> [0,0,1,1], s=1 -> [1,1,1,1]), Clip 0..6
           pointwise Conv 1x1 C->Cout, Clip 0..6
           (Cout/s: 64/1 128/2 128/1 256/2 256/1 512/2 512/1 x5 1024/2 1024/1)
  head     GlobalAveragePool -> Flatten -> Gemm 1024->1001 (+bias) -> Softmax

and times it with ONNX Runtime (CPUExecutionProvider, ORT_ENABLE_ALL graph
optimizations, ORT_SEQUENTIAL execution, inter_op_num_threads=1,
intra_op_num_threads = 1 and then 2) at batch 1 on a fixed random input:
20 warm-up runs, then timed runs until --runs (default 200) runs are done or
--max-time (default 3 s) has passed (but at least 30 runs); min and median of
the per-run wall time are reported.

``--pointwise-only`` instead times the 13 pointwise (1x1) convolutions alone,
each as its own one-op graph and session, and reports the SUM over the 13
layers of the per-layer min and of the per-layer median. By default each layer
is a MatMul [M,K] x [K,N] (M = H*W, the NHWC/GEMM view):
12544x32x64, 3136x64x128, 3136x128x128, 784x128x256, 784x256x256,
196x256x512, 5 x 196x512x512, 49x512x1024, 49x1024x1024;
``--pointwise-op conv`` uses a 1x1 NCHW Conv (no bias) instead.

Usage
-----
    .venv/bin/pip install onnx onnxruntime numpy
    .venv/bin/python tools/bench_onnxruntime.py                   # full model, human output
    .venv/bin/python tools/bench_onnxruntime.py --json            # one JSON object on stdout
    .venv/bin/python tools/bench_onnxruntime.py --pointwise-only --json
    .venv/bin/python tools/bench_onnxruntime.py --save /tmp/mobilenet_v1.onnx   # also write the model
    .venv/bin/python tools/bench_onnxruntime.py --threads 1,2 --runs 500 --max-time 5

With --json, stdout holds exactly one JSON object (human lines go to stderr):
    {"peer": "onnxruntime", "version": "1.x.y", "model": ..., "batch": 1,
     "threads": {"1": {"min_ms": .., "median_ms": .., "runs": ..}, "2": {...}}, ...}
so a Rust bench command or a shell script can run it next to our engine and
compare in the same run (same machine, same load).
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
SEED = 20240601
NUM_CLASSES = 1001
# (output channels, depthwise stride) of the 13 depthwise-separable blocks
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


def same_pads(stride):
    # TF "SAME" for a 3x3 kernel on an even-sized input: stride 2 pads only
    # bottom/right by 1, stride 1 pads 1 on every side. ONNX order: [t, l, b, r].
    return [0, 0, 1, 1] if stride == 2 else [1, 1, 1, 1]


def block_geometry(res=224):
    """Per pointwise layer (H*W, Cin, Cout) of MobileNet v1 alpha=1.0."""
    h = (res + 1) // 2  # stem stride 2
    cin = 32
    out = []
    for cout, s in BLOCKS:
        if s == 2:
            h = (h + 1) // 2
        out.append((h * h, cin, cout))
        cin = cout
    return out


def build_mobilenet_v1(res=224, seed=SEED):
    rng = np.random.default_rng(seed)
    inits, nodes = [], []
    macs = 0

    def add_init(name, arr):
        inits.append(numpy_helper.from_array(arr.astype(np.float32), name))

    def conv_relu6(x, name, cin, cout, k, stride, pads, group, hw_out):
        nonlocal macs
        fan_in = (cin // group) * k * k
        w = rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        b = rng.standard_normal(cout) * 0.1
        add_init(name + "_W", w)
        add_init(name + "_B", b)
        y = name + "_conv"
        nodes.append(helper.make_node(
            "Conv", [x, name + "_W", name + "_B"], [y], name=name,
            kernel_shape=[k, k], strides=[stride, stride], pads=pads, group=group, dilations=[1, 1]))
        out = name + "_relu6"
        nodes.append(helper.make_node("Clip", [y, "clip_min", "clip_max"], [out], name=name + "_clip"))
        macs += hw_out * cout * (cin // group) * k * k
        return out

    add_init("clip_min", np.array(0.0))
    add_init("clip_max", np.array(6.0))

    h = (res + 1) // 2
    x = conv_relu6("input", "Conv2d_0", 3, 32, 3, 2, same_pads(2), 1, h * h)
    c = 32
    for i, (cout, s) in enumerate(BLOCKS, start=1):
        if s == 2:
            h = (h + 1) // 2
        x = conv_relu6(x, f"Conv2d_{i}_depthwise", c, c, 3, s, same_pads(s), c, h * h)
        x = conv_relu6(x, f"Conv2d_{i}_pointwise", c, cout, 1, 1, [0, 0, 0, 0], 1, h * h)
        c = cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="AvgPool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["pool_flat"], name="Flatten", axis=1))
    wl = rng.standard_normal((NUM_CLASSES, c)) * np.sqrt(1.0 / c)
    add_init("Logits_W", wl)
    add_init("Logits_B", rng.standard_normal(NUM_CLASSES) * 0.1)
    nodes.append(helper.make_node("Gemm", ["pool_flat", "Logits_W", "Logits_B"], ["logits"],
                                  name="Logits", transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="Softmax", axis=1))
    macs += c * NUM_CLASSES

    graph = helper.make_graph(
        nodes, "mobilenet_v1_1.0_224",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, res, res])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, NUM_CLASSES])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tools/bench_onnxruntime.py")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model, macs


def build_pointwise(m, k, n, op, seed):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((k, n)) * np.sqrt(2.0 / k)).astype(np.float32)
    if op == "matmul":
        inp = helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])
        out = helper.make_tensor_value_info("c", TensorProto.FLOAT, [m, n])
        node = helper.make_node("MatMul", ["a", "w"], ["c"], name="pw")
        init = numpy_helper.from_array(w, "w")
        shape = (m, k)
    else:
        side = int(round(np.sqrt(m)))
        assert side * side == m
        inp = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, k, side, side])
        out = helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, n, side, side])
        node = helper.make_node("Conv", ["a", "w"], ["c"], name="pw", kernel_shape=[1, 1])
        init = numpy_helper.from_array(np.ascontiguousarray(w.T.reshape(n, k, 1, 1)), "w")
        shape = (1, k, side, side)
    graph = helper.make_graph([node], f"pw_{m}x{k}x{n}", [inp], [out], [init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model, shape


def make_session(model, threads):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), sess_options=so,
                                providers=["CPUExecutionProvider"])


def time_session(sess, feed, warmup, runs, max_time, min_runs=30):
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    t_end = time.perf_counter() + max_time
    while len(times) < runs:
        t0 = time.perf_counter_ns()
        sess.run(None, feed)
        times.append(time.perf_counter_ns() - t0)
        if len(times) >= min_runs and time.perf_counter() > t_end:
            break
    a = np.array(times, dtype=np.float64) / 1e6
    return {"min_ms": round(float(a.min()), 4), "median_ms": round(float(np.median(a)), 4), "runs": len(a)}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--pointwise-only", action="store_true", help="time only the 13 pointwise layers")
    ap.add_argument("--pointwise-op", choices=["matmul", "conv"], default="matmul",
                    help="pointwise layer as MatMul [M,K]x[K,N] (default) or 1x1 NCHW Conv")
    ap.add_argument("--save", metavar="PATH", help="write the full .onnx model here")
    ap.add_argument("--threads", default="1,2", help="comma list of intra_op_num_threads (default 1,2)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--runs", type=int, default=200, help="timed runs per setting (default 200)")
    ap.add_argument("--max-time", type=float, default=3.0,
                    help="stop a setting after this many seconds once 30 runs are done (default 3)")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",") if t]

    def log(msg):
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    result = {
        "peer": "onnxruntime",
        "version": ort.__version__,
        "onnx_version": onnx.__version__,
        "provider": "CPUExecutionProvider",
        "graph_optimization": "ORT_ENABLE_ALL",
        "execution_mode": "ORT_SEQUENTIAL",
        "inter_op_num_threads": 1,
        "batch": 1,
        "dtype": "float32",
        "cpu": cpu_name(),
        "nproc": os.cpu_count(),
        "seed": SEED,
        "threads": {},
    }

    model, macs = build_mobilenet_v1()
    if args.save:
        onnx.save(model, args.save)
        log(f"saved {args.save}")

    if not args.pointwise_only:
        result["model"] = "mobilenet_v1_1.0_224 fp32 NCHW (random weights, BN folded)"
        result["gmacs"] = round(macs / 1e9, 4)
        x = np.random.default_rng(SEED + 1).random((1, 3, 224, 224), dtype=np.float32) * 2 - 1
        feed = {"input": x}
        for t in threads:
            sess = make_session(model, t)
            out = sess.run(None, feed)[0]
            assert out.shape == (1, NUM_CLASSES) and abs(float(out.sum()) - 1.0) < 1e-3, out.sum()
            r = time_session(sess, feed, args.warmup, args.runs, args.max_time)
            r["gflops_at_min"] = round(2 * macs / (r["min_ms"] * 1e6), 2)
            result["threads"][str(t)] = r
            log(f"onnxruntime {ort.__version__} mobilenet_v1_1.0_224 fp32 batch 1, {t} thread(s): "
                f"min {r['min_ms']:.3f} ms  median {r['median_ms']:.3f} ms  "
                f"({r['runs']} runs, {r['gflops_at_min']} GFLOP/s at min, {macs / 1e6:.0f} MMACs)")
    else:
        layers = block_geometry()
        result["model"] = f"mobilenet_v1_1.0_224 pointwise layers only ({args.pointwise_op}), sum of 13 layers"
        result["layers_mkn"] = [list(l) for l in layers]
        pw_macs = sum(m * k * n for m, k, n in layers)
        result["gmacs"] = round(pw_macs / 1e9, 4)
        built = []
        for i, (m, k, n) in enumerate(layers):
            mdl, shape = build_pointwise(m, k, n, args.pointwise_op, SEED + 100 + i)
            a = np.random.default_rng(SEED + 200 + i).random(shape, dtype=np.float32) * 6
            built.append((mdl, {"a": a}))
        for t in threads:
            per = []
            for (m, k, n), (mdl, feed) in zip(layers, built):
                sess = make_session(mdl, t)
                r = time_session(sess, feed, args.warmup, args.runs, args.max_time)
                r["mkn"] = [m, k, n]
                r["gflops_at_min"] = round(2 * m * k * n / (r["min_ms"] * 1e6), 2)
                per.append(r)
            tot = {
                "min_ms": round(sum(r["min_ms"] for r in per), 4),
                "median_ms": round(sum(r["median_ms"] for r in per), 4),
                "layers": per,
            }
            tot["gflops_at_min"] = round(2 * pw_macs / (tot["min_ms"] * 1e6), 2)
            result["threads"][str(t)] = tot
            log(f"onnxruntime {ort.__version__} pointwise-only ({args.pointwise_op}) sum of 13 layers, "
                f"{t} thread(s): min {tot['min_ms']:.3f} ms  median {tot['median_ms']:.3f} ms  "
                f"({tot['gflops_at_min']} GFLOP/s at min, {pw_macs / 1e6:.0f} MMACs)")
            for r in per:
                m, k, n = r["mkn"]
                log(f"    {m:>5}x{k:<4}x{n:<4}  min {r['min_ms']:.4f} ms  median {r['median_ms']:.4f} ms  "
                    f"{r['gflops_at_min']:>6} GFLOP/s")

    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
