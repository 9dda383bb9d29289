//! Compares the int8 plan layer by layer with tensors dumped by
//! `tools/tflite_reference.py --dump DIR`: `int8_trace MODEL.tflite DIR/<model> INPUT_TENSOR_INDEX
//! FIRST_OUTPUT_INDEX` feeds TFLite's own input bytes and prints, per layer, how many outputs
//! differ and by how much (layer i is compared with tensor FIRST + 2i, the layout of Google's
//! files: every layer's output is two tensor indices after the previous one).
//!
//! `int8_trace MODEL.tflite DIR names` instead reads `DIR/input.npy` and compares layer i with
//! `DIR/<its name>.npy` (tensors named as our exporter names them, e.g. `blocks.3.dw`), all
//! as uint8 (int8 values + 128).

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
    let by_name = args[3] == "names";
    let (input, first): (usize, usize) = if by_name {
        (0, 0)
    } else {
        (args[3].parse().unwrap(), args[4].parse().unwrap())
    };
    let q = import_tflite_quantized(&std::fs::read(model).unwrap(), model)
        .unwrap()
        .expect("quantized");
    let net = QuantModel::new(&q, model).unwrap();
    let [h, w, c] = net.input_hwc();
    let input_file = if by_name {
        "input.npy".to_string()
    } else {
        format!("{input}.npy")
    };
    let pixels = npy_u8(&dir.join(input_file));
    let data = pixels.iter().map(|&p| q.input.dequantize(p)).collect();
    let x = Tensor::from_vec([1, h, w, c], data);
    let mut trace = Vec::new();
    net.forward_traced(mobilenet_kernels::kernels(), &x, Some(&mut trace))
        .unwrap();
    for (i, got) in trace.iter().enumerate() {
        let file = match (by_name, q.layers.get(i)) {
            (true, Some(l)) => format!("{}.npy", l.name),
            (true, None) => "logits.npy".into(),
            _ => format!("{}.npy", first + 2 * i),
        };
        let want = npy_u8(&dir.join(file));
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
