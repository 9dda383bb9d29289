//! Our own model format: a safetensors file of the weights (canonical names, our layouts, f32)
//! and, beside it, a small JSON file with the configuration and the class labels:
//! `model.safetensors` + `model.json`.
//!
//! The pair is published atomically: [`save`] embeds the same JSON in the safetensors header's
//! `__metadata__` (key `mobilenet`), so the `.safetensors` file alone is the whole model, and
//! writes each file through a temporary file and a rename, the `.safetensors` first. The
//! `.json` beside it is a readable copy. On [`load`], a `.safetensors` with embedded metadata
//! needs no `.json`; if the `.json` is there too it must say the same, otherwise (a save
//! interrupted between the two renames, or an edit of one file) the load fails naming both.
//! Files written before the metadata was embedded (such as the built-in model in `assets/`) have
//! none and load from the `.json`, as before.
//!
//! The header is checked before the `safetensors` crate reads it: every tensor's data offsets
//! must lie inside the file (that crate sums them unchecked, which overflows on hostile input).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::config::MobileNetConfig;
use crate::error::{Error, Result};
use crate::params::{Checkpoint, Param, Weights};

/// The `format` value of our JSON files.
pub const FORMAT: &str = "mobilenet-v1";

/// The `__metadata__` key of a safetensors file under which [`save`] embeds the JSON.
pub const METADATA_KEY: &str = "mobilenet";

#[derive(Debug, PartialEq, Serialize, Deserialize)]
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

/// Writes `ckpt` as `<stem>.safetensors` (weights, and the configuration and labels in its
/// metadata) + `<stem>.json` (the same configuration and labels) next to `path`. `source` is
/// free text kept for provenance.
pub fn save(ckpt: &Checkpoint, path: &Path, source: Option<&str>) -> Result<()> {
    let (st_path, json_path) = companion_paths(path);
    let meta = Meta {
        format: FORMAT.into(),
        version: 1,
        config: ckpt.config.clone(),
        labels: ckpt.labels.clone(),
        source: source.map(str::to_string),
    };
    let json = serde_json::to_string_pretty(&meta).expect("config serializes");
    let metadata = HashMap::from([(METADATA_KEY.to_string(), json.clone())]);
    let st = serialize(&ckpt.weights, Some(metadata), &st_path)?;
    // The safetensors file is the model: once it is renamed into place the save is complete.
    write_atomic(&st_path, &st)?;
    write_atomic(&json_path, json.as_bytes())
}

/// Reads a model saved by [`save`]; `path` may name either of the two files. The `.json` may
/// be absent when the `.safetensors` embeds its configuration.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let (st_path, json_path) = companion_paths(path);
    let st = std::fs::read(&st_path).map_err(|e| Error::io(&st_path, e))?;
    let json = match std::fs::read(&json_path) {
        Ok(json) => Some(json),
        // Named on the command line: it must be there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path != json_path => None,
        Err(e) => return Err(Error::io(&json_path, e)),
    };
    from_parts(json.as_deref(), &json_path, &st, &st_path)
}

/// Parses the two files' contents; the paths are for error messages only.
pub fn from_bytes(json: &[u8], json_path: &Path, st: &[u8], st_path: &Path) -> Result<Checkpoint> {
    from_parts(Some(json), json_path, st, st_path)
}

/// [`from_bytes`] with the `.json` optional.
fn from_parts(
    json: Option<&[u8]>,
    json_path: &Path,
    st: &[u8],
    st_path: &Path,
) -> Result<Checkpoint> {
    let (weights, embedded) = read_safetensors(st, st_path)?;
    let embedded = embedded
        .map(|text| parse_meta(text.as_bytes(), st_path))
        .transpose()?;
    let beside = json.map(|j| parse_meta(j, json_path)).transpose()?;
    let (meta, meta_path) = match (embedded, beside) {
        (Some(e), Some(b)) if e != b => {
            return Err(Error::corrupt(
                json_path,
                format!(
                    "does not match {}, which embeds another configuration or other labels \
                     (an interrupted save or an edit of one file; remove {} to use the \
                     embedded one)",
                    st_path.display(),
                    json_path.display()
                ),
            ))
        }
        (Some(e), _) => (e, st_path),
        (None, Some(b)) => (b, json_path),
        (None, None) => {
            return Err(Error::io(
                json_path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "not found, and {} embeds no configuration",
                        st_path.display()
                    ),
                ),
            ))
        }
    };
    meta.config.validate().map_err(|e| e.in_file(meta_path))?;
    let ckpt = Checkpoint {
        config: meta.config,
        weights,
        labels: meta.labels,
    };
    ckpt.check(st_path)?;
    Ok(ckpt)
}

