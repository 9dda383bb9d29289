//! The PyTorch golden fixture for training (tests/fixtures/golden_cifar_a025.safetensors, made by
//! tools/make_golden.py) is complete and self-consistent: every key the training tests will read
//! is there with the documented dtype and shape, and its SGD numbers follow PyTorch's update rule
//! as the script's docstring states it.

use std::collections::BTreeMap;

use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden_cifar_a025.safetensors"
);

struct T {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn load() -> (BTreeMap<String, T>, BTreeMap<String, String>) {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let data: Vec<f64> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect(),
            Dtype::F64 => raw
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            Dtype::I64 => raw
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect(),
            d => panic!("{name}: unexpected dtype {d:?}"),
        };
        let t = T {
            dtype: view.dtype(),
            shape: view.shape().to_vec(),
            data,
        };
        out.insert(name, t);
    }
    (out, meta.into_iter().collect())
}

fn is_param(name: &str) -> bool {
    !name.ends_with("running_mean") && !name.ends_with("running_var")
}

#[test]
fn keys_dtypes_and_shapes() {
    let (t, meta) = load();
    assert!(meta.contains_key("torch_version"), "{meta:?}");
    assert!(meta.contains_key("config"));
    for (name, v) in &t {
        let want = if name.starts_with("f64.") {
            Dtype::F64
        } else if name == "labels" {
            Dtype::I64
        } else {
            Dtype::F32
        };
        assert_eq!(v.dtype, want, "{name}");
    }
    assert_eq!(t["input"].shape, [4, 3, 32, 32]);
    assert_eq!(t["input_nhwc"].shape, [4, 32, 32, 3]);
    assert_eq!(t["labels"].data, [3.0, 1.0, 7.0, 0.0]);
    for k in [
        "logits",
        "sgd_final_eval_logits",
        "nesterov.sgd_final_eval_logits",
    ] {
        assert_eq!(t[k].shape, [4, 10], "{k}");
    }
    for k in ["sgd_losses", "nesterov.sgd_losses", "lr005.sgd_losses"] {
        assert_eq!(t[k].shape, [5], "{k}");
    }

    // NHWC input is the NCHW one transposed.
    let (nchw, nhwc) = (&t["input"].data, &t["input_nhwc"].data);
    for n in 0..4 {
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let a = nchw[((n * 3 + c) * 32 + y) * 32 + x];
                    let b = nhwc[((n * 32 + y) * 32 + x) * 3 + c];
                    assert_eq!(a, b);
                }
            }
        }
    }

    let init: Vec<&str> = t.keys().filter_map(|k| k.strip_prefix("init.")).collect();
    // 27 convs (stem, 13 × depthwise + pointwise), linear weight and bias, 27 BNs of 4 entries.
    assert_eq!(init.len(), 27 + 2 + 27 * 4, "{init:?}");
    let mut params = 0;
    for name in &init {
        let shape = &t[&format!("init.{name}")].shape;
        for prefix in ["sgd_final", "lr005.step1"] {
            assert_eq!(
                &t[&format!("{prefix}.{name}")].shape,
                shape,
                "{prefix}.{name}"
            );
        }
        let grad = t.get(&format!("grad.{name}"));
        let running = t.get(&format!("running_after_1.{name}"));
        if is_param(name) {
            assert_eq!(&grad.unwrap().shape, shape, "grad.{name}");
            assert!(running.is_none());
            params += shape.iter().product::<usize>();
        } else {
            assert!(grad.is_none());
            assert_eq!(&running.unwrap().shape, shape, "running_after_1.{name}");
        }
    }
    assert_eq!(params, 215_642);
    assert_eq!(t["init.conv1.weight"].shape, [8, 3, 3, 3]);
    assert_eq!(t["init.layers.0.conv1.weight"].shape, [8, 1, 3, 3]);
    assert_eq!(t["init.layers.0.conv2.weight"].shape, [16, 8, 1, 1]);
    assert_eq!(t["init.layers.12.conv2.weight"].shape, [256, 256, 1, 1]);
    assert_eq!(t["init.linear.weight"].shape, [10, 256]);
}

#[test]
fn losses_agree_where_they_are_the_same_forward() {
    let (t, _) = load();
    let loss = t["loss"].data[0];
    assert_eq!(t["sgd_losses"].data[0], loss);
    assert_eq!(t["nesterov.sgd_losses"].data[0], loss);
    assert_eq!(t["lr005.sgd_losses"].data[0], loss);
    assert!((t["f64.loss"].data[0] - loss).abs() < 1e-5);
    // Label smoothing moves the loss a little toward log(10).
    let ls = t["loss_ls"].data[0];
    assert!(ls != loss && (ls - loss).abs() < 0.1, "{ls} vs {loss}");
}

/// PyTorch's SGD with momentum 0.9 and weight decay 5e-4, as the script documents it.
fn sgd(p: &mut [f32], buf: &mut Option<Vec<f32>>, g: &[f32], lr: f32, nesterov: bool) {
    let (m, wd) = (0.9f32, 5e-4f32);
    let d: Vec<f32> = g.iter().zip(p.iter()).map(|(g, p)| g + wd * p).collect();
    let b = match buf.take() {
        None => d.clone(),
        Some(b) => b.iter().zip(&d).map(|(b, d)| m * b + d).collect(),
    };
    for i in 0..p.len() {
        let step = if nesterov { d[i] + m * b[i] } else { b[i] };
        p[i] -= lr * step;
    }
    *buf = Some(b);
}

#[test]
fn sgd_follows_pytorch_update_rule() {
    let (t, _) = load();
    let f32s = |k: &str| -> Vec<f32> { t[k].data.iter().map(|&v| v as f32).collect() };
    let grads = f32s("sgd_unit.grads");
    for (key, nesterov) in [("sgd_unit.after", false), ("sgd_unit.nesterov_after", true)] {
        let want = f32s(key);
        let mut p = f32s("sgd_unit.p0");
        let mut buf = None;
        for step in 0..5 {
            sgd(&mut p, &mut buf, &grads[step * 16..][..16], 0.05, nesterov);
            for (i, (a, b)) in p.iter().zip(&want[step * 16..][..16]).enumerate() {
                assert!((a - b).abs() < 1e-6, "{key} step {step} [{i}]: {a} vs {b}");
            }
        }
    }

    // One full-network step at lr 0.05 is init - lr * (grad + wd * init), for every parameter.
    for name in t.keys().filter_map(|k| k.strip_prefix("grad.")) {
        let p0 = f32s(&format!("init.{name}"));
        let g = f32s(&format!("grad.{name}"));
        let want = f32s(&format!("lr005.step1.{name}"));
        let mut p = p0.clone();
        sgd(&mut p, &mut None, &g, 0.05, false);
        for (i, (a, b)) in p.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 + 1e-5 * b.abs(),
                "{name}[{i}]: {a} vs {b}"
            );
        }
    }
}
