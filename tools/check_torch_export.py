#!/usr/bin/env python3
"""Proof that `mobilenet export --format safetensors --names pytorch-cifar|timm` writes state dicts
that PyTorch's own modules load with `load_state_dict(strict=True)` and that compute our outputs.

For each case it exports a model with our CLI, loads the file into the PyTorch module (the classic
CIFAR-10 `MobileNet` of tools/make_golden.py, or timm's MobileNet v1 builder), runs PyTorch in eval
mode on the same images our `mobilenet predict --json` classifies (images already at the model's
input size, so that no resizing differs), normalizes them with the `mobilenet.normalization` the
export stores, and prints the largest |p_ours - p_torch| over all classes and the top-1 agreement.
It exits non-zero if any probability differs by more than 1e-4.

Cases:
  cifar  docs/results/cifar10-a1/model.json (alpha 1, trained here) -> pytorch-cifar names,
         on N images of /tmp/cifar10/test (the extracted cifar10-jpeg.tar.gz; decoded by PIL
         to PNG first, so that both sides see the same pixels)
  timm   crates/mobilenet/tests/fixtures/torch_timm_a0125.safetensors (timm, random weights)
         -> timm names, on crates/mobilenet/tests/fixtures/photos_224/*.png

Run (needs torch, timm, safetensors, pillow, numpy; the binary from `cargo build --release`):
    /tmp/tv/bin/python tools/check_torch_export.py [--bin target/release/mobilenet] [--n 200]
"""

import argparse
import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from timm.models.efficientnet import _gen_mobilenet_v1

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")


def golden():
    spec = importlib.util.spec_from_file_location("make_golden", os.path.join(HERE, "make_golden.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ours(bin_, model, images, classes):
    out = subprocess.run([bin_, "predict", "--model", model, "--json", "--top", str(classes), *images],
                         check=True, capture_output=True, text=True).stdout
    probs = {}
    for line in out.splitlines():
        r = json.loads(line)
        p = np.zeros(classes)
        for t in r["top"]:
            p[t["index"]] = t["score"]
        probs[r["path"]] = p
    return np.stack([probs[i] for i in images])


def torch_probs(module, st_path, images):
    with safe_open(st_path, "pt") as f:
        norm = json.loads(f.metadata()["mobilenet.normalization"])
    mean = np.broadcast_to(np.array(norm["mean"], dtype=np.float32), (3,))
    std = np.broadcast_to(np.array(norm["std"], dtype=np.float32), (3,))
    x = np.stack([(np.asarray(Image.open(i).convert("RGB"), dtype=np.float32) - mean) / std for i in images])
    with torch.no_grad():
        logits = module(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
    return torch.softmax(logits.double(), dim=1).numpy()


def case(name, bin_, model, names, module, images, classes, tmp):
    out = os.path.join(tmp, f"{name}.safetensors")
    subprocess.run([bin_, "export", "--model", model, "--format", "safetensors", "--names", names,
                    "--output", out], check=True, capture_output=True)
    module.load_state_dict(load_file(out), strict=True)
    module.eval()
    a, b = ours(bin_, model, images, classes), torch_probs(module, out, images)
    diff = float(np.abs(a - b).max())
    agree = float((a.argmax(1) == b.argmax(1)).mean())
    print(f"{name}: {len(images)} images, load_state_dict(strict=True) ok, "
          f"max |p_ours - p_torch| = {diff:.2e}, top-1 agreement {agree:.4f}")
    return diff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "mobilenet"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--cifar", default="/tmp/cifar10/test")
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        cifar_imgs = sorted(glob.glob(os.path.join(a.cifar, "*", "*.jpg")))[:: max(1, 10000 // a.n)][: a.n]
        # JPEG decoders differ by a pixel level here and there (PIL's libjpeg against the `image`
        # crate), which moves a trained model's probabilities by up to ~5e-2: decode once with
        # PIL to lossless PNG so that both frameworks see the same pixels.
        pngs = []
        for k, path in enumerate(cifar_imgs):
            pngs.append(os.path.join(tmp, f"cifar_{k:05d}.png"))
            Image.open(path).convert("RGB").save(pngs[-1])
        cifar_imgs = pngs
        if cifar_imgs:
            worst = max(worst, case("cifar", a.bin, os.path.join(ROOT, "docs/results/cifar10-a1/model.json"),
                                    "pytorch-cifar", golden().MobileNet(alpha=1.0, num_classes=10),
                                    cifar_imgs, 10, tmp))
        else:
            print(f"cifar: skipped, no images under {a.cifar}")
        photos = sorted(glob.glob(os.path.join(ROOT, "crates/mobilenet/tests/fixtures/photos_224/*.png")))
        tm = _gen_mobilenet_v1("mobilenetv1_100", channel_multiplier=0.125, pretrained=False, num_classes=10)
        worst = max(worst, case("timm", a.bin, os.path.join(ROOT, "crates/mobilenet/tests/fixtures/torch_timm_a0125.safetensors"),
                                "timm", tm, photos, 10, tmp))
    sys.exit(0 if worst <= 1e-4 else 1)


if __name__ == "__main__":
    main()
