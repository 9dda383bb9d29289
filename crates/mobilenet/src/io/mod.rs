//! Model files: bytes ↔ named tensors ↔ our parameters. Each importer is three pieces kept
//! apart: a container reader that knows no model, a name table (data), and layout transforms.

pub mod hdf5;
pub mod keras;
pub mod layout;
pub mod names;
pub mod native;
pub mod npy;
pub mod onnx;
pub mod tf_graphdef;
pub mod tflite;
pub mod torch;

use std::path::Path;

use crate::error::{Error, Result};
use crate::params::Checkpoint;

/// Loads a model of any supported format, recognised by content (TFLite's `TFL3` identifier,
/// ZIP's `PK`, a safetensors header's names) and extension: ours (`.safetensors` / `.json`), a
/// PyTorch state dict (`.pt` / `.pth`, or a safetensors file with PyTorch's names), Keras
/// weights (`.h5`, `.weights.h5`), a TensorFlow frozen graph (`.pb`), TFLite, ONNX.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "json" => native::load(path),
        "safetensors" => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            if torch::is_torch_safetensors(&bytes) {
                torch::import_torch_bytes(&bytes, path)
            } else {
                native::load(path)
            }
        }
        "pt" | "pth" => torch::import_torch(path),
        "h5" | "hdf5" => keras::import_keras(path),
        "pb" => tf_graphdef::import_graphdef(path),
        "tflite" => tflite::import_tflite(path),
        "onnx" => onnx::import_onnx(path),
        _ => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            if bytes.get(4..8) == Some(b"TFL3") {
                tflite::import_tflite_bytes(&bytes, path)
            } else if keras::looks_like_hdf5(&bytes) {
                keras::import_keras_bytes(&bytes, path)
            } else if torch::looks_like_zip(&bytes) {
                torch::import_torch_bytes(&bytes, path)
            } else if looks_like_onnx(&bytes) {
                onnx::import_onnx_bytes(&bytes, path)
            } else {
                Err(Error::Unsupported {
                    path: path.into(),
                    what:
                        "unknown model format (expected .safetensors/.json, .pt/.pth, .h5, .pb, .tflite or .onnx)"
                            .into(),
                })
            }
        }
    }
}

/// An ONNX `ModelProto` starts with field 1 (`ir_version`, a varint: byte 0x08) and a small
/// version; a TF GraphDef starts with field 1 as a message (`node`: byte 0x0a).
fn looks_like_onnx(bytes: &[u8]) -> bool {
    matches!(bytes, [0x08, v, ..] if (1..=32).contains(v))
}

/// IEEE binary16 → binary32, exactly (subnormals, infinities and NaNs included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value m · 2^-24.
            let v = m as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_is_exact() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    }
}
