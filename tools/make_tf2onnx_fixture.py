#!/usr/bin/env python3
"""An ONNX fixture as tf2onnx writes one, for the ONNX importer: TensorFlow's Keras MobileNet
converted by tf2onnx, with Keras's outputs for the Rust test to match.

What it makes (crates/mobilenet/tests/fixtures/)
-------------------------------------------------
tf2onnx_keras_a025.onnx       keras.applications.MobileNet(alpha=0.25, input_shape=(64, 64, 3),
                              classes=10, weights=None) on TensorFlow, random BatchNorm statistics,
                              through tf2onnx.convert.from_function (opset 13): NHWC input and a
                              Transpose, BatchNorm folded by tf2onnx into the convolutions or left
                              as a per-channel Mul/Add, ReLU6 as Clip, Keras's explicit Pads, the
                              classifier a 1x1 Conv between Reshapes.
tf2onnx_reference.safetensors input (2, 64, 64, 3) NHWC in [-1, 1]; probabilities (2, 10) from Keras.

Rerun (tensorflow-cpu and tf2onnx from PyPI):
    python3 -m venv /tmp/tfv && /tmp/tfv/bin/pip install tensorflow-cpu tf2onnx safetensors
    /tmp/tfv/bin/python tools/make_tf2onnx_fixture.py
"""

import os

import keras
import numpy as np
import tensorflow as tf
import tf2onnx
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "mobilenet", "tests", "fixtures")


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    model = keras.applications.MobileNet(input_shape=(64, 64, 3), alpha=0.25, weights=None, classes=10)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.uniform(-0.2, 0.2, c),
                               rng.uniform(-0.1, 0.1, c), rng.uniform(0.5, 1.5, c)])
    x = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    probs = np.asarray(model(x, training=False))
    spec = (tf.TensorSpec((None, 64, 64, 3), tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def forward(inp):
        return model(inp, training=False)

    tf2onnx.convert.from_function(forward, input_signature=spec, opset=13,
                                  output_path=os.path.join(OUT, "tf2onnx_keras_a025.onnx"))
    save_file({"input": x, "probabilities": probs.astype(np.float32)},
              os.path.join(OUT, "tf2onnx_reference.safetensors"))
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, tf2onnx {tf2onnx.__version__}")


if __name__ == "__main__":
    main()
