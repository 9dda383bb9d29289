#!/usr/bin/env python3
"""CI check: our ONNX exports, run by ONNX Runtime, give the probabilities `mobilenet predict` gives.

For each model below it runs `mobilenet export --format onnx` (BatchNorm kept, and folded), loads
the file in ONNX Runtime, and feeds both engines the same pixels: the test photos resized once by
PIL to the model's input size and saved as PNG (so no resizing differs), normalized with the
`mobilenet.normalization` metadata of the export. It compares every class probability and fails
(exit 1) if any differs by more than 1e-4 or any top-1 differs.

Models: the built-in alpha 1/224 (ReLU6, TF "SAME"); Google's uint8 0.25/128 TFLite fixture
(dequantized, BatchNorm already folded); the PyTorch CIFAR-code fixture at alpha 0.125 (ReLU,
symmetric padding, 32x32).

Usage (needs onnxruntime, numpy, pillow):
    python tools/onnx_roundtrip.py --bin target/release/mobilenet
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

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "crates", "mobilenet", "tests", "fixtures")

MODELS = [
    ("builtin", None),
    ("tflite-0.25-128", os.path.join(FIX, "mobilenet_v1_0.25_128_quant.tflite")),
    ("torch-cifar-0.125", os.path.join(FIX, "torch_cifar_a0125.pt")),
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "mobilenet"))
    a = ap.parse_args()
    print(f"onnxruntime {ort.__version__}")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in MODELS:
            model_args = ["--model", model] if model else []
            for fold in (False, True):
                out = os.path.join(tmp, f"{name}{'-folded' if fold else ''}.onnx")
                run([a.bin, "export", *model_args, "--format", "onnx", "-o", out]
                    + (["--fold-batch-norm"] if fold else []))
                sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
                meta = sess.get_modelmeta().custom_metadata_map
                norm = json.loads(meta["mobilenet.normalization"])
                mean = np.broadcast_to(np.array(norm["mean"], dtype=np.float32), (3,))
                std = np.broadcast_to(np.array(norm["std"], dtype=np.float32), (3,))
                inp = sess.get_inputs()[0]
                size = inp.shape[2]
                images = photos_at(size, tmp)
                x = np.stack([(np.asarray(Image.open(i), dtype=np.float32) - mean) / std for i in images])
                x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
                y = sess.run(None, {inp.name: x})[0].astype(np.float64)
                classes = y.shape[1]
                # The graph ends in Softmax; normalise again in float64 to compare like with like.
                y = y / y.sum(axis=1, keepdims=True)
                p = ours(a.bin, model_args, images, classes)
                diff = float(np.abs(p - y).max())
                same_top1 = bool((p.argmax(1) == y.argmax(1)).all())
                ok = diff <= 1e-4 and same_top1
                failed |= not ok
                print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(out)}: {len(images)} photos at {size}x{size}, "
                      f"{classes} classes, max |p_ours - p_ort| = {diff:.2e}, same top-1: {same_top1}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
