#!/usr/bin/env python3
"""Reference image embeddings for `mobilenet embed`, from TensorFlow and from LiteRT.

What it does
------------
For each shipped test photo (crates/mobilenet/tests/fixtures/photos/*.png, the lossless
copies of ../shared/data/imagenet/photos, and assets/parrot.jpg) it

  1. loads the photo with PIL, converts it to RGB, resizes the whole image to 224x224 with
     Image.BILINEAR and saves that as a lossless PNG in
     crates/mobilenet/tests/fixtures/photos_224/ (our engine uses an image already at the input
     size unchanged, so the test feeds every framework the very same pixels: resize filters of
     two libraries differ by a pixel level here and there, which moves features by ~0.05);
  2. TensorFlow: feeds (x - 127.5) / 127.5 to the frozen float graph
     ../shared/data/imagenet/mobilenet_v1_1.0_224_frozen.pb (the built-in model's source) and
     reads `MobilenetV1/Logits/AvgPool_1a/AvgPool` (1x1x1024, the pooled features before the
     classifier's dropout and 1x1 conv);
  3. LiteRT: feeds the raw uint8 pixels to Google's uint8 extractor
     ../shared/data/imagenet/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite with the
     reference kernels (BUILTIN_REF, no XNNPACK), and dequantizes its 1x1x1024 uint8 output
     with the output tensor's scale and zero point.

Writes crates/mobilenet/tests/fixtures/embed_reference.json: per 224x224 photo, both 1024-d
vectors (rounded to 6 significant digits) and the SHA-256 of its uint8 pixels.

How to rerun
------------
    python3 -m venv .venv
    .venv/bin/pip install tensorflow-cpu ai-edge-litert numpy pillow
    .venv/bin/python tools/embed_reference.py
"""

import glob
import hashlib
import importlib.metadata
import json
import os

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "..", "shared", "data", "imagenet")
PB = os.path.join(DATA, "mobilenet_v1_1.0_224_frozen.pb")
EXTRACTOR = os.path.join(DATA, "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")
FIXTURES = os.path.join(REPO, "crates", "mobilenet", "tests", "fixtures")
OUT = os.path.join(FIXTURES, "embed_reference.json")
SMALL = os.path.join(FIXTURES, "photos_224")
NODE = "MobilenetV1/Logits/AvgPool_1a/AvgPool:0"


def photos():
    files = sorted(glob.glob(os.path.join(REPO, "crates", "mobilenet", "tests", "fixtures", "photos", "*.png")))
    files.append(os.path.join(REPO, "assets", "parrot.jpg"))
    return files


def resized(path):
    img = Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR)
    return np.asarray(img, np.uint8)


def tf_features(inputs):
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    with open(PB, "rb") as f:
        gd.ParseFromString(f.read())
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    rows = []
    with tf.compat.v1.Session(graph=g) as s:
        for img in inputs:
            x = (img[None].astype(np.float32) - 127.5) / 127.5
            rows.append(s.run(NODE, {"input:0": x}).reshape(-1))
    return np.stack(rows), tf.__version__


def litert_features(inputs):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=EXTRACTOR, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zp = out["quantization"]
    rows = []
    for x in inputs:
        it.set_tensor(inp["index"], x[None])
        it.invoke()
        q = it.get_tensor(out["index"]).reshape(-1).astype(np.float32)
        rows.append(scale * (q - zp))
    return np.stack(rows), {"scale": float(scale), "zero_point": int(zp)}


def main():
    os.makedirs(SMALL, exist_ok=True)
    files = []
    inputs = []
    for p in photos():
        x = resized(p)
        out = os.path.join(SMALL, os.path.splitext(os.path.basename(p))[0] + ".png")
        Image.fromarray(x).save(out, optimize=True)
        assert (np.asarray(Image.open(out).convert("RGB")) == x).all()
        files.append(out)
        inputs.append(x)
    tf_rows, tf_version = tf_features(inputs)
    lite_rows, quant = litert_features(inputs)
    result = {
        "generated_by": "tools/embed_reference.py",
        "tensorflow": tf_version,
        "ai_edge_litert": importlib.metadata.version("ai-edge-litert"),
        "tf_node": NODE,
        "extractor_output_quantization": quant,
        "preprocess": "photos_224/*.png = PIL convert('RGB').resize((224, 224), Image.BILINEAR) of the shipped photos; TF: (x - 127.5) / 127.5; LiteRT: raw uint8",
        "photos": {},
    }
    for path, x, t, l in zip(files, inputs, tf_rows, lite_rows):
        name = os.path.relpath(path, REPO)
        cos = float(np.dot(t, l) / (np.linalg.norm(t) * np.linalg.norm(l)))
        print(f"{name}: |tf| {np.linalg.norm(t):.3f}, cosine(tf, litert uint8) {cos:.4f}")
        result["photos"][name] = {
            "input_sha256": hashlib.sha256(x.tobytes()).hexdigest(),
            "tf": [float(f"{v:.6g}") for v in t],
            "litert_uint8": [float(f"{v:.6g}") for v in l],
        }
    with open(OUT, "w") as f:
        json.dump(result, f, indent=0)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
