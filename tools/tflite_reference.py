#!/usr/bin/env python3
"""Reference top-5 predictions of Google's quantized MobileNet v1 TFLite models.

What it does
------------
For each uint8-quantized classifier in /work/shared/data/imagenet/
(mobilenet_v1_{0.25_128,0.5_160,0.75_192}_quant.tflite) and each photo in
/work/shared/data/imagenet/photos/, it

  1. loads the photo with PIL, converts it to RGB and resizes the WHOLE image
     (no crop, aspect ratio not kept) to R x R with ``Image.BILINEAR``
     (PIL's bilinear is a triangle filter whose support widens when
     downscaling, i.e. the same as the Rust side's bilinear/triangle resize);
  2. feeds the raw uint8 HWC pixels (no normalisation: the model's input
     quantization, scale 1/128 zero point 128, does that) to the LiteRT
     interpreter (``ai_edge_litert.interpreter.Interpreter``) with the
     BUILTIN_REF op resolver, i.e. TFLite's reference kernels and no
     XNNPACK delegate;
  3. records the top-5 classes: index into the 1001 outputs (0 = background),
     label, the uint8 output value and its dequantized probability
     (scale * (q - zero_point)). Ties in the uint8 scores are broken by lower
     index first.

It also runs the default interpreter (optimized kernels + XNNPACK delegate)
and stores, per photo, the largest absolute difference between the two uint8
output vectors (``max_abs_diff_vs_default``), so one can see how much two
correct TFLite implementations disagree. ``output_hex`` is the whole uint8
output vector of the reference runtime (two hex digits per value), which the
native int8 path must match within one quantization step. The embedding
extractor (the α 1.0/224 body) has no classifier: its "top" ranks pooled
features, not classes. ``input_sha256`` is the SHA-256 of the
resized R*R*3 uint8 input, so the Rust preprocessing can be checked for
byte-equality.

Output: crates/mobilenet/tests/fixtures/tflite_reference.json and a table of
the top-3 per photo per model on stdout.

How to rerun
------------
    python3 -m venv .venv
    .venv/bin/pip install ai-edge-litert numpy pillow
    .venv/bin/python tools/tflite_reference.py            # writes the fixture
    .venv/bin/python tools/tflite_reference.py --inspect  # also dumps tensors/ops
    .venv/bin/python tools/tflite_reference.py --inspect --no-write  # dump only
    .venv/bin/python tools/tflite_reference.py --no-write --dump DIR  # every tensor
        # of the first photo through each model, as DIR/<model>/<index>.npy (for
        # finding the first layer where an int8 implementation parts from TFLite)

``--inspect`` parses each .tflite flatbuffer with the schema bundled in
ai_edge_litert (schema_py_generated) and prints every tensor (index, name,
shape, dtype, buffer index, quantization scale/zero point, per-channel or not)
and every operator in execution order with its builtin options (stride,
padding, fused activation, depth multiplier, filter size, ...).
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys

import numpy as np
from PIL import Image

DATA = "/work/shared/data/imagenet"
PHOTOS = os.path.join(DATA, "photos")
LABELS = os.path.join(DATA, "imagenet_labels.txt")
MODELS = [
    ("mobilenet_v1_0.25_128_quant", 128),
    ("mobilenet_v1_0.5_160_quant", 160),
    ("mobilenet_v1_0.75_192_quant", 192),
    ("mobilenet_v1_1.0_224_quant_embedding_extractor", 224),
]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_JSON = os.path.join(REPO, "crates", "mobilenet", "tests", "fixtures", "tflite_reference.json")
TOPK = 5
# The resized inputs are written as lossless PNGs beside the fixtures for these resolutions
# (photos_224/ comes from tools/embed_reference.py and holds the same pixels), so that the
# int8 test feeds TFLite's exact input bytes.
SHIPPED_INPUTS = (128,)
FIXTURES = os.path.join(REPO, "crates", "mobilenet", "tests", "fixtures")
PREPROCESS = (
    "PIL Image.open(path).convert('RGB').resize((R, R), Image.BILINEAR): whole image, "
    "no crop, aspect ratio not preserved, bilinear/triangle filter (antialiased on "
    "downscale); raw uint8 RGB, NHWC [1,R,R,3], no normalisation"
)


def load_labels():
    with open(LABELS, encoding="utf-8") as f:
        labels = [line.rstrip("\n") for line in f]
    assert len(labels) == 1001, len(labels)
    return labels


def preprocess(path, res):
    img = Image.open(path).convert("RGB").resize((res, res), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    assert arr.shape == (res, res, 3)
    return arr


def make_interpreter(model_path, resolver, keep_all=False):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=model_path,
        num_threads=1,
        experimental_op_resolver_type=getattr(OpResolverType, resolver),
        experimental_preserve_all_tensors=keep_all,
    )
    interp.allocate_tensors()
    return interp


def run(interp, arr):
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    interp.set_tensor(inp["index"], arr[None, ...])
    interp.invoke()
    q = interp.get_tensor(out["index"]).reshape(-1).copy()
    scale, zp = out["quantization"]
    return q, float(scale), int(zp)


def topk(q, scale, zp, labels, k=TOPK):
    # stable sort on -q: ties broken by lower index
    order = np.argsort(-q.astype(np.int32), kind="stable")[:k]
    return [
        {
            "index": int(i),
            "label": labels[i] if len(q) == len(labels) else f"feature {i}",
            "score": int(q[i]),
            "prob": round(scale * (int(q[i]) - zp), 8),
        }
        for i in order
    ]


# ----------------------------------------------------------------------------
# --inspect: flatbuffer dump


def _enum_names(cls):
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def inspect_model(path):
    from ai_edge_litert import schema_py_generated as s

    with open(path, "rb") as f:
        buf = f.read()
    model = s.ModelT.InitFromPackedBuf(buf, 0)
    op_names = _enum_names(s.BuiltinOperator)
    type_names = _enum_names(s.TensorType)
    pad_names = _enum_names(s.Padding)
    act_names = _enum_names(s.ActivationFunctionType)
    opt_names = _enum_names(s.BuiltinOptions)

    print(f"=== {os.path.basename(path)}  ({len(buf)} bytes)")
    print(f"file_identifier={buf[4:8]!r} schema version={model.version} "
          f"subgraphs={len(model.subgraphs)} buffers={len(model.buffers)} "
          f"operator_codes={len(model.operatorCodes)} "
          f"description={model.description!r}")
    for i, oc in enumerate(model.operatorCodes):
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        print(f"  opcode[{i}] = {op_names.get(code, code)} "
              f"(deprecated_builtin_code={oc.deprecatedBuiltinCode}, builtin_code={oc.builtinCode}, "
              f"version={oc.version})")
    sg = model.subgraphs[0]
    print(f"subgraph name={sg.name!r} inputs={[int(i) for i in sg.inputs]} outputs={[int(i) for i in sg.outputs]} "
          f"tensors={len(sg.tensors)} operators={len(sg.operators)}")

    def shp(t):
        return [int(d) for d in t.shape]

    def dec(x):
        return x.decode() if isinstance(x, bytes) else x

    print("tensors:")
    for ti, t in enumerate(sg.tensors):
        q = t.quantization
        qs = ""
        if q is not None and q.scale is not None and len(q.scale):
            sc = np.asarray(q.scale)
            zp = np.asarray(q.zeroPoint)
            if len(sc) == 1:
                qs = f"scale={float(sc[0]):.9g} zp={int(zp[0])}"
            else:
                qs = (f"PER-CHANNEL[{len(sc)}] axis={q.quantizedDimension} "
                      f"scale[0]={float(sc[0]):.6g} zp[0]={int(zp[0])}")
            if q.min is not None and len(q.min):
                qs += f" min={float(q.min[0]):.6g} max={float(q.max[0]):.6g}"
        b = model.buffers[t.buffer]
        nbytes = 0 if b.data is None else len(b.data)
        if t.type == s.TensorType.INT32 and 0 < nbytes <= 16:
            qs += f" value={np.frombuffer(bytes(b.data), dtype='<i4').tolist()}"
        print(f"  t{ti:<3} {dec(t.name):<62} {str(shp(t)):<18} "
              f"{type_names.get(t.type, t.type):<7} buf={t.buffer:<3} bytes={nbytes:<7} {qs}")

    print("operators (execution order):")
    for oi, op in enumerate(sg.operators):
        oc = model.operatorCodes[op.opcodeIndex]
        name = op_names.get(max(oc.builtinCode, oc.deprecatedBuiltinCode))
        opts = op.builtinOptions
        desc = []
        if opts is not None:
            for k, v in vars(opts).items():
                if k == "padding":
                    v = pad_names.get(v, v)
                elif k == "fusedActivationFunction":
                    v = act_names.get(v, v)
                elif isinstance(v, np.ndarray):
                    v = v.tolist()
                desc.append(f"{k}={v}")
        optname = opt_names.get(op.builtinOptionsType, op.builtinOptionsType)
        ins = ", ".join(f"t{i}{shp(sg.tensors[i])}" if i >= 0 else "-" for i in op.inputs)
        outs = ", ".join(f"t{i}{shp(sg.tensors[i])}" for i in op.outputs)
        print(f"  op{oi:<2} {name:<18} in=[{ins}] out=[{outs}]")
        print(f"        {optname}: {' '.join(desc)}")
    print()


# ----------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inspect", action="store_true", help="dump tensors and ops of each model")
    ap.add_argument("--no-write", action="store_true", help="do not write the JSON fixture")
    ap.add_argument("--out", default=OUT_JSON, help="fixture path (default: %(default)s)")
    ap.add_argument("--dump", metavar="DIR", help="save every tensor of the first photo per model")
    args = ap.parse_args()

    if args.inspect:
        for name, _ in MODELS:
            inspect_model(os.path.join(DATA, name + ".tflite"))

    labels = load_labels()
    photos = sorted(p for p in os.listdir(PHOTOS) if p.lower().endswith((".bmp", ".jpg", ".jpeg", ".png")))
    version = importlib.metadata.version("ai-edge-litert")
    result = {
        "runtime": f"ai-edge-litert {version}",
        "op_resolver": "BUILTIN_REF (TFLite reference kernels, no XNNPACK)",
        "generated_by": "tools/tflite_reference.py",
        "preprocess": PREPROCESS,
        "labels": "imagenet_labels.txt, 1001 lines, index 0 = background",
        "score": "uint8 output value; prob = output_scale * (score - output_zero_point)",
        "models": {},
    }

    table = []
    for name, res in MODELS:
        path = os.path.join(DATA, name + ".tflite")
        ref = make_interpreter(path, "BUILTIN_REF")
        dflt = make_interpreter(path, "AUTO")
        inp = ref.get_input_details()[0]
        out = ref.get_output_details()[0]
        assert list(inp["shape"]) == [1, res, res, 3] and inp["dtype"] == np.uint8
        entry = {
            "resolution": res,
            "file": name + ".tflite",
            "input": {"name": inp["name"], "shape": [int(x) for x in inp["shape"]],
                      "scale": float(inp["quantization"][0]), "zero_point": int(inp["quantization"][1])},
            "output": {"name": out["name"], "shape": [int(x) for x in out["shape"]],
                       "scale": float(out["quantization"][0]), "zero_point": int(out["quantization"][1])},
            "photos": {},
        }
        if args.dump:
            keep = make_interpreter(path, "BUILTIN_REF", keep_all=True)
            run(keep, preprocess(os.path.join(PHOTOS, photos[0]), res))
            folder = os.path.join(args.dump, name)
            os.makedirs(folder, exist_ok=True)
            for t in keep.get_tensor_details():
                try:
                    np.save(os.path.join(folder, f"{t['index']}.npy"), keep.get_tensor(t["index"]))
                except ValueError:
                    pass
        for photo in photos:
            arr = preprocess(os.path.join(PHOTOS, photo), res)
            if res in SHIPPED_INPUTS and not args.no_write:
                folder = os.path.join(FIXTURES, f"photos_{res}")
                os.makedirs(folder, exist_ok=True)
                png = os.path.join(folder, os.path.splitext(photo)[0] + ".png")
                Image.fromarray(arr).save(png, optimize=True)
            q, scale, zp = run(ref, arr)
            q2, _, _ = run(dflt, arr)
            top = topk(q, scale, zp, labels)
            entry["photos"][photo] = {
                "top": top,
                "input_sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
                "output_hex": q.astype(np.uint8).tobytes().hex(),
                "max_abs_diff_vs_default": int(np.max(np.abs(q.astype(np.int32) - q2.astype(np.int32)))),
                "top1_default": int(np.argsort(-q2.astype(np.int32), kind="stable")[0]),
            }
            table.append((name, photo, top[:3], entry["photos"][photo]["max_abs_diff_vs_default"]))
        result["models"][name] = entry

    # readable table
    print(f"runtime: {result['runtime']}  op resolver: BUILTIN_REF")
    hdr = f"{'model':<28} {'photo':<17} {'top-1':<34} {'top-2':<34} {'top-3':<34} {'d':>2}"
    print(hdr)
    print("-" * len(hdr))
    for name, photo, top, d in table:
        cells = [f"{t['index']:>4} {t['label'][:19]:<19} {t['score']:>3} {t['prob']:.3f}" for t in top]
        print(f"{name:<28} {photo:<17} " + " ".join(f"{c:<34}" for c in cells) + f" {d:>2}")
    print("(cells: index label uint8-score prob; d = max |ref - default(XNNPACK)| over the 1001 uint8 outputs)")

    if not args.no_write:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        print(f"wrote {os.path.relpath(args.out, REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
