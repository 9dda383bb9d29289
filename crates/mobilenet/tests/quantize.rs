//! Post-training quantization (`mobilenet::quant::quantize`): the built-in float α1/224 model,
//! calibrated on the six test photos, runs on the int8 path with the float model's top-1 on
//! each photo and close probabilities; every kernel table gives the same bytes.

use std::path::{Path, PathBuf};

use mobilenet::image::{load_input, Preprocess};
use mobilenet::io::tflite::{export_tflite_quantized_bytes, import_tflite_quantized};
use mobilenet::quant::{quantize, QuantModel};
use mobilenet::{pretrained, Checkpoint, MobileNet, Tensor};

fn photos() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos_224");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 6, "{dir:?}");
    v
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// The built-in float model, its checkpoint and the six photos as one batch.
fn builtin_and_photos() -> (Checkpoint, MobileNet, Tensor) {
    let ckpt = pretrained::builtin().unwrap();
    let float = MobileNet::new(&ckpt, Path::new("<built-in>")).unwrap();
    let pre = Preprocess {
        size: 224,
        center_crop: None,
        normalization: ckpt.config.normalization,
    };
    let inputs: Vec<Tensor> = photos()
        .iter()
        .map(|p| load_input(p, &pre).unwrap())
        .collect();
    (ckpt, float, Tensor::stack(&inputs))
}

/// The int8 bytes `net` computes on `batch`, asserted equal on every kernel table.
fn same_bytes_on_every_table(net: &QuantModel, batch: &Tensor) -> Vec<u8> {
    let tables = mobilenet_kernels::testing::kernel_tables();
    let first = net.forward_u8(&tables[0], batch).unwrap();
    for t in &tables[1..] {
        assert_eq!(net.forward_u8(t, batch).unwrap(), first, "{}", t.isa);
    }
    first
}

/// Asserts the float model's top-1 on every photo; returns the largest difference of the
/// top-1 probability.
fn worst_top1_difference(got: &[f32], want: &[f32]) -> f32 {
    let mut worst = 0f32;
    for (i, (g, w)) in got.chunks(1001).zip(want.chunks(1001)).enumerate() {
        assert_eq!(argmax(g), argmax(w), "photo {i}: top-1");
        let top = argmax(w);
        println!("photo {i}: float {:.4}, int8 {:.4}", w[top], g[top]);
        worst = worst.max((g[top] - w[top]).abs());
    }
    worst
}

#[test]
fn quantized_builtin_model_keeps_the_float_top1() {
    let (ckpt, float, batch) = builtin_and_photos();
    let source = Path::new("<built-in>");
    let k = mobilenet_kernels::kernels();
    let q = quantize(k, &ckpt, &batch, source).unwrap();
    // Per-channel symmetric weights, zero points 0; 28 weighted layers + the pool.
    assert_eq!(q.layers.len(), 29);
    assert!(q.layers[1].weight_scale.len() == 32 && q.layers[1].weight_zero_point == [0; 32]);
    let net = QuantModel::new(&q, source).unwrap();
    let want = float.predict(&batch).unwrap();
    let first = same_bytes_on_every_table(&net, &batch);
    let got = net.probabilities(k, &batch).unwrap();
    let worst = worst_top1_difference(&got, &want);
    // Measured: 0.26 (two photos whose float top-1 is 0.53 and 0.80, where a logit moved by
    // a few uint8 steps of the classifier output shifts the softmax most).
    assert!(worst < 0.3, "top-1 probability moved by {worst}");
    println!("worst top-1 probability difference {worst:.4}");

    // Written as an int8 TFLite file and read back: the same layers, the same bytes out.
    let bytes = export_tflite_quantized_bytes(&q, Path::new("q.tflite")).unwrap();
    let back = import_tflite_quantized(&bytes, Path::new("q.tflite"))
        .unwrap()
        .expect("a quantized file");
    assert_eq!(back.config, q.config);
    assert_eq!(back.labels, q.labels);
    assert_eq!(back.input, q.input);
    assert_eq!(back.softmax, q.softmax);
    assert_eq!(back.layers, q.layers);
    let reread = QuantModel::new(&back, source).unwrap();
    assert_eq!(reread.forward_u8(k, &batch).unwrap(), first);
}

/// 7-bit weights (`quantize_with(…, 7)`): every weight within −63..=63, the float model's
/// top-1 on every photo, and every kernel table the same bytes, so the AVX2 byte-pair GEMM
/// these weights select (`QPointwise::byte_pairs_exact`) is exact against the reference.
#[test]
fn seven_bit_weights_keep_the_top1_and_run_exactly() {
    let (ckpt, float, batch) = builtin_and_photos();
    let source = Path::new("<built-in>");
    let k = mobilenet_kernels::kernels();
    let q = mobilenet::quant::quantize_with(k, &ckpt, &batch, source, 7).unwrap();
    for l in &q.layers {
        assert!(
            l.weight.iter().all(|&w| (-63..=63).contains(&w)),
            "{}: a weight outside 7 bits",
            l.name
        );
    }
    let net = QuantModel::new(&q, source).unwrap();
    same_bytes_on_every_table(&net, &batch);
    let want = float.predict(&batch).unwrap();
    let got = net.probabilities(k, &batch).unwrap();
    let worst = worst_top1_difference(&got, &want);
    println!("7-bit weights: worst top-1 probability difference {worst:.4}");
    assert!(worst < 0.3, "top-1 probability moved by {worst}");
    let err = mobilenet::quant::quantize_with(k, &ckpt, &batch, source, 6).unwrap_err();
    assert!(err.to_string().contains("6 bits"), "{err}");
}