fn parse_meta(json: &[u8], path: &Path) -> Result<Meta> {
    let meta: Meta = serde_json::from_slice(json)
        .map_err(|e| Error::corrupt(path, format!("not a model config: {e}")))?;
    if meta.format != FORMAT {
        return Err(Error::corrupt(
            path,
            format!("format is `{}`, expected `{FORMAT}`", meta.format),
        ));
    }
    Ok(meta)
}

/// Checks a safetensors header's framing and data offsets against the file's length, and
/// returns the metadata [`save`] embeds, if any.
pub(crate) fn check_header(bytes: &[u8], path: &Path) -> Result<Option<String>> {
    let corrupt =
        |what: String| Error::corrupt(path, format!("not a valid safetensors file: {what}"));
    let len = bytes.len();
    let Some(n) = bytes.get(..8) else {
        return Err(corrupt(format!(
            "{len} bytes, shorter than the 8-byte header length"
        )));
    };
    let n = u64::from_le_bytes(n.try_into().expect("8 bytes"));
    let data_len = (len as u64 - 8).checked_sub(n).ok_or_else(|| {
        corrupt(format!(
            "a header of {n} bytes does not fit in the {len}-byte file"
        ))
    })?;
    let header: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n as usize])
            .map_err(|e| corrupt(format!("header is not a JSON object ({e})")))?;
    let mut embedded = None;
    for (name, entry) in &header {
        if name == "__metadata__" {
            embedded = entry
                .get(METADATA_KEY)
                .and_then(|v| v.as_str())
                .map(str::to_string);
            continue;
        }
        let offsets = entry.get("data_offsets").and_then(|v| v.as_array());
        let ok = offsets.is_some_and(|o| {
            o.len() == 2 && o.iter().all(|v| v.as_u64().is_some_and(|v| v <= data_len))
        });
        if !ok {
            let what = match offsets {
                None => "no data offsets".to_string(),
                Some(o) => {
                    let o: Vec<String> = o.iter().map(|v| v.to_string()).collect();
                    format!("data offsets [{}]", o.join(", "))
                }
            };
            return Err(corrupt(format!(
                "tensor `{name}` has {what}, not a range in the {data_len} bytes of data"
            )));
        }
    }
    Ok(embedded)
}

/// Serializes weights to safetensors bytes (no metadata; [`save`] adds the configuration).
pub fn weights_to_bytes(w: &Weights, path: &Path) -> Result<Vec<u8>> {
    serialize(w, None, path)
}

/// Serializes weights to safetensors bytes with `metadata` in its `__metadata__` (the
/// training checkpoint stores its state there).
pub fn serialize(
    w: &Weights,
    metadata: Option<HashMap<String, String>>,
    path: &Path,
) -> Result<Vec<u8>> {
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
    safetensors::serialize(views, metadata)
        .map_err(|e| Error::corrupt(path, format!("cannot serialize weights: {e}")))
}

/// Parses safetensors bytes holding f32 tensors.
pub fn weights_from_bytes(bytes: &[u8], path: &Path) -> Result<Weights> {
    read_safetensors(bytes, path).map(|(w, _)| w)
}

/// The weights, and the metadata [`save`] embeds if there is any.
fn read_safetensors(bytes: &[u8], path: &Path) -> Result<(Weights, Option<String>)> {
    let embedded = check_header(bytes, path)?;
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::corrupt(path, format!("not a valid safetensors file: {e}")))?;
    let mut w = Weights::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::Unsupported {
                path: path.into(),
                what: format!(
                    "tensor `{name}` has dtype {}, only F32 is read",
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
    Ok((w, embedded))
}

/// The temporary file [`write_atomic`] writes `path`'s bytes to before renaming it.
fn temporary_name(name: &str, pid: u32) -> String {
    format!(".{name}.tmp{pid}")
}

/// Removes the temporary files that [`write_atomic`] calls of processes that were killed before
/// their rename (`.NAME.tmpPID` whose process is not this one). Best effort: errors are ignored.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = std::process::id().to_string();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stale = name.starts_with('.')
            && name.rsplit_once(".tmp").is_some_and(|(_, pid)| {
                !pid.is_empty() && pid != own && pid.bytes().all(|b| b.is_ascii_digit())
            });
        if stale && e.path().is_file() {
            let _ = std::fs::remove_file(e.path());
        }
    }
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
    let tmp = dir.join(temporary_name(&name, std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable where directories can be synced (not on Windows).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
