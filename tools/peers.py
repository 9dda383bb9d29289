#!/usr/bin/env python3
"""Ours vs ONNX Runtime, OpenVINO and LiteRT (XNNPACK): float32 and int8, one machine, one run.

What it does
------------
1. Makes the float32 networks once, through our own writers: the built-in α 1/224 model,
   and randomly initialised α 0.25/224 and CIFAR-10 (α 1, 32×32) networks
   (`mobilenet export --random`), each as our safetensors, ONNX (BatchNorm folded) and
   TFLite. Every runtime gets the same weights.
2. int8: Google's uint8 TFLite files (0.25/128, 0.5/160, 0.75/192 classifiers and the α 1/224
   body), run as they are by ours (the native int8 path), LiteRT and OpenVINO (its TFLite
   reader). ONNX Runtime does not read TFLite and is left out there.
3. Checks that every runtime returns our outputs for a fixed random image (at the model's
   resolution, so that no resizing is involved): float32 probabilities within 1e-4, int8
   scores in quantization steps and the same top-1.
4. Times them in alternating rounds (ours, ONNX Runtime, OpenVINO, LiteRT, then again) and
   prints, per configuration, the median of the per-round medians and ours ÷ the best peer.

Usage
-----
    cargo build --release -p mobilenet-cli
    tools/peers.sh                        # makes .venv-peers, then runs this with its arguments
    tools/peers.sh --rounds 3 --only int8 --json bench-out/peers.json

Times are per batch (ms). The CPU, its vector ISA and the kernels ours chose are printed
above the table. Absolute times on a shared machine are noise: compare the ratios.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, export arguments (None: the built-in model), resolution
FLOAT_MODELS = {
    "a1_224": (None, 224),
    "a025_224": (["--random", "--alpha", "0.25", "--resolution", "224"], 224),
    "cifar": (["--random", "--variant", "cifar"], 32),
}
# (label, model, batch, threads): the table of issue 7
FLOAT_CONFIGS = [
    ("α1/224 b1", "a1_224", 1, 1),
    ("α1/224 b1", "a1_224", 1, 2),
    ("α1/224 b32", "a1_224", 32, 2),
    ("α0.25/224 b1", "a025_224", 1, 1),
    ("α0.25/224 b1", "a025_224", 1, 2),
    ("CIFAR b1", "cifar", 1, 2),
    ("CIFAR b128", "cifar", 128, 2),
]
# Google's uint8 files (in --google), then ours: `mobilenet quantize` of the built-in α 1/224
# model (per-channel int8, calibrated on the test photos), OpenVINO's int8 configuration of
# issue 7, with 8-bit weights and with 7-bit ones (`--weight-bits 7`, which our AVX2 GEMM
# runs on vpmaddubsw); every runtime runs the same file. The last field is the weight bits
# of ours (None: a Google file).
INT8_FILES = [
    ("uint8 0.25/128", "mobilenet_v1_0.25_128_quant.tflite", 128, None),
    ("uint8 0.5/160", "mobilenet_v1_0.5_160_quant.tflite", 160, None),
    ("uint8 0.75/192", "mobilenet_v1_0.75_192_quant.tflite", 192, None),
    ("uint8 1.0/224 body", "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", 224, None),
    ("int8 1.0/224 (ours, quantize)", None, 224, 8),
    ("int8 1.0/224 (ours, 7-bit weights)", None, 224, 7),
]


def sh(*args):
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout


def cpu_line():
    name, flags = "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and name == "unknown CPU":
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isa = [f for f in ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                       "avx512_bf16", "amx_tile"] if f in flags]
    return f"{name}, {os.cpu_count()} logical CPUs, {' '.join(isa)}"


# ---------------------------------------------------------------- runtimes

class Ours:
    name = "ours"

    def __init__(self, binary, model, batch, threads, float_path=False):
        self.args = [binary, "bench", "--json", "--model", model, "--batch", str(batch),
                     "--threads", str(threads)]
        if float_path:
            self.args.append("--float")
        self.info = {}

    def time(self, iters, max_seconds):
        v = json.loads(sh(*self.args, "--iters", str(iters), "--max-seconds", str(max_seconds)))
        self.info = {k: v.get(k) for k in ("isa", "q8_kernels", "datatype")}
        return v["median_ms"]


class Peer:
    """A runtime that is timed in this process: `run(x)` once per timed call."""

    def time(self, iters, max_seconds):
        for _ in range(3):
            self.run(self.x)
        times, start = [], time.perf_counter()
        for _ in range(iters):
            t = time.perf_counter()
            self.run(self.x)
            times.append((time.perf_counter() - t) * 1e3)
            if time.perf_counter() - start > max_seconds:
                break
        return statistics.median(times)


class OnnxRuntime(Peer):
    name = "onnxruntime"

    def __init__(self, path, x, threads):
        import onnxruntime as ort
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        o.inter_op_num_threads = 1
        o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
        self.inp = self.s.get_inputs()[0].name
        self.x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # the export is NCHW

    def run(self, x):
        return self.s.run(None, {self.inp: x})[0]


class OpenVino(Peer):
    name = "openvino"

    def __init__(self, path, x, threads, nchw):
        import openvino as ov
        core = ov.Core()
        m = core.read_model(path)
        self.x = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if nchw else x
        m.reshape({m.inputs[0].get_any_name(): list(self.x.shape)})
        cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
               "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"}
        self.c = core.compile_model(m, "CPU", cfg)
        self.req = self.c.create_infer_request()

    def run(self, x):
        self.req.infer({0: x})
        return self.req.get_output_tensor(0).data.copy()


class LiteRt(Peer):
    name = "litert"

    def __init__(self, path, x, threads):
        from ai_edge_litert.interpreter import Interpreter
        self.it = Interpreter(model_path=path, num_threads=threads)
        d = self.it.get_input_details()[0]
        if list(d["shape"]) != list(x.shape):
            self.it.resize_tensor_input(d["index"], list(x.shape))
        self.it.allocate_tensors()
        self.inp = d["index"]
        self.out = self.it.get_output_details()[0]
        self.x = x

    def run(self, x):
        self.it.set_tensor(self.inp, x)
        self.it.invoke()
        return self.it.get_tensor(self.out["index"])


# ---------------------------------------------------------------- models and inputs

def image(work, r, seed):
    """A random image at the model's resolution (used as is by `predict`) and its pixels."""
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 256, size=(r, r, 3), dtype=np.uint8)
    path = os.path.join(work, f"input_{r}.png")
    Image.fromarray(px).save(path)
    return path, px


