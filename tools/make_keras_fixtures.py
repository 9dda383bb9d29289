#!/usr/bin/env python3
"""Keras fixtures for the Keras importer (crates/mobilenet/src/io/keras.rs), made by Keras itself
(`keras.applications.MobileNet`, random weights), with the outputs the Rust tests must reproduce.

What it makes (crates/mobilenet/tests/fixtures/)
-------------------------------------------------
keras_a025_top.weights.h5   model.save_weights() (the Keras 3 layout: layers/<name>/vars/<i>) of
                            MobileNet(alpha=0.25, input_shape=(64, 64, 3), classes=10,
                            weights=None): conv1, conv_dw_N / conv_pw_N, *_bn, conv_preds (1x1
                            conv with bias).
keras_a025_notop.h5         the same network without its top (include_top=False, pooling="avg"),
                            saved with model.save() in the legacy HDF5 format (model_weights/
                            <layer>/<layer>/<var>).
keras_reference.safetensors input (2, 64, 64, 3) NHWC, already in [-1, 1]; top.probabilities
                            (2, 10); notop.features (2, 256).

Every BatchNormalization gets random statistics (gamma U(0.5, 1.5), beta U(-0.2, 0.2),
moving_mean U(-0.1, 0.1), moving_variance U(0.5, 1.5)) so that a wrong mapping shows.

Rerun (Keras 3 on its PyTorch backend; needs keras, h5py, torch, safetensors from PyPI):
    /tmp/tv/bin/pip install keras h5py
    KERAS_BACKEND=torch /tmp/tv/bin/python tools/make_keras_fixtures.py
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import torch
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "crates", "mobilenet", "tests", "fixtures")


def randomize_bn(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([
                rng.uniform(0.5, 1.5, c).astype(np.float32),
                rng.uniform(-0.2, 0.2, c).astype(np.float32),
                rng.uniform(-0.1, 0.1, c).astype(np.float32),
                rng.uniform(0.5, 1.5, c).astype(np.float32),
            ])


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ref = {}
    x = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    ref["input"] = x

    top = keras.applications.MobileNet(input_shape=(64, 64, 3), alpha=0.25, weights=None, classes=10)
    randomize_bn(top, rng)
    ref["top.probabilities"] = np.asarray(top(x, training=False).detach().cpu())
    top.save_weights(os.path.join(OUT, "keras_a025_top.weights.h5"))

    notop = keras.applications.MobileNet(input_shape=(64, 64, 3), alpha=0.25, weights=None,
                                         include_top=False, pooling="avg")
    randomize_bn(notop, rng)
    ref["notop.features"] = np.asarray(notop(x, training=False).detach().cpu())
    notop.save(os.path.join(OUT, "keras_a025_notop.h5"))

    save_file({k: np.ascontiguousarray(v) for k, v in ref.items()}, os.path.join(OUT, "keras_reference.safetensors"))
    print(f"keras {keras.__version__} (backend {keras.backend.backend()}), torch {torch.__version__}")
    for k, v in ref.items():
        print(k, v.shape)


if __name__ == "__main__":
    main()
