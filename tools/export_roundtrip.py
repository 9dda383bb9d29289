#!/usr/bin/env python3
"""CI check: our ONNX and TFLite exports, run by ONNX Runtime, OpenVINO and LiteRT, give the
probabilities `mobilenet predict` gives.

For each model below it runs `mobilenet export --format onnx` (BatchNorm kept, and folded) and
`--format tflite`, loads the files in ONNX Runtime and in LiteRT (`ai-edge-litert`, its default
XNNPACK delegate), and feeds every engine the same pixels: the test photos resized once by PIL to
the model's input size and saved as PNG (so no resizing differs), normalized with the
`mobilenet.normalization` metadata of the export. It compares every class probability and fails
(exit 1) if any differs by more than 1e-4 or any top-1 differs. Without ai-edge-litert installed
the TFLite half is skipped with a notice, and without openvino the OpenVINO runs (float32
precision forced: on CPUs with bfloat16 support OpenVINO defaults to it).

Models: the built-in alpha 1/224 (ReLU6, TF "SAME"); Google's uint8 0.25/128 TFLite fixture
(dequantized, BatchNorm already folded); the PyTorch CIFAR-code fixture at alpha 0.125 (ReLU,
symmetric padding, 32x32) and timm's at alpha 0.125 (ReLU6, symmetric padding, 224x224): their
stride-2 layers become explicit PADs in TFLite; Keras's alpha 0.25 fixture; and the alpha 1 CIFAR-10
model trained by `mobilenet train` (docs/results/cifar10-a1).

int8: `mobilenet quantize` of the built-in model (calibrated on the six photos), with 8-bit and
with 7-bit weights (which our AVX2 GEMM runs on `vpmaddubsw`), is run by LiteRT's
reference kernels (BUILTIN_REF) on the same photos; every uint8 softmax output must be within one
step of ours (our softmax is float, TFLite's fixed point) with the same top-1. The input bytes are
computed with our arithmetic (float32 normalization and division, rounding halves away from zero).

Usage (needs onnxruntime, numpy, pillow; ai-edge-litert for TFLite):
    python tools/export_roundtrip.py --bin target/release/mobilenet
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from PIL import Image

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # the TFLite half is optional
    Interpreter = None
try:
    import openvino
except ImportError:  # optional too
    openvino = None

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "crates", "mobilenet", "tests", "fixtures")

MODELS = [
    ("builtin", None),
    ("tflite-0.25-128", os.path.join(FIX, "mobilenet_v1_0.25_128_quant.tflite")),
    ("torch-cifar-0.125", os.path.join(FIX, "torch_cifar_a0125.pt")),
    ("torch-timm-0.125", os.path.join(FIX, "torch_timm_a0125.safetensors")),
    ("keras-0.25", os.path.join(FIX, "keras_a025_top.weights.h5")),
    ("trained-cifar-a1", os.path.join(ROOT, "docs", "results", "cifar10-a1", "model.json")),
]


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def photos_at(size, tmp):
    out = []
    for p in sorted(glob.glob(os.path.join(FIX, "photos_224", "*.png"))):
        dst = os.path.join(tmp, f"{size}_{os.path.basename(p)}")
        Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR).save(dst)
        out.append(dst)
    return out


def ours(bin_, model_args, images, classes):
    lines = run([bin_, "predict", *model_args, "--json", "--top", str(classes), *images]).splitlines()
    probs = {}
    for line in lines:
        r = json.loads(line)
        p = np.zeros(classes)
        for t in r["top"]:
            p[t["index"]] = t["score"]
        probs[r["path"]] = p
    return np.stack([probs[i] for i in images])


def normalized(images, norm):
    mean = np.broadcast_to(np.array(norm["mean"], dtype=np.float32), (3,))
    std = np.broadcast_to(np.array(norm["std"], dtype=np.float32), (3,))
    return np.stack([(np.asarray(Image.open(i), dtype=np.float32) - mean) / std for i in images])


def run_onnx(path, tmp):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    norm = json.loads(sess.get_modelmeta().custom_metadata_map["mobilenet.normalization"])
    inp = sess.get_inputs()[0]
    images = photos_at(inp.shape[2], tmp)
    x = np.ascontiguousarray(normalized(images, norm).transpose(0, 3, 1, 2))
    return images, sess.run(None, {inp.name: x})[0]


def run_openvino(path, tmp):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])  # for the metadata only
    norm = json.loads(sess.get_modelmeta().custom_metadata_map["mobilenet.normalization"])
    size = sess.get_inputs()[0].shape[2]
    images = photos_at(size, tmp)
    x = np.ascontiguousarray(normalized(images, norm).transpose(0, 3, 1, 2))
    core = openvino.Core()
    # float32 throughout: on CPUs with AMX or AVX512-BF16 OpenVINO would otherwise run bfloat16.
    compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return images, np.asarray(compiled(x)[0])


def run_tflite(path, tmp):
    interp = Interpreter(model_path=path)
    norm = json.loads(read_tflite_metadata(path, "mobilenet.normalization"))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    images = photos_at(int(inp["shape"][1]), tmp)
    ys = []
    for x in normalized(images, norm):
        interp.set_tensor(inp["index"], x[None])
        interp.invoke()
        ys.append(interp.get_tensor(out["index"])[0].copy())
    return images, np.stack(ys)


def read_tflite_metadata(path, name):
    """A metadata buffer of a .tflite file, read with the flatbuffer layout (no tflite schema pkg)."""
    import struct
    b = open(path, "rb").read()

    def table(pos):
        vt = pos - struct.unpack_from("<i", b, pos)[0]
        vlen = struct.unpack_from("<H", b, vt)[0]

        def field(i):
            o = 4 + 2 * i
            return pos + struct.unpack_from("<H", b, vt + o)[0] if o < vlen and struct.unpack_from("<H", b, vt + o)[0] else None
        return field

    def deref(p):
        return p + struct.unpack_from("<I", b, p)[0]

    def vector(p):
        p = deref(p)
        return p + 4, struct.unpack_from("<I", b, p)[0]

    root = table(struct.unpack_from("<I", b, 0)[0])
    buffers_at, _ = vector(root(4))
    meta_at, n = vector(root(6))
    for k in range(n):
        m = table(deref(meta_at + 4 * k))
        s, ln = vector(m(0))
        if b[s:s + ln].decode() == name:
            buf = table(deref(buffers_at + 4 * struct.unpack_from("<I", b, m(1))[0]))
            d, dl = vector(buf(0))
            return b[d:d + dl].decode()
    raise KeyError(name)


def check_int8(bin_, tmp, weight_bits=8):
    """Our int8 export against LiteRT's reference kernels; returns whether it agreed."""
    from ai_edge_litert.interpreter import OpResolverType
    name = "quantized.tflite" if weight_bits == 8 else f"quantized_w{weight_bits}.tflite"
    out = os.path.join(tmp, name)
    run([bin_, "quantize", "--calibration", os.path.join(FIX, "photos_224"),
         "--weight-bits", str(weight_bits), "-o", out])
    interp = Interpreter(model_path=out, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, o = interp.get_input_details()[0], interp.get_output_details()[0]
    norm = json.loads(read_tflite_metadata(out, "mobilenet.normalization"))
    images = sorted(glob.glob(os.path.join(FIX, "photos_224", "*.png")))
    mean = np.broadcast_to(np.array(norm["mean"], dtype=np.float32), (3,))
    std = np.broadcast_to(np.array(norm["std"], dtype=np.float32), (3,))
    scale, zp = inp["quantization"]
    classes = int(o["shape"][1])
    p = ours(bin_, ["--model", out], images, classes)
    worst, differing, same_top1 = 0, 0, True
    for i, path in enumerate(images):
        x = (np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) - mean) / std
        t = (x / np.float32(scale)).astype(np.float64)
        q = np.clip(np.trunc(t + np.copysign(0.5, t)) + zp, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], q[None])
        interp.invoke()
        y = interp.get_tensor(o["index"])[0].astype(np.int32) - o["quantization"][1]
        steps = np.abs(np.round(p[i] * 256) - y)
        worst = max(worst, int(steps.max()))
        differing += int((steps > 0).sum())
        same_top1 &= int(np.argmax(p[i])) == int(np.argmax(y))
    ok = worst <= 1 and same_top1
    print(f"{'ok  ' if ok else 'FAIL'} litert-ref  {name} (mobilenet quantize, {weight_bits}-bit weights): {len(images)} photos, "
          f"{classes} uint8 outputs each, worst {worst} step(s), {differing} outputs differ, same top-1: {same_top1}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "mobilenet"))
    a = ap.parse_args()
    print(f"onnxruntime {ort.__version__}")
    print("ai-edge-litert: " + ("installed" if Interpreter else "not installed, TFLite skipped"))
    print("openvino: " + (openvino.__version__ if openvino else "not installed, skipped"))
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in MODELS:
            model_args = ["--model", model] if model else []
            exports = [("onnx", False, run_onnx), ("onnx", True, run_onnx)]
            if openvino:
                exports += [("onnx", False, run_openvino), ("onnx", True, run_openvino)]
            if Interpreter:
                exports.append(("tflite", False, run_tflite))
            for fmt, fold, runner in exports:
                out = os.path.join(tmp, f"{name}{'-folded' if fold else ''}.{fmt}")
                engine = {run_onnx: "onnxruntime", run_openvino: "openvino", run_tflite: "litert"}[runner]
                run([a.bin, "export", *model_args, "--format", fmt, "-o", out]
                    + (["--fold-batch-norm"] if fold else []))
                images, y = runner(out, tmp)
                y = y.astype(np.float64)
                classes = y.shape[1]
                # The graphs end in Softmax; normalise again in float64 to compare like with like.
                y = y / y.sum(axis=1, keepdims=True)
                # A quantized TFLite source runs on our int8 path unless `--float`; its exports
                # hold the dequantized float model, which is what `--float` runs.
                quantized_source = model is not None and model.endswith("_quant.tflite")
                p = ours(a.bin, model_args + (["--float"] if quantized_source else []), images, classes)
                diff = float(np.abs(p - y).max())
                same_top1 = bool((p.argmax(1) == y.argmax(1)).all())
                ok = diff <= 1e-4 and same_top1
                failed |= not ok
                size = Image.open(images[0]).size[0]
                print(f"{'ok  ' if ok else 'FAIL'} {engine:11} {os.path.basename(out)}: {len(images)} photos at {size}x{size}, "
                      f"{classes} classes, max |p_ours - p_runtime| = {diff:.2e}, same top-1: {same_top1}")
        if Interpreter:
            failed |= not check_int8(a.bin, tmp)
            # 7-bit weights: on AVX2 CPUs ours runs them on the byte-pair GEMM.
            failed |= not check_int8(a.bin, tmp, weight_bits=7)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
