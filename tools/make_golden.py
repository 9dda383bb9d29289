#!/usr/bin/env python3
"""PyTorch golden fixtures for training the CIFAR-10 MobileNet v1 (alpha 0.25): forward, backward, SGD.

What it makes
-------------
crates/mobilenet/tests/fixtures/golden_cifar_a025.safetensors  (float32 unless noted)
crates/mobilenet/tests/fixtures/golden_cifar_a025.json         (config, hyper-parameters, f32-vs-f64 drift)

The network is the classic PyTorch CIFAR-10 MobileNet v1, written out below (`Block`, `MobileNet`):
  stem   conv1 = Conv2d(3, 32a, 3, stride 1, pad 1, no bias) -> bn1 -> relu
  layers Sequential of Block(in, out, stride), cfg
         [64, (128,2), 128, (256,2), 256, (512,2), 512, 512, 512, 512, 512, (1024,2), 1024]
         Block: conv1 = depthwise Conv2d(in, in, 3, stride, pad 1, groups=in, no bias) -> bn1 -> relu
                conv2 = Conv2d(in, out, 1, no bias) -> bn2 -> relu
  head   F.avg_pool2d(out, 2) (2x2 -> 1x1 for a 32x32 input) -> flatten -> linear = Linear(1024a, 10)
with width alpha = 0.25 and channels max(floor(c * alpha), 8): 32->8, 64->16, 128->32, 256->64,
512->128, 1024->256. BatchNorm eps 1e-5, momentum 0.1. Input 4 x 3 x 32 x 32, labels [3, 1, 7, 0].

Initialisation (deterministic, CPU, one thread): torch.manual_seed(0); build the model with PyTorch's
default init; then, module by module in `model.modules()` order, for each BatchNorm2d:
weight ~ U(0.5, 1.5), bias ~ U(-0.2, 0.2), running_mean ~ U(-0.1, 0.1), running_var ~ U(0.5, 1.5);
then input = torch.randn(4, 3, 32, 32). The exact values are in the file (`init.*`, `input`), so the
Rust test never needs to reproduce the RNG.

Keys (PyTorch names, PyTorch layouts: conv OIHW (out, in, 3, 3), depthwise (C, 1, 3, 3), pointwise
(out, in, 1, 1), linear weight (out, in) = (10, 256a), BN vectors (C,)):
  input                 (4, 3, 32, 32)  NCHW
  input_nhwc            (4, 32, 32, 3)  the same numbers, NHWC
  labels                (4,)            int64
  init.<name>           every entry of model.state_dict() except num_batches_tracked, e.g.
                        init.conv1.weight, init.bn1.weight, init.bn1.bias, init.bn1.running_mean,
                        init.bn1.running_var, init.layers.0.conv1.weight, init.layers.0.bn1.*,
                        init.layers.0.conv2.weight, init.layers.0.bn2.*, ..., init.layers.12.*,
                        init.linear.weight, init.linear.bias
  logits                (4, 10)  one forward in train mode (batch statistics) from init
  loss                  (1,)     F.cross_entropy(logits, labels), mean over the batch
  loss_ls               (1,)     F.cross_entropy(logits, labels, label_smoothing=0.1) (same logits)
  grad.<param>          d loss / d param after loss.backward() (no label smoothing), for every
                        trainable parameter (conv and linear weights, linear bias, BN weight/bias)
  running_after_1.<bn>  running_mean / running_var of every BN after that one train-mode forward
                        (PyTorch: new = 0.9 * old + 0.1 * batch, batch var UNBIASED, n/(n-1) with
                        n = N*H*W; the normalisation itself uses the biased variance)
  sgd_losses            (5,)  a fresh copy of the init model, 5 steps of
                        torch.optim.SGD(lr=1e-5, momentum=0.9, weight_decay=5e-4, dampening=0,
                        nesterov=False) on the same batch, train mode; loss i is the loss of the
                        forward of step i, before its update (so sgd_losses[0] == loss)
  sgd_final.<name>      every state_dict entry (weights and running stats) after step 5
  sgd_final_eval_logits (4, 10)  model.eval() logits of the step-5 model (running stats)
  nesterov.sgd_losses, nesterov.sgd_final_eval_logits
                        the same 5-step run with nesterov=True (its weights are not stored, to
                        keep the file under 4 MB; sgd_unit.* checks the Nesterov update exactly)
  lr005.step1.<name>    every state_dict entry after ONE step at the brief's lr 0.05 (momentum
                        0.9, wd 5e-4): p1 = p0 - 0.05 * (grad + 5e-4 * p0), running stats updated
  lr005.sgd_losses      (5,)  the 5-step losses at lr 0.05 (compare only the first two, see below)
  sgd_unit.p0 (2, 8), sgd_unit.grads (5, 2, 8), sgd_unit.after (5, 2, 8),
  sgd_unit.nesterov_after (5, 2, 8)
                        torch.optim.SGD(lr=0.05, momentum=0.9, weight_decay=5e-4) alone: the
                        parameter after each of 5 steps fed the given gradients, plain and
                        Nesterov. Exercises momentum and weight decay exactly, with no network.
  f64.logits, f64.loss, f64.loss_ls, f64.sgd_losses, f64.sgd_final_eval_logits,
  f64.nesterov.sgd_losses, f64.nesterov.sgd_final_eval_logits, f64.lr005.sgd_losses
                        (float64) the same computations run in float64 from the same init
                        (init cast to float64), to show how far float32 rounding alone moves them.
                        The JSON sidecar has, for every f32 output tensor, the max |f32 - f64| and
                        the max |f64| under "drift".

Why lr 1e-5 for the 5-step runs
-------------------------------
At batch 4 this network is numerically chaotic under SGD: BatchNorm over 4 images makes the
gradients grow ~300x from the head to the stem (|grad conv1.weight| up to ~30 against weights of
~0.2), so one lr-0.05 step moves the stem by several times its own size. At lr 0.05 the float32
and float64 runs of the very same PyTorch code agree on the loss of steps 0 and 1 (to ~1.5e-4) but
differ by 0.08 at step 2 and 0.37 at step 5 (final weights differ by more than their size). Any
float32 engine, PyTorch's own included, would drift as far, so those numbers cannot test ours. At
lr 1e-5 the loss still falls (2.51 -> 2.08 in 5 steps, so a wrong gradient shows) while float32
and float64 agree to ~3e-5 on the losses and on every weight relative to its tensor's largest
value; the eval-mode logits after 5 steps to ~1e-5 (plain) and ~2e-3 (Nesterov) of their largest
(see "drift" in the sidecar for every tensor). The brief's lr 0.05 is kept where it is well conditioned:
one full-network step (lr005.step1.*) and the optimizer alone (sgd_unit.*).

PyTorch's SGD, per parameter p with gradient g (what the Rust optimizer must match):
  g = g + wd * p;  buf = g on the first step, else buf = momentum * buf + g;
  p = p - lr * buf               (nesterov=False)
  p = p - lr * (g + momentum * buf)  (nesterov=True)
Weight decay applies to every parameter, BN weight/bias and linear bias included.

How to rerun
------------
    python3 -m venv .venv
    .venv/bin/pip install torch numpy safetensors
    .venv/bin/python tools/make_golden.py

from the repository root (any working directory works: paths are relative to this file). The
tensors and metadata are deterministic for a given PyTorch version on x86-64 CPU (the version used
is recorded in the file's metadata and in the JSON sidecar); the bytes of the safetensors header
may come out in another order from run to run, so compare contents, not checksums.
"""