def normalized(px, cfg, batch):
    n = cfg["normalization"]
    mean = np.asarray(n["mean"], np.float32)
    std = np.asarray(n["std"], np.float32)
    x = (px.astype(np.float32) - mean) / std
    return np.ascontiguousarray(np.broadcast_to(x, (batch,) + x.shape)).astype(np.float32)


def make_float_models(binary, work):
    out = {}
    for name, (export, r) in FLOAT_MODELS.items():
        stem = os.path.join(work, name)
        src = (export or [])
        for fmt, ext, extra in [("safetensors", ".safetensors", []), ("onnx", ".onnx", ["--fold-batch-norm"]),
                                ("tflite", ".tflite", [])]:
            sh(binary, "export", *src, "--format", fmt, *extra, "-o", stem + ext)
        cfg = json.load(open(stem + ".json"))["config"]
        out[name] = {"ours": stem + ".safetensors", "onnx": stem + ".onnx",
                     "tflite": stem + ".tflite", "config": cfg, "resolution": r}
    return out


def ours_scores(binary, model, png, top, extra=()):
    v = json.loads(sh(binary, "predict", "--json", "--top", str(top), "--model", model, *extra, png))
    return [(t["index"], t["score"]) for t in v["top"]]


def ours_features(binary, model, png, work):
    path = os.path.join(work, "features.npy")
    sh(binary, "embed", "--model", model, "--output", path, png)
    return np.load(path).reshape(-1)


# ---------------------------------------------------------------- the run

def check_float(peer, scores):
    p = np.asarray(peer.run(peer.x))[0].reshape(-1)
    return max(abs(float(p[i]) - s) for i, s in scores)


def int8_input(px, model):
    """The int8 input bytes of our quantized file for pixels `px`, with our arithmetic."""
    from ai_edge_litert.interpreter import Interpreter
    d = Interpreter(model_path=model).get_input_details()[0]
    scale, zp = d["quantization"]
    x = (px.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)
    t = (x / np.float32(scale)).astype(np.float64)
    return np.clip(np.trunc(t + np.copysign(0.5, t)) + zp, -128, 127).astype(np.int8)[None]


