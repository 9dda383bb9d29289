//! Compares the int8 plan layer by layer with tensors dumped by
//! `tools/tflite_reference.py --dump DIR`: `int8_trace MODEL.tflite DIR/<model> INPUT_TENSOR_INDEX
//! FIRST_OUTPUT_INDEX` feeds TFLite's own input bytes and prints, per layer, how many outputs
//! differ and by how much (layer i is compared with tensor FIRST + 2i, the layout of Google's
//! files: every layer's output is two tensor indices after the previous one).

use std::path::Path;

use mobilenet::io::tflite::import_tflite_quantized;
use mobilenet::quant::QuantModel;
use mobilenet::Tensor;

fn npy_u8(path: &Path) -> Vec<u8> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = u16::from_le_bytes([b[8], b[9]]) as usize;
    b[10 + header..].to_vec()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, dir) = (Path::new(&args[1]), Path::new(&args[2]));
    let input: usize = args[3].parse().unwrap();
    let first: usize = args[4].parse().unwrap();
    let q = import_tflite_quantized(&std::fs::read(model).unwrap(), model)
        .unwrap()
        .expect("quantized");
    let net = QuantModel::new(&q, model).unwrap();
    let [h, w, c] = net.input_hwc();
    let pixels = npy_u8(&dir.join(format!("{input}.npy")));
    let data = pixels.iter().map(|&p| q.input.dequantize(p)).collect();
    let x = Tensor::from_vec([1, h, w, c], data);
    let mut trace = Vec::new();
    net.forward_traced(mobilenet_kernels::kernels(), &x, Some(&mut trace))
        .unwrap();
    for (i, got) in trace.iter().enumerate() {
        let want = npy_u8(&dir.join(format!("{}.npy", first + 2 * i)));
        let diffs: Vec<i32> = got
            .iter()
            .zip(&want)
            .map(|(&a, &b)| a as i32 - b as i32)
            .collect();
        let bad = diffs.iter().filter(|&&d| d != 0).count();
        let worst = diffs.iter().map(|d| d.abs()).max().unwrap_or(0);
        println!(
            "layer {i:2}: {} values, {bad} differ, worst {worst}",
            got.len()
        );
    }
}
