#!/usr/bin/env python3
"""TensorFlow's own logits for the frozen MobileNet v1 1.0/224 graph, for our import and engine tests.

What it does
------------
Loads ../shared/data/imagenet/mobilenet_v1_1.0_224_frozen.pb into TensorFlow
(tf.compat.v1, the graph as frozen), feeds
  * a uniform grey image (all pixels 127.5, i.e. 0 after (x - 127.5) / 127.5), and
  * the shipped photo assets/parrot.jpg resized to 224x224 with PIL bilinear,
to the `input` placeholder and reads the logits node
`MobilenetV1/Logits/SpatialSqueeze` (pre-softmax, 1001 classes). Prints
argmax and the first five logits, and writes
crates/mobilenet/tests/fixtures/tf_reference.json with all 1001 logits of the grey
input (and the parrot's top-5), so the Rust test can compare every logit.

Usage
-----
    .venv/bin/pip install tensorflow-cpu pillow numpy
    .venv/bin/python tools/tf_reference.py
"""

import json
import os

import numpy as np
import tensorflow as tf
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PB = os.path.join(ROOT, "..", "shared", "data", "imagenet", "mobilenet_v1_1.0_224_frozen.pb")
OUT = os.path.join(ROOT, "crates", "mobilenet", "tests", "fixtures", "tf_reference.json")
LOGITS = "MobilenetV1/Logits/SpatialSqueeze:0"


def main():
    gd = tf.compat.v1.GraphDef()
    with open(PB, "rb") as f:
        gd.ParseFromString(f.read())
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    names = {n.name for n in gd.node}
    assert LOGITS.split(":")[0] in names, "logits node not found"
    grey = np.zeros((1, 224, 224, 3), np.float32)
    parrot = Image.open(os.path.join(ROOT, "assets", "parrot.jpg")).convert("RGB").resize((224, 224), Image.BILINEAR)
    parrot = ((np.asarray(parrot, np.float32) - 127.5) / 127.5)[None]
    with tf.compat.v1.Session(graph=g) as s:
        lg = s.run(LOGITS, {"input:0": grey})[0]
        lp = s.run(LOGITS, {"input:0": parrot})[0]
    print("grey: argmax", int(lg.argmax()), "logits[0:5]", np.round(lg[:5], 4).tolist())
    top = np.argsort(-lp)[:5]
    print("parrot: top-5", top.tolist(), np.round(lp[top], 4).tolist())
    json.dump({
        "generated_by": "tools/tf_reference.py",
        "tensorflow": tf.__version__,
        "graph": "mobilenet_v1_1.0_224_frozen.pb",
        "logits_node": LOGITS,
        "grey": {"input": "all pixels 127.5 (0 after scaling)", "argmax": int(lg.argmax()),
                 "logits": [float(v) for v in lg]},
        "parrot": {"input": "assets/parrot.jpg, PIL bilinear resize to 224x224, (x-127.5)/127.5",
                   "top5": [{"index": int(i), "logit": float(lp[i])} for i in top]},
    }, open(OUT, "w"), indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