import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "crates", "mobilenet", "tests", "fixtures")
OUT = os.path.join(FIXTURES, "golden_cifar_a025.safetensors")
OUT_JSON = os.path.join(FIXTURES, "golden_cifar_a025.json")

ALPHA = 0.25
CFG = [64, (128, 2), 128, (256, 2), 256, (512, 2), 512, 512, 512, 512, 512, (1024, 2), 1024]
BATCH = 4
LABELS = [3, 1, 7, 0]
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
SGD = dict(momentum=0.9, weight_decay=5e-4, dampening=0.0)
LR = 1e-5  # the 5-step end-to-end runs; see "Why lr 1e-5" in the docstring
LR_BRIEF = 0.05  # lr005.* and sgd_unit.*
SGD_STEPS = 5
LABEL_SMOOTHING = 0.1
SEED = 0
COMMAND = ".venv/bin/python tools/make_golden.py"


def width(c, alpha):
    """Channels of a layer with nominal width c at multiplier alpha: max(floor(c * alpha), 8)."""
    return max(int(math.floor(c * alpha)), 8)


class Block(nn.Module):
    """Depthwise 3x3 conv + BN + ReLU, then pointwise 1x1 conv + BN + ReLU."""

    def __init__(self, in_planes, out_planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, in_planes, kernel_size=3, stride=stride, padding=1,
                               groups=in_planes, bias=False)
        self.bn1 = nn.BatchNorm2d(in_planes, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=1, padding=0,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return out


class MobileNet(nn.Module):
    """MobileNet v1 for 32x32 CIFAR-10 images (stride-1 stem, 2x2 average pool head)."""

    def __init__(self, alpha=1.0, num_classes=10):
        super().__init__()
        stem = width(32, alpha)
        self.conv1 = nn.Conv2d(3, stem, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.layers = self._make_layers(stem, alpha)
        self.linear = nn.Linear(width(1024, alpha), num_classes)

    @staticmethod
    def _make_layers(in_planes, alpha):
        layers = []
        for x in CFG:
            out_planes = width(x if isinstance(x, int) else x[0], alpha)
            stride = 1 if isinstance(x, int) else x[1]
            layers.append(Block(in_planes, out_planes, stride))
            in_planes = out_planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.avg_pool2d(out, 2)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def randomize_bn(model):
    """Non-trivial BN affine parameters and running statistics, so every BN term is exercised."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def state(model):
    """state_dict without num_batches_tracked, as {name: tensor}."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def sgd_run(init_model, x, y, lr, nesterov, steps=SGD_STEPS):
    """`steps` SGD steps on the same batch from a copy of init_model: (losses, final state, eval logits)."""
    model = copy.deepcopy(init_model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, nesterov=nesterov, **SGD)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach().clone())
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    return torch.stack(losses), state(model), eval_logits


def sgd_unit(dtype):
    """torch.optim.SGD alone on a 2 x 8 parameter with 5 given gradients, at the brief's lr 0.05."""
    gen = torch.Generator().manual_seed(1)
    p0 = torch.empty(2, 8, dtype=torch.float64).uniform_(-1, 1, generator=gen)
    grads = torch.empty(SGD_STEPS, 2, 8, dtype=torch.float64).uniform_(-1, 1, generator=gen)
    out = {"sgd_unit.p0": p0.to(dtype), "sgd_unit.grads": grads.to(dtype)}
    for prefix, nesterov in [("sgd_unit.after", False), ("sgd_unit.nesterov_after", True)]:
        p = torch.nn.Parameter(p0.to(dtype).clone())
        opt = torch.optim.SGD([p], lr=LR_BRIEF, nesterov=nesterov, **SGD)
        after = []
        for g in grads:
            p.grad = g.to(dtype).clone()
            opt.step()
            after.append(p.detach().clone())
        out[prefix] = torch.stack(after)
    return out


def run(init_model, x, y):
    """Every fixture computation for one dtype; returns {key: tensor} (PyTorch layouts)."""
    out = {}
    model = copy.deepcopy(init_model)
    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss_ls = F.cross_entropy(logits.detach(), y, label_smoothing=LABEL_SMOOTHING)
    loss.backward()
    out["logits"] = logits.detach()
    out["loss"] = loss.detach().reshape(1)
    out["loss_ls"] = loss_ls.reshape(1)
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad.detach().clone()
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            out[f"running_after_1.{name}"] = b.detach().clone()

    losses, final, eval_logits = sgd_run(init_model, x, y, LR, nesterov=False)
    out["sgd_losses"] = losses
    out.update({f"sgd_final.{k}": v for k, v in final.items()})
    out["sgd_final_eval_logits"] = eval_logits
    losses, _, eval_logits = sgd_run(init_model, x, y, LR, nesterov=True)
    out["nesterov.sgd_losses"] = losses
    out["nesterov.sgd_final_eval_logits"] = eval_logits

    _, final, _ = sgd_run(init_model, x, y, LR_BRIEF, nesterov=False, steps=1)
    out.update({f"lr005.step1.{k}": v for k, v in final.items()})
    losses, _, _ = sgd_run(init_model, x, y, LR_BRIEF, nesterov=False)
    out["lr005.sgd_losses"] = losses
    out.update(sgd_unit(x.dtype))
    return out


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)

    model = MobileNet(alpha=ALPHA).float()
    randomize_bn(model)
    x = torch.randn(BATCH, 3, 32, 32, dtype=torch.float32)
    y = torch.tensor(LABELS, dtype=torch.int64)
    init = state(model)

    f32 = run(model, x, y)
    model64 = copy.deepcopy(model).double()
    f64 = run(model64, x.double(), y)

    tensors = {
        "input": x.numpy(),
        "input_nhwc": x.permute(0, 2, 3, 1).contiguous().numpy(),
        "labels": y.numpy(),
    }
    tensors.update({f"init.{k}": v.numpy() for k, v in init.items()})
    tensors.update({k: v.numpy() for k, v in f32.items()})
    for k in ["logits", "loss", "loss_ls", "sgd_losses", "sgd_final_eval_logits",
              "nesterov.sgd_losses", "nesterov.sgd_final_eval_logits", "lr005.sgd_losses"]:
        tensors[f"f64.{k}"] = f64[k].numpy()
    for k, v in tensors.items():
        assert v.dtype in (np.float32, np.float64, np.int64), (k, v.dtype)
        assert k.startswith("f64.") == (v.dtype == np.float64), (k, v.dtype)
        tensors[k] = np.ascontiguousarray(v)

    drift = {}
    for k, v in f32.items():
        d = (v.double() - f64[k]).abs().max().item()
        drift[k] = {"max_abs_diff": d, "max_abs_f64": f64[k].abs().max().item()}

    n_params = sum(p.numel() for p in model.parameters())
    config = {
        "network": "PyTorch CIFAR-10 MobileNet v1 (kuangliu/pytorch-cifar style), tools/make_golden.py",
        "alpha": ALPHA,
        "width_rule": "max(floor(c * alpha), 8)",
        "cfg": [c if isinstance(c, int) else list(c) for c in CFG],
        "channels": {"stem": width(32, ALPHA),
                     "blocks": [width(c if isinstance(c, int) else c[0], ALPHA) for c in CFG]},
        "input": [BATCH, 3, 32, 32],
        "labels": LABELS,
        "num_classes": 10,
        "bn_eps": BN_EPS,
        "bn_momentum": BN_MOMENTUM,
        "label_smoothing": LABEL_SMOOTHING,
        "sgd": dict(SGD, lr=LR, steps=SGD_STEPS, nesterov=False),
        "sgd_nesterov": dict(SGD, lr=LR, steps=SGD_STEPS, nesterov=True),
        "lr005": dict(SGD, lr=LR_BRIEF, steps=SGD_STEPS, nesterov=False,
                      note="step1 state stored; 5-step losses only (chaotic beyond step 2)"),
        "sgd_unit": dict(SGD, lr=LR_BRIEF, steps=SGD_STEPS, shape=[2, 8]),
        "seed": SEED,
        "trainable_params": n_params,
        "dtype": "float32 (f64.* keys float64, labels int64)",
        "layouts": "PyTorch: conv OIHW, depthwise (C,1,3,3), linear (out,in); input NCHW and input_nhwc",
    }
    meta = {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "command": COMMAND,
        "config": json.dumps(config, sort_keys=True),
    }
    os.makedirs(FIXTURES, exist_ok=True)
    save_file(tensors, OUT, metadata=meta)
    sidecar = {
        "file": os.path.basename(OUT),
        "torch_version": torch.__version__,
        "command": COMMAND,
        "config": config,
        "loss": f32["loss"].item(),
        "loss_ls": f32["loss_ls"].item(),
        "sgd_losses": f32["sgd_losses"].tolist(),
        "nesterov_sgd_losses": f32["nesterov.sgd_losses"].tolist(),
        "lr005_sgd_losses": f32["lr005.sgd_losses"].tolist(),
        "lr005_sgd_losses_f64": f64["lr005.sgd_losses"].tolist(),
        "drift": drift,
    }
    with open(OUT_JSON, "w") as f:
        json.dump(sidecar, f, indent=1, sort_keys=True)
        f.write("\n")
    size = os.path.getsize(OUT)
    print(f"wrote {OUT} ({size} bytes, {len(tensors)} tensors, {n_params} trainable params)")
    print(f"loss {sidecar['loss']:.6f}  loss_ls {sidecar['loss_ls']:.6f}")
    print("sgd_losses", " ".join(f"{v:.6f}" for v in sidecar["sgd_losses"]))
    print("nesterov  ", " ".join(f"{v:.6f}" for v in sidecar["nesterov_sgd_losses"]))
    print("lr005 f32 ", " ".join(f"{v:.6f}" for v in sidecar["lr005_sgd_losses"]))
    print("lr005 f64 ", " ".join(f"{v:.6f}" for v in sidecar["lr005_sgd_losses_f64"]))
    worst = max(drift.items(), key=lambda kv: kv[1]["max_abs_diff"] / max(kv[1]["max_abs_f64"], 1e-30))
    print(f"largest relative f32/f64 drift: {worst[0]} {worst[1]}")


if __name__ == "__main__":
    main()
