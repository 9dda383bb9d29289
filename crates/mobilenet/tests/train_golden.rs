//! The training network against PyTorch: `tools/make_golden.py` ran the classic PyTorch
//! CIFAR-10 MobileNet v1 (α = 0.25, batch 4) and stored its initial weights, train-mode logits,
//! loss, every parameter gradient, the BatchNorm running statistics after one forward, and the
//! state after SGD-momentum steps (`tests/fixtures/golden_cifar_a025.*`). This test loads the
//! same initial weights through the PyTorch name table and layout transform below and compares
//! everything, on every kernel table the CPU runs.

use std::collections::HashMap;
use std::path::Path;

use mobilenet::train::{
    softmax_cross_entropy, DecayRule, Mode, Optimizer, OptimizerKind, TrainNet,
};
use mobilenet::{Checkpoint, MobileNetConfig, Param, Weights};
use mobilenet_kernels::{Isa, Kernels};

const FIXTURE: &str = "tests/fixtures/golden_cifar_a025.safetensors";

struct Golden {
    t: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Golden {
    fn load() -> Golden {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut t = HashMap::new();
        for (name, view) in st.tensors() {
            let data: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
                safetensors::Dtype::F64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
                    .collect(),
                safetensors::Dtype::I64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32)
                    .collect(),
                d => panic!("{name}: dtype {d:?}"),
            };
            t.insert(name.to_string(), (view.shape().to_vec(), data));
        }
        Golden { t }
    }

    fn get(&self, name: &str) -> &[f32] {
        &self
            .t
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
            .1
    }
}

/// PyTorch CIFAR name → (our name, layout). The one name table of the PyTorch CIFAR code.
fn our_name(pt: &str) -> String {
    let map_bn = |prefix: &str, rest: &str| format!("{prefix}.bn.{rest}");
    if let Some(rest) = pt.strip_prefix("bn1.") {
        return map_bn("stem", rest);
    }
    if pt == "conv1.weight" {
        return "stem.weight".into();
    }
    if let Some(rest) = pt.strip_prefix("linear.") {
        return format!("fc.{rest}");
    }
    let rest = pt.strip_prefix("layers.").expect(pt);
    let (i, rest) = rest.split_once('.').unwrap();
    match rest {
        "conv1.weight" => format!("blocks.{i}.dw.weight"),
        "conv2.weight" => format!("blocks.{i}.pw.weight"),
        _ => {
            let (bn, field) = rest.split_once('.').unwrap();
            let layer = if bn == "bn1" { "dw" } else { "pw" };
            map_bn(&format!("blocks.{i}.{layer}"), field)
        }
    }
}

/// PyTorch layout → ours: OIHW → HWIO, (C, 1, 3, 3) → (3, 3, C), (O, I, 1, 1) → (I, O),
/// linear (O, I) → (I, O).
fn to_ours(shape: &[usize], d: &[f32]) -> (Vec<usize>, Vec<f32>) {
    match shape {
        [o, 1, 3, 3] if *o > 0 && d.len() == o * 9 && shape[1] == 1 => {
            let c = *o;
            let mut out = vec![0.0; 9 * c];
            for ch in 0..c {
                for k in 0..9 {
                    out[k * c + ch] = d[ch * 9 + k];
                }
            }
            (vec![3, 3, c], out)
        }
        [o, i, 3, 3] => {
            let (o, i) = (*o, *i);
            let mut out = vec![0.0; 9 * i * o];
            for oc in 0..o {
                for ic in 0..i {
                    for k in 0..9 {
                        out[(k * i + ic) * o + oc] = d[(oc * i + ic) * 9 + k];
                    }
                }
            }
            (vec![3, 3, i, o], out)
        }
        [o, i, 1, 1] | [o, i] => {
            let (o, i) = (*o, *i);
            let mut out = vec![0.0; i * o];
            for oc in 0..o {
                for ic in 0..i {
                    out[ic * o + oc] = d[oc * i + ic];
                }
            }
            (vec![i, o], out)
        }
        _ => (shape.to_vec(), d.to_vec()),
    }
}

fn config() -> MobileNetConfig {
    let mut c = MobileNetConfig::cifar();
    c.width = 0.25;
    c
}

fn net_from(g: &Golden, prefix: &str) -> TrainNet {
    let mut w = Weights::new();
    for (name, (shape, data)) in &g.t {
        if let Some(pt) = name.strip_prefix(prefix) {
            let (s, d) = to_ours(shape, data);
            w.insert(our_name(pt), Param::new(s, d));
        }
    }
    let ckpt = Checkpoint {
        config: config(),
        weights: w,
        labels: vec![],
    };
    TrainNet::from_checkpoint(&ckpt, Path::new(FIXTURE)).unwrap()
}

/// max |a − b| / max(max |b|, floor): the error relative to the tensor's own scale.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs() as f64))
        .max(1e-6);
    let err = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
    err / scale
}

fn tables() -> Vec<Kernels> {
    Isa::available()
        .into_iter()
        .map(|i| Kernels::for_isa(i).unwrap())
        .collect()
}

/// Our name and value of every trainable parameter and running statistic, in our layout.
fn state(net: &TrainNet) -> HashMap<String, Vec<f32>> {
    net.to_checkpoint()
        .weights
        .iter()
        .map(|(n, p)| (n.to_string(), p.data.clone()))
        .collect()
}

