//! Our own model format: a safetensors file of the weights (canonical names, our layouts, f32)
//! and, beside it, a small JSON file with the configuration and the class labels:
//! `model.safetensors` + `model.json`. Writes are atomic (temporary file, then rename).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::config::MobileNetConfig;
use crate::error::{Error, Result};
use crate::params::{Checkpoint, Param, Weights};

/// The `format` value of our JSON files.
pub const FORMAT: &str = "mobilenet-v1";

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    config: MobileNetConfig,
    #[serde(default)]
    labels: Vec<String>,
    /// Where the weights came from (free text), kept for provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
}

/// The JSON path that belongs to a weights path, and vice versa: same stem, other extension.
/// A path without either extension gets both appended (`model.v2` → `model.v2.json`).
pub fn companion_paths(path: &Path) -> (PathBuf, PathBuf) {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let stem = if ext == "safetensors" || ext == "json" {
        path.with_extension("")
    } else {
        path.to_path_buf()
    };
    let with = |e: &str| {
        let mut s = stem.clone().into_os_string();
        s.push(".");
        s.push(e);
        PathBuf::from(s)
    };
    (with("safetensors"), with("json"))
}

/// Writes `ckpt` as `<stem>.safetensors` + `<stem>.json` next to `path`.
pub fn save(ckpt: &Checkpoint, path: &Path, source: Option<&str>) -> Result<()> {
    let (st_path, json_path) = companion_paths(path);
    write_atomic(&st_path, &weights_to_bytes(&ckpt.weights, &st_path)?)?;
    let meta = Meta {
        format: FORMAT.into(),
        version: 1,
        config: ckpt.config.clone(),
        labels: ckpt.labels.clone(),
        source: source.map(str::to_string),
    };
    let json = serde_json::to_vec_pretty(&meta).expect("config serializes");
    write_atomic(&json_path, &json)
}

/// Reads a model saved by [`save`]; `path` may name either of the two files.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let (st_path, json_path) = companion_paths(path);
    let json = std::fs::read(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let st = std::fs::read(&st_path).map_err(|e| Error::io(&st_path, e))?;
    from_bytes(&json, &json_path, &st, &st_path)
}

/// Parses the two files' contents; the paths are for error messages only.
pub fn from_bytes(json: &[u8], json_path: &Path, st: &[u8], st_path: &Path) -> Result<Checkpoint> {
    let meta: Meta = serde_json::from_slice(json)
        .map_err(|e| Error::corrupt(json_path, format!("not a model config: {e}")))?;
    if meta.format != FORMAT {
        return Err(Error::corrupt(
            json_path,
            format!("format is `{}`, expected `{FORMAT}`", meta.format),
        ));
    }
    meta.config.validate()?;
    let weights = weights_from_bytes(st, st_path)?;
    let ckpt = Checkpoint {
        config: meta.config,
        weights,
        labels: meta.labels,
    };
    ckpt.check(st_path)?;
    Ok(ckpt)
}

/// Serializes weights to safetensors bytes.
pub fn weights_to_bytes(w: &Weights, path: &Path) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = w
        .iter()
        .map(|(name, p)| {
            (
                name.to_string(),
                p.shape.clone(),
                p.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(name, shape, data)| {
            let view =
                TensorView::new(Dtype::F32, shape.clone(), data).expect("shape matches data");
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None::<HashMap<String, String>>)
        .map_err(|e| Error::corrupt(path, format!("cannot serialize weights: {e}")))
}

/// Parses safetensors bytes holding f32 tensors.
pub fn weights_from_bytes(bytes: &[u8], path: &Path) -> Result<Weights> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::corrupt(path, format!("not a valid safetensors file: {e}")))?;
    let mut w = Weights::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::Unsupported {
                path: path.into(),
                what: format!(
                    "tensor `{name}` has dtype {:?}, only F32 is read",
                    view.dtype()
                ),
            });
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        w.insert(name, Param::new(view.shape().to_vec(), data));
    }
    Ok(w)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
