//! Does tract load and run our ONNX export, with our outputs?
//!
//! For each model file given (any format `--model` takes), export it to ONNX (BatchNorm kept and
//! folded) with our writer, run it in tract on a fixed pseudo-random input, run our engine on the
//! same input, and print the largest |p_ours − p_tract| over all class probabilities. Exit 1 if
//! any exceeds 1e-4.
//!
//! ```sh
//! cd tools/tract_check && cargo run --release -- ../../assets/mobilenet_v1_1.0_224.json
//! ```

use std::path::Path;

use mobilenet::io::onnx::{export_onnx_bytes, OnnxOptions};
use mobilenet::{MobileNet, Tensor};
use tract_onnx::prelude::*;

fn main() -> anyhow_free::Result {
    let mut worst = 0f32;
    for arg in std::env::args().skip(1) {
        let path = Path::new(&arg);
        let ckpt = mobilenet::io::load(path).map_err(|e| e.to_string())?;
        let net = MobileNet::new(&ckpt, path).map_err(|e| e.to_string())?;
        let [h, w, c] = net.input_hwc();
        let nhwc: Vec<f32> = (0..h * w * c)
            .map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0)
            .collect();
        let ours = net
            .predict(&Tensor::from_vec([1, h, w, c], nhwc.clone()))
            .map_err(|e| e.to_string())?;
        let mut nchw = vec![0f32; nhwc.len()];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    nchw[(ch * h + y) * w + x] = nhwc[(y * w + x) * c + ch];
                }
            }
        }
        for fold in [false, true] {
            let opts = OnnxOptions {
                fold_batch_norm: fold,
            };
            let bytes = export_onnx_bytes(&ckpt, path, opts).map_err(|e| e.to_string())?;
            let model = tract_onnx::onnx()
                .model_for_read(&mut bytes.as_slice())
                .and_then(|m| m.with_input_fact(0, f32::fact([1, c, h, w]).into()))
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
                .map_err(|e| format!("{arg}: tract: {e:?}"))?;
            let input: tract_onnx::prelude::Tensor =
                tract_ndarray::Array4::from_shape_vec((1, c, h, w), nchw.clone())
                    .map_err(|e| e.to_string())?
                    .into();
            let out = model
                .run(tvec!(input.into()))
                .map_err(|e| format!("{arg}: tract run: {e:?}"))?;
            let theirs = out[0]
                .to_plain_array_view::<f32>()
                .map_err(|e| e.to_string())?;
            let diff = ours
                .iter()
                .zip(theirs.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            worst = worst.max(diff);
            println!(
                "{arg} (BatchNorm {}): {} classes, max |p_ours - p_tract| = {diff:.2e}",
                if fold { "folded" } else { "kept" },
                ours.len()
            );
        }
    }
    if worst > 1e-4 {
        return Err("a difference above 1e-4".into());
    }
    Ok(())
}

/// `main`'s error: a message, printed by the runtime.
mod anyhow_free {
    pub type Result = std::result::Result<(), String>;
}