def dequant(out, details):
    out = np.asarray(out)
    if out.dtype in (np.uint8, np.int8) and details is not None:
        scale, zp = details["quantization"]
        return scale * (out.astype(np.float32) - zp), scale
    return out.astype(np.float32), None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/mobilenet"))
    ap.add_argument("--google", default=os.path.join(ROOT, "../shared/data/imagenet"),
                    help="folder with Google's uint8 TFLite files")
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-out/peers"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--max-seconds", type=float, default=3.0, help="per timed block")
    ap.add_argument("--only", choices=["float", "int8"])
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)

    import onnxruntime, openvino, ai_edge_litert  # noqa: E401
    versions = {"onnxruntime": onnxruntime.__version__, "openvino": openvino.__version__.split("-")[0],
                "litert": getattr(ai_edge_litert, "__version__", "?")}
    print(f"CPU: {cpu_line()}")
    print("peers: " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    rows = []  # (label, threads, {runtime: Peer|Ours}, agreement text)
    if a.only != "int8":
        models = make_float_models(a.binary, a.work)
        for label, name, batch, threads in FLOAT_CONFIGS:
            m = models[name]
            png, px = image(a.work, m["resolution"], 1)
            x = normalized(px, m["config"], batch)
            scores = ours_scores(a.binary, m["ours"], png, 5)
            rts = {"ours": Ours(a.binary, m["ours"], batch, threads)}
            agree = []
            for peer, make in [("onnxruntime", lambda: OnnxRuntime(m["onnx"], x, threads)),
                               ("openvino", lambda: OpenVino(m["onnx"], x, threads, nchw=True)),
                               ("litert", lambda: LiteRt(m["tflite"], x, threads))]:
                try:
                    p = make()
                    rts[p.name] = p
                    agree.append(f"{p.name} {check_float(p, scores):.1e}")
                except Exception as e:  # a peer that cannot run this shape is reported, not fatal
                    agree.append(f"{peer} failed: {str(e).splitlines()[0][:60]}")
            rows.append((label, threads, rts, "max |Δp| " + ", ".join(agree)))
    if a.only != "float":
        for label, file, r, bits in INT8_FILES:
            png, px = image(a.work, r, 2)
            if file is None:
                path = os.path.join(a.work, f"a1_224_int8_w{bits}.tflite")
                sh(a.binary, "quantize", "--calibration",
                   os.path.join(ROOT, "crates/mobilenet/tests/fixtures/photos_224"),
                   "--weight-bits", str(bits), "-o", path)
                x = int8_input(px, path)
            else:
                path = os.path.join(a.google, file)
                if not os.path.exists(path):
                    print(f"skipping {label}: {path} not found")
                    continue
                x = px[None].copy()
            body = file is not None and "embedding" in file
            ref = ours_features(a.binary, path, png, a.work) if body else ours_scores(a.binary, path, png, 5)
            for threads in (1, 2):
                rts = {"ours": Ours(a.binary, path, 1, threads)}
                agree = []
                lite = None
                for make in [lambda: LiteRt(path, x, threads), lambda: OpenVino(path, x, threads, nchw=False)]:
                    try:
                        p = make()
                    except Exception as e:
                        agree.append(f"peer failed: {str(e).splitlines()[0][:60]}")
                        continue
                    rts[p.name] = p
                    lite = p if p.name == "litert" else lite
                    out, scale = dequant(p.run(p.x), lite.out if lite else None)
                    out = out.reshape(-1)
                    if body:
                        scale = scale or lite.out["quantization"][0]
                        diff = np.abs(out - ref) / scale
                        agree.append(f"{p.name} max {diff.max():.0f} steps, "
                                     f"{(diff > 0.5).mean() * 100:.1f} % of features differ")
                    else:
                        # Softmax outputs are in steps of 1/256 (uint8 zero point 0, int8 −128).
                        steps = max(abs(float(out[i]) - s) * 256 for i, s in ref)
                        same = int(np.argmax(out)) == ref[0][0]
                        agree.append(f"{p.name} {steps:.0f} steps, top-1 {'same' if same else 'DIFFERENT'}")
                rows.append((label, threads, rts, ", ".join(agree)))

    names = ["ours", "onnxruntime", "openvino", "litert"]
    medians = {i: {n: [] for n in rt} for i, (_, _, rt, _) in enumerate(rows)}
    for rnd in range(a.rounds):
        for i, (label, threads, rts, _) in enumerate(rows):
            for n in names:
                if n in rts:
                    medians[i][n].append(rts[n].time(a.iters, a.max_seconds))
        print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)

    results = []
    print()
    print("| config | threads | ours | ONNX Runtime | OpenVINO | LiteRT | ours ÷ best peer |")
    print("|---|---|---|---|---|---|---|")
    for i, (label, threads, rts, agree) in enumerate(rows):
        med = {n: statistics.median(v) for n, v in medians[i].items() if v}
        peers = [v for n, v in med.items() if n != "ours"]
        ratio = med["ours"] / min(peers) if peers else float("nan")
        cells = [f"{med[n]:.3f}" if n in med else "–" for n in names]
        print(f"| {label} | {threads} | " + " | ".join(cells) + f" | {ratio:.2f} |")
        results.append({"config": label, "threads": threads, "median_ms": med, "ratio": ratio,
                        "agreement": agree, "ours": rts["ours"].info})
    print()
    for r in results:
        print(f"{r['config']} ({r['threads']} thr): {r['agreement']}; ours {r['ours']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu_line(), "peers": versions, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
