#!/usr/bin/env python3
"""PyTorch state-dict fixtures for the PyTorch importer (crates/mobilenet/src/io/torch), made by
PyTorch and timm themselves, with the outputs the Rust tests must reproduce.

What it makes (crates/mobilenet/tests/fixtures/)
-------------------------------------------------
torch_cifar_a0125.pt          torch.save(model.state_dict()) of the classic PyTorch CIFAR-10
                              MobileNet (`Block` / `MobileNet` from tools/make_golden.py) at width
                              alpha 0.125 (8..128 channels), 10 classes: the zip + pickle format,
                              float32, with `num_batches_tracked`.
torch_cifar_a0125_ckpt.pt     a training checkpoint as scripts write one: {"epoch": 7,
                              "state_dict": <the same state dict in float16, every name under
                              `module.` (nn.DataParallel)>, "optimizer": "sgd"}.
torch_timm_a0125.safetensors  safetensors.torch.save_file(model.state_dict()) of timm's MobileNet
                              v1 (`_gen_mobilenet_v1`, the builder of `mobilenetv1_100`) at
                              channel_multiplier 0.125 with 10 classes.
torch_cifar_a0125_dynamo.onnx the CIFAR model through torch.onnx.export(dynamo=True) (opset 18), which
  (+ .onnx.data)              writes the weights to an external data file beside the graph.
torch_timm_a0125_ts.onnx      the timm model through the TorchScript exporter (dynamo=False, opset 17),
                              weights inline.
torch_reference.safetensors   inputs and eval-mode logits:
                                cifar.input (2, 3, 32, 32) NCHW, cifar.logits (2, 10),
                                cifar_f16.logits (2, 10)  the float16 weights' logits (computed in
                                                          float32 from the rounded weights),
                                timm.input (1, 3, 64, 64), timm.logits (1, 10)
                              (timm at 64x64 to keep the file small: the weights do not depend on
                              the resolution).

Every BatchNorm gets random statistics and affine parameters (weight U(0.5, 1.5), bias
U(-0.2, 0.2), running_mean U(-0.1, 0.1), running_var U(0.5, 1.5)) so that a wrong mapping shows.

Rerun (needs torch, timm, safetensors, onnx, onnxscript from PyPI; about 4.5 GB with CUDA wheels):
    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch timm safetensors onnx onnxscript
    /tmp/tv/bin/python tools/make_torch_fixtures.py
It also prints the versions it used; the fixtures README records them.
"""

import importlib.util
import os
import sys

import torch
import timm
from safetensors.torch import save_file
from timm.models.efficientnet import _gen_mobilenet_v1

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "crates", "mobilenet", "tests", "fixtures")
ALPHA = 0.125


def load_golden_module():
    spec = importlib.util.spec_from_file_location("make_golden", os.path.join(HERE, "make_golden.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(c, generator=gen) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(c, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    golden = load_golden_module()
    ref = {}

    cifar = golden.MobileNet(alpha=ALPHA, num_classes=10)
    randomize_bn(cifar, gen)
    cifar.eval()
    x = torch.randn(2, 3, 32, 32, generator=gen)
    with torch.no_grad():
        ref["cifar.input"] = x
        ref["cifar.logits"] = cifar(x)
    sd = cifar.state_dict()
    torch.save(sd, os.path.join(OUT, "torch_cifar_a0125.pt"))

    half = {"module." + k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    torch.save({"epoch": 7, "state_dict": half, "optimizer": "sgd"},
               os.path.join(OUT, "torch_cifar_a0125_ckpt.pt"))
    rounded = golden.MobileNet(alpha=ALPHA, num_classes=10)
    rounded.load_state_dict({k[len("module."):]: v.float() if v.is_floating_point() else v
                             for k, v in half.items()}, strict=True)
    rounded.eval()
    with torch.no_grad():
        ref["cifar_f16.logits"] = rounded(x)

    tm = _gen_mobilenet_v1("mobilenetv1_100", channel_multiplier=ALPHA, pretrained=False, num_classes=10)
    randomize_bn(tm, gen)
    tm.eval()
    xt = torch.randn(1, 3, 64, 64, generator=gen)
    with torch.no_grad():
        ref["timm.input"] = xt
        ref["timm.logits"] = tm(xt)
    save_file({k: v.contiguous() for k, v in tm.state_dict().items()},
              os.path.join(OUT, "torch_timm_a0125.safetensors"))

    torch.onnx.export(cifar, (x[:1],), os.path.join(OUT, "torch_cifar_a0125_dynamo.onnx"), dynamo=True,
                      opset_version=18)
    torch.onnx.export(tm, (xt,), os.path.join(OUT, "torch_timm_a0125_ts.onnx"), dynamo=False, opset_version=17)

    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(OUT, "torch_reference.safetensors"))
    print(f"torch {torch.__version__}, timm {timm.__version__}, python {sys.version.split()[0]}")
    for k, v in ref.items():
        print(k, tuple(v.shape))


if __name__ == "__main__":
    main()