fn compare_state(g: &Golden, prefix: &str, net: &TrainNet, tol: f64, what: &str) {
    let ours = state(net);
    let mut worst = (0.0, String::new());
    for (name, (shape, data)) in &g.t {
        let Some(pt) = name.strip_prefix(prefix) else {
            continue;
        };
        let (_, want) = to_ours(shape, data);
        let e = rel_err(&ours[&our_name(pt)], &want);
        if e > worst.0 {
            worst = (e, pt.to_string());
        }
        assert!(
            e < tol,
            "{what}: {pt} differs from PyTorch by {e:.2e} of its scale"
        );
    }
    eprintln!("{what}: worst {} at {:.2e}", worst.1, worst.0);
}

#[test]
fn forward_loss_gradients_and_running_stats_match_pytorch() {
    let g = Golden::load();
    let x = g.get("input_nhwc").to_vec();
    let labels: Vec<u32> = g.get("labels").iter().map(|&v| v as u32).collect();
    for k in tables() {
        let mut net = net_from(&g, "init.");
        let logits = net.forward(&k, &x, 4, Mode::Train).unwrap().to_vec();
        let e = rel_err(&logits, g.get("logits"));
        eprintln!("{}: logits rel err {e:.2e}", k.isa);
        assert!(e < 1e-4, "{}: logits differ by {e:.2e}", k.isa);
        let mut d = vec![0.0; 40];
        let s = softmax_cross_entropy(&logits, &labels, 10, 0.0, Some(&mut d));
        assert!(
            (s.loss - g.get("loss")[0] as f64).abs() < 1e-5,
            "loss {}",
            s.loss
        );
        let ls = softmax_cross_entropy(&logits, &labels, 10, 0.1, None);
        assert!(
            (ls.loss - g.get("loss_ls")[0] as f64).abs() < 1e-5,
            "loss_ls {}",
            ls.loss
        );
        compare_state(
            &g,
            "running_after_1.",
            &net,
            1e-5,
            "running stats after one forward",
        );
        net.backward(&k, &x, &d).unwrap();
        let mut grads = HashMap::new();
        net.visit_params(|_, name, _, _, gr| {
            grads.insert(name.to_string(), gr.to_vec());
        });
        let mut worst = (0.0, String::new());
        for (name, (shape, data)) in &g.t {
            let Some(pt) = name.strip_prefix("grad.") else {
                continue;
            };
            let (_, want) = to_ours(shape, data);
            let e = rel_err(&grads[&our_name(pt)], &want);
            if e > worst.0 {
                worst = (e, pt.to_string());
            }
            assert!(
                e < 1e-3,
                "{}: gradient of {pt} differs by {e:.2e} of its scale",
                k.isa
            );
        }
        eprintln!("{}: gradients worst {} at {:.2e}", k.isa, worst.1, worst.0);
    }
}

#[test]
fn five_sgd_momentum_steps_match_pytorch() {
    let g = Golden::load();
    let x = g.get("input_nhwc").to_vec();
    let labels: Vec<u32> = g.get("labels").iter().map(|&v| v as u32).collect();
    for (lr, steps, prefix, losses_key, nesterov) in [
        (1e-5, 5, "sgd_final.", "sgd_losses", false),
        (1e-5, 5, "", "nesterov.sgd_losses", true),
        (0.05, 1, "lr005.step1.", "lr005.sgd_losses", false),
    ] {
        for k in tables() {
            let mut net = net_from(&g, "init.");
            let kind = OptimizerKind::Sgd {
                momentum: 0.9,
                nesterov,
            };
            let mut opt = Optimizer::new(kind, 5e-4, DecayRule::All);
            let want_losses = g.get(losses_key);
            for step in 0..steps {
                let logits = net.forward(&k, &x, 4, Mode::Train).unwrap().to_vec();
                let mut d = vec![0.0; 40];
                let s = softmax_cross_entropy(&logits, &labels, 10, 0.0, Some(&mut d));
                // Batch 4 with 2×2 maps makes BatchNorm very sensitive: PyTorch's own f32 and f64
                // runs drift apart after two steps (fixture JSON, `drift`), and so do kernel
                // tables that round differently. The first two steps are compared tightly.
                // The Nesterov run is the most sensitive: on the SIMD tables only its first two
                // steps are compared; the reference table follows PyTorch through all five.
                if nesterov && step >= 2 && k.isa != Isa::Reference {
                    break;
                }
                let tol = if step < 2 { 2e-5 } else { 2e-3 };
                assert!(
                    (s.loss - want_losses[step] as f64).abs() < tol,
                    "{} {losses_key}[{step}]: {} vs {}",
                    k.isa,
                    s.loss,
                    want_losses[step]
                );
                net.backward(&k, &x, &d).unwrap();
                opt.step(&mut net, lr, 1.0);
            }
            if !prefix.is_empty() {
                compare_state(&g, prefix, &net, 1e-4, &format!("{} {prefix}", k.isa));
            }
            if steps == 5 && !(nesterov && k.isa != Isa::Reference) {
                let key = if nesterov {
                    "nesterov.sgd_final_eval_logits"
                } else {
                    "sgd_final_eval_logits"
                };
                let logits = net.forward(&k, &x, 4, Mode::Eval).unwrap().to_vec();
                let e = rel_err(&logits, g.get(key));
                let tol = if nesterov { 1e-2 } else { 1e-4 };
                assert!(e < tol, "{} {key}: {e:.2e}", k.isa);
            }
        }
    }
}
