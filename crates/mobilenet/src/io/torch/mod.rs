//! PyTorch state dicts, in and out: `torch.save` files (`.pt` / `.pth`: a ZIP of a pickle and
//! raw storages) and safetensors files that hold PyTorch's names and layouts.
//!
//! The three pieces are kept apart, as for every importer: the containers ([`zip`],
//! [`pickle`], safetensors) know no model; the name table is
//! [`super::names::TORCH`] (two code bases: the classic PyTorch CIFAR-10 code and timm's
//! `mobilenetv1_100`); the layout transforms are [`super::layout::torch_to_ours`] and its
//! inverse.
//!
//! A state dict stores no architecture, so it is read from the names and shapes: the family
//! from the stem's name, α from the last pointwise layer's 1024·α channels, the classes from the
//! classifier. The rest is each code base's own: the CIFAR code is the CIFAR variant (stem
//! stride 1, ReLU, symmetric padding, 32×32); timm's is the ImageNet network with ReLU6 and
//! symmetric padding at 224×224. Both use PyTorch's BatchNorm ε of 1e-5 (a state dict does not
//! store it). Loading is strict, as `load_state_dict(strict=True)`: a missing parameter, a
//! wrong shape or a tensor that is not part of MobileNet v1 (such as timm's `conv_head`) is an
//! error naming it.

pub mod pickle;
pub mod zip;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};

use super::names::torch_name;
pub use super::names::TorchFamily;
use crate::config::{MobileNetConfig, Normalization, PaddingMode};
use crate::error::{Error, Result};
use crate::params::{Checkpoint, Param, Weights};
use pickle::{Dtype, TensorRef, Value};

/// One tensor of a state dict in PyTorch's layout. `data` is `None` for integer tensors
/// (`num_batches_tracked`), which carry nothing a MobileNet needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Option<Vec<f32>>,
}

/// Whether `bytes` start like a ZIP archive (a `torch.save` file).
pub fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(zip::MAGIC)
}

/// Metadata keys [`state_dict_bytes`] writes beside PyTorch's `format: pt`, so that what a
/// state dict cannot hold survives a round trip: the input normalization (JSON, as in our
/// model files) and the class labels (a JSON list). PyTorch ignores them.
pub const META_NORMALIZATION: &str = "mobilenet.normalization";
pub const META_LABELS: &str = "mobilenet.labels";

/// A safetensors file's header as JSON, if `bytes` frame one.
fn safetensors_header(bytes: &[u8]) -> Option<HashMap<String, serde_json::Value>> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header = bytes.get(8..8usize.checked_add(usize::try_from(n).ok()?)?)?;
    serde_json::from_slice(header).ok()
}

/// Whether a safetensors file holds a PyTorch MobileNet v1 state dict (a stem of one of the
/// families) rather than our own names.
pub fn is_torch_safetensors(bytes: &[u8]) -> bool {
    safetensors_header(bytes).is_some_and(|h| {
        TorchFamily::ALL
            .iter()
            .any(|f| h.contains_key(f.stem_name()))
    })
}

/// Loads a PyTorch MobileNet v1 state dict from a `torch.save` file or a safetensors file.
pub fn import_torch(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    import_torch_bytes(&bytes, path)
}

/// [`import_torch`] on the file's contents; `path` is for messages.
pub fn import_torch_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    if looks_like_zip(bytes) {
        return from_state_dict(read_torch_zip(bytes, path)?, path);
    }
    if bytes.first() == Some(&0x80) {
        return Err(Error::Unsupported {
            path: path.into(),
            what: "a bare pickle: the legacy torch.save format (PyTorch before 1.6) is not read; \
                   save it again with a current PyTorch"
                .into(),
        });
    }
    let mut ckpt = from_state_dict(read_safetensors(bytes, path)?, path)?;
    let meta = safetensors_header(bytes)
        .and_then(|mut h| h.remove("__metadata__"))
        .unwrap_or_default();
    let field = |key: &str| meta.get(key).and_then(|v| v.as_str());
    let bad =
        |key: &str, e: serde_json::Error| Error::corrupt(path, format!("metadata `{key}`: {e}"));
    if let Some(n) = field(META_NORMALIZATION) {
        ckpt.config.normalization =
            serde_json::from_str(n).map_err(|e| bad(META_NORMALIZATION, e))?;
    }
    if let Some(l) = field(META_LABELS) {
        ckpt.labels = serde_json::from_str(l).map_err(|e| bad(META_LABELS, e))?;
    }
    ckpt.check(path)?;
    Ok(ckpt)
}

/// The tensors of a `torch.save` ZIP archive's state dict, by name.
pub fn read_torch_zip(bytes: &[u8], path: &Path) -> Result<Vec<(String, Tensor)>> {
    let corrupt = |what: String| Error::corrupt(path, what);
    let entries =
        zip::entries(bytes).map_err(|e| corrupt(format!("not a torch.save file: {e}")))?;
    let pkl = entries
        .iter()
        .find(|e| e.name.ends_with("/data.pkl") || e.name == "data.pkl")
        .ok_or_else(|| {
            corrupt("a ZIP archive without `data.pkl`: not a torch.save file".to_string())
        })?;
    let prefix = &pkl.name[..pkl.name.len() - "data.pkl".len()];
    if let Some(order) = entries
        .iter()
        .find(|e| e.name == format!("{prefix}byteorder"))
    {
        if order.data != b"little" {
            return Err(Error::Unsupported {
                path: path.into(),
                what: format!(
                    "byte order `{}`; only little-endian files are read",
                    String::from_utf8_lossy(order.data)
                ),
            });
        }
    }
    let storages: HashMap<&str, &[u8]> = entries
        .iter()
        .filter_map(|e| Some((e.name.strip_prefix(prefix)?.strip_prefix("data/")?, e.data)))
        .collect();
    let value = pickle::unpickle(pkl.data).map_err(|e| corrupt(format!("`{}`: {e}", pkl.name)))?;
    let dict = state_dict_of(value).map_err(corrupt)?;
    dict.into_iter()
        .map(|(name, t)| {
            let data = storages.get(t.storage.key.as_str()).ok_or_else(|| {
                corrupt(format!(
                    "tensor `{name}`: storage `data/{}` is not in the archive",
                    t.storage.key
                ))
            })?;
            let tensor =
                materialize(&t, data).map_err(|e| corrupt(format!("tensor `{name}`: {e}")))?;
            Ok((name, tensor))
        })
        .collect()
}

/// The state dict inside an unpickled value: the value itself when it maps names to tensors,
/// or its `state_dict` / `model_state_dict` / `model` entry (a training checkpoint).
fn state_dict_of(value: Value) -> std::result::Result<Vec<(String, TensorRef)>, String> {
    let Value::Dict(items) = value else {
        return Err("the pickle holds no dict of tensors: not a state dict".into());
    };
    let is_tensor_dict = items.iter().any(|(_, v)| matches!(v, Value::Tensor(_)));
    if !is_tensor_dict {
        for key in ["state_dict", "model_state_dict", "model"] {
            if let Some((_, v)) = items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            {
                return state_dict_of(v.clone()).map_err(|e| format!("entry `{key}`: {e}"));
            }
        }
        return Err(
            "a dict without tensors and without a `state_dict`, `model_state_dict` or `model` \
             entry: not a state dict"
                .into(),
        );
    }
    items
        .into_iter()
        .map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => Ok((k, t)),
            (Value::Str(k), _) => Err(format!("entry `{k}` is not a tensor")),
            _ => Err("a state dict key that is not a string".into()),
        })
        .collect()
}

/// A strided view of a raw little-endian storage, copied out contiguously (floats as f32).
fn materialize(t: &TensorRef, data: &[u8]) -> std::result::Result<Tensor, String> {
    let size = t.storage.dtype.size();
    let need = t
        .storage
        .numel
        .checked_mul(size)
        .filter(|&n| n <= data.len())
        .ok_or_else(|| {
            format!(
                "storage of {} {:?} elements does not fit its {} bytes",
                t.storage.numel,
                t.storage.dtype,
                data.len()
            )
        })?;
    let data = &data[..need];
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= t.storage.numel)
        .ok_or_else(|| {
            format!(
                "shape {:?} has more elements than its storage's {}",
                t.shape, t.storage.numel
            )
        })?;
    if numel > 0 {
        let last = t
            .shape
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |a, (&d, &s)| {
                a.checked_add((d - 1).checked_mul(s)?)
            });
        if last.is_none_or(|l| l >= t.storage.numel) {
            return Err(format!(
                "shape {:?}, stride {:?} and offset {} reach past its storage of {} elements",
                t.shape, t.stride, t.offset, t.storage.numel
            ));
        }
    }
    if !t.storage.dtype.is_float() {
        return Ok(Tensor {
            shape: t.shape.clone(),
            data: None,
        });
    }
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..numel {
        let at = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.push(element(t.storage.dtype, &data[at * size..(at + 1) * size]));
        // Row-major increment.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(Tensor {
        shape: t.shape.clone(),
        data: Some(out),
    })
}

fn element(dtype: Dtype, b: &[u8]) -> f32 {
    match dtype {
        Dtype::F32 => f32::from_le_bytes(b.try_into().expect("4")),
        Dtype::F64 => f64::from_le_bytes(b.try_into().expect("8")) as f32,
        Dtype::F16 => super::f16_to_f32(u16::from_le_bytes(b.try_into().expect("2"))),
        Dtype::BF16 => f32::from_bits((u16::from_le_bytes(b.try_into().expect("2")) as u32) << 16),
        _ => unreachable!("floats only"),
    }
}

/// The tensors of a safetensors file, by name, floats converted to f32.
pub fn read_safetensors(bytes: &[u8], path: &Path) -> Result<Vec<(String, Tensor)>> {
    super::native::check_header(bytes, path)?;
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::corrupt(path, format!("not a valid safetensors file: {e}")))?;
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let dtype = match view.dtype() {
                StDtype::F32 => Dtype::F32,
                StDtype::F64 => Dtype::F64,
                StDtype::F16 => Dtype::F16,
                StDtype::BF16 => Dtype::BF16,
                StDtype::I64 | StDtype::I32 | StDtype::I16 | StDtype::I8 | StDtype::U8 => {
                    Dtype::I64
                }
                other => {
                    return Err(Error::Unsupported {
                        path: path.into(),
                        what: format!("tensor `{name}` has dtype {other}"),
                    })
                }
            };
            let data = dtype.is_float().then(|| {
                view.data()
                    .chunks_exact(dtype.size())
                    .map(|b| element(dtype, b))
                    .collect()
            });
            Ok((
                name,
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            ))
        })
        .collect()
}

/// The architecture a family's state dict describes, with α and the classes read from its
/// tensors.
fn family_config(family: TorchFamily, width: f32, classes: usize) -> MobileNetConfig {
    match family {
        TorchFamily::PytorchCifar => MobileNetConfig {
            width,
            classes,
            normalization: Normalization::CIFAR10_PYTORCH,
            ..MobileNetConfig::cifar()
        },
        TorchFamily::Timm => MobileNetConfig {
            padding: PaddingMode::Symmetric,
            bn_eps: 1e-5,
            normalization: Normalization::IMAGENET,
            ..MobileNetConfig::v1(width, 224, classes)
        },
    }
}

/// Whether `config` is the network `family`'s code builds (so that its weights, under that
/// family's names, compute the same function there).
fn family_matches(family: TorchFamily, c: &MobileNetConfig) -> bool {
    let want = family_config(family, c.width, c.classes);
    c.variant == want.variant && c.activation == want.activation && c.padding == want.padding
}

/// A checkpoint from a state dict's tensors (PyTorch names and layouts). `path` is for
/// messages.
pub fn from_state_dict(tensors: Vec<(String, Tensor)>, path: &Path) -> Result<Checkpoint> {
    let unsupported = |what: String| Error::Unsupported {
        path: path.into(),
        what,
    };
    // nn.DataParallel saves every name under `module.`.
    let strip = tensors.iter().all(|(n, _)| n.starts_with("module."));
    let tensors: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(n, t)| match strip {
            true => (n["module.".len()..].to_string(), t),
            false => (n, t),
        })
        .collect();
    let family = TorchFamily::ALL
        .into_iter()
        .find(|f| tensors.contains_key(f.stem_name()))
        .ok_or_else(|| {
            let mut some: Vec<&str> = tensors.keys().map(String::as_str).collect();
            some.sort_unstable();
            some.truncate(4);
            unsupported(format!(
                "no MobileNet v1 state dict: neither `conv1.weight` (the PyTorch CIFAR code) nor \
                 `conv_stem.weight` (timm) is present (names: {})",
                some.join(", ")
            ))
        })?;
    let last_pw = torch_name(family, "blocks.12.pw.weight").expect("a row").0;
    let width = match tensors.get(&last_pw).map(|t| t.shape.as_slice()) {
        Some(&[out, ..]) => out as f32 / 1024.0,
        _ => {
            return Err(Error::MissingParam {
                path: path.into(),
                name: last_pw,
            })
        }
    };
    let fc = torch_name(family, "fc.weight").expect("a row").0;
    let classes = match tensors.get(&fc).map(|t| t.shape.as_slice()) {
        Some(&[classes, _]) => classes,
        Some(shape) => {
            return Err(Error::ParamShape {
                path: path.into(),
                name: fc,
                expected: vec![0, (width * 1024.0) as usize],
                got: shape.to_vec(),
            })
        }
        // timm with `num_classes=0`: no classifier, a feature extractor.
        None if family == TorchFamily::Timm => 0,
        None => {
            return Err(Error::MissingParam {
                path: path.into(),
                name: fc,
            })
        }
    };
    let config = family_config(family, width, classes);
    config.validate().map_err(|e| e.in_file(path))?;
    let mut weights = Weights::new();
    let mut used = BTreeSet::new();
    for (ours, shape) in config.param_shapes() {
        let (theirs, layout) = torch_name(family, &ours).ok_or_else(|| {
            unsupported(format!("parameter `{ours}` has no {} name", family.name()))
        })?;
        let t = tensors.get(&theirs).ok_or_else(|| Error::MissingParam {
            path: path.into(),
            name: theirs.clone(),
        })?;
        let expected = super::layout::ours_shape_to_torch(layout, &shape).expect("our shape");
        if t.shape != expected {
            return Err(Error::ParamShape {
                path: path.into(),
                name: theirs,
                expected,
                got: t.shape.clone(),
            });
        }
        let data = t.data.as_ref().ok_or_else(|| {
            unsupported(format!(
                "tensor `{theirs}` is an integer tensor, not floats"
            ))
        })?;
        let (shape, data) =
            super::layout::torch_to_ours(layout, &t.shape, data).expect("shape checked");
        weights.insert(ours, Param::new(shape, data));
        used.insert(theirs);
    }
    let mut extra: Vec<&String> = tensors
        .keys()
        .filter(|n| !used.contains(*n) && !n.ends_with(".num_batches_tracked"))
        .collect();
    extra.sort_unstable();
    if let Some(n) = extra.first() {
        return Err(unsupported(format!(
            "tensor `{n}` is not part of MobileNet v1 as the {} code names it{}",
            family.name(),
            if extra.len() > 1 {
                format!(" ({} more such tensors)", extra.len() - 1)
            } else {
                String::new()
            }
        )));
    }
    let labels = match (family, classes) {
        (TorchFamily::PytorchCifar, 10) => crate::data::CIFAR10_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        (TorchFamily::Timm, 1000) => crate::pretrained::imagenet1000_labels(),
        _ => Vec::new(),
    };
    let ckpt = Checkpoint {
        config,
        weights,
        labels,
    };
    ckpt.check(path)?;
    Ok(ckpt)
}

/// `ckpt` as a state dict of `family`: PyTorch names and layouts, BatchNorm unfolded (a model
/// with BatchNorm folded gets identity statistics: weight 1, mean 0, variance 1 − ε, its bias as
/// the BatchNorm bias), and a zero `num_batches_tracked` beside every BatchNorm, so that the
/// family's `nn.Module` loads it with `load_state_dict(strict=True)`. Floats are f32, in
/// name order. `path` is for messages.
pub fn state_dict(
    ckpt: &Checkpoint,
    family: TorchFamily,
    path: &Path,
) -> Result<Vec<(String, Param)>> {
    let c = &ckpt.config;
    if !family_matches(family, c) {
        let want = family_config(family, c.width, c.classes);
        return Err(Error::Unsupported {
            path: path.into(),
            what: format!(
                "the {} names describe the {} network with {} and {} padding; this model is \
                 the {} network with {} and {} padding, which that code does not compute",
                family.name(),
                want.variant.name(),
                want.activation.name(),
                want.padding.name(),
                c.variant.name(),
                c.activation.name(),
                c.padding.name()
            ),
        });
    }
    let unfolded = unfold_batch_norm(ckpt);
    let mut out = Vec::new();
    for (ours, _) in unfolded.config.param_shapes() {
        let (theirs, layout) = torch_name(family, &ours).expect("every parameter has a name");
        let p = unfolded.weights.get(&ours).expect("checked checkpoint");
        let (shape, data) = super::layout::ours_to_torch(layout, &p.shape, &p.data)
            .expect("checked checkpoint shapes");
        out.push((theirs, Param::new(shape, data)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes `ckpt` as a safetensors state dict of `family` (see [`state_dict`]), atomically.
pub fn export_state_dict(ckpt: &Checkpoint, family: TorchFamily, path: &Path) -> Result<()> {
    let bytes = state_dict_bytes(ckpt, family, path)?;
    super::native::write_atomic(path, &bytes)
}

/// The bytes [`export_state_dict`] writes.
pub fn state_dict_bytes(ckpt: &Checkpoint, family: TorchFamily, path: &Path) -> Result<Vec<u8>> {
    let tensors = state_dict(ckpt, family, path)?;
    let floats: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, p)| {
            (
                n,
                p.shape,
                p.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let counters: Vec<String> = floats
        .iter()
        .filter_map(|(n, _, _)| n.strip_suffix(".running_var"))
        .map(|bn| format!("{bn}.num_batches_tracked"))
        .collect();
    let zero = 0i64.to_le_bytes();
    let mut views: Vec<(String, TensorView<'_>)> = floats
        .iter()
        .map(|(n, s, d)| {
            let v = TensorView::new(StDtype::F32, s.clone(), d).expect("shape matches data");
            (n.clone(), v)
        })
        .collect();
    for n in counters {
        let v = TensorView::new(StDtype::I64, vec![], &zero).expect("a scalar");
        views.push((n, v));
    }
    let norm = serde_json::to_string(&ckpt.config.normalization).expect("serializes");
    let mut metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (META_NORMALIZATION.to_string(), norm),
    ]);
    if !ckpt.labels.is_empty() {
        let labels = serde_json::to_string(&ckpt.labels).expect("serializes");
        metadata.insert(META_LABELS.to_string(), labels);
    }
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::corrupt(path, format!("cannot serialize the state dict: {e}")))?;
    Ok(canonical_header(bytes))
}

/// The same safetensors file with its header's keys in sorted order (the `safetensors` crate
/// writes the metadata map in hash order), so that the same model always gives the same bytes.
fn canonical_header(bytes: Vec<u8>) -> Vec<u8> {
    use std::collections::BTreeMap;
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).expect("the header just written");
    if let Some(meta) = header.get_mut("__metadata__") {
        let sorted: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(meta.take()).expect("a map");
        *meta = serde_json::to_value(sorted).expect("serializes");
    }
    let mut text = serde_json::to_vec(&header).expect("serializes");
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// The same network with BatchNorm after every convolution: a checkpoint that has it is
/// returned as is; a folded one gets identity BatchNorms that carry its biases.
fn unfold_batch_norm(ckpt: &Checkpoint) -> Checkpoint {
    if ckpt.config.batch_norm {
        return ckpt.clone();
    }
    let mut config = ckpt.config.clone();
    config.batch_norm = true;
    let var = 1.0 - config.bn_eps;
    let mut weights = Weights::new();
    for (name, shape) in config.param_shapes() {
        let p = match name.split_once(".bn.") {
            None => ckpt.weights.get(&name).expect("checked").clone(),
            Some((layer, field)) => {
                let c = shape[0];
                let v = match field {
                    "weight" => vec![1.0; c],
                    "bias" => ckpt
                        .weights
                        .get(&format!("{layer}.bias"))
                        .expect("checked")
                        .data
                        .clone(),
                    "running_mean" => vec![0.0; c],
                    _ => vec![var; c],
                };
                Param::new(shape, v)
            }
        };
        weights.insert(name, p);
    }
    Checkpoint {
        config,
        weights,
        labels: ckpt.labels.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_views_are_gathered_row_major() {
        // A (2, 3) tensor stored transposed: stride (1, 2) over 6 elements.
        let data: Vec<u8> = (0..6).flat_map(|v| (v as f32).to_le_bytes()).collect();
        let t = TensorRef {
            storage: pickle::StorageRef {
                key: "0".into(),
                dtype: Dtype::F32,
                numel: 6,
            },
            offset: 0,
            shape: vec![2, 3],
            stride: vec![1, 2],
        };
        let got = materialize(&t, &data).unwrap();
        assert_eq!(got.data.unwrap(), vec![0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
        let past = TensorRef {
            offset: 1,
            ..t.clone()
        };
        assert!(materialize(&past, &data)
            .unwrap_err()
            .contains("reach past"));
        let expanded = TensorRef {
            shape: vec![1 << 40],
            stride: vec![0],
            ..t
        };
        assert!(materialize(&expanded, &data)
            .unwrap_err()
            .contains("more elements"));
    }

    #[test]
    fn round_trip_through_both_families_is_bit_identical() {
        let cifar = MobileNetConfig {
            width: 0.25,
            ..MobileNetConfig::cifar()
        };
        let timm = family_config(TorchFamily::Timm, 0.25, 7);
        for (family, config) in [
            (TorchFamily::PytorchCifar, cifar),
            (TorchFamily::Timm, timm),
        ] {
            let ckpt = Checkpoint {
                weights: Weights::random(&config, 3),
                config,
                labels: Vec::new(),
            };
            let p = Path::new("x.safetensors");
            let bytes = state_dict_bytes(&ckpt, family, p).unwrap();
            let back = import_torch_bytes(&bytes, p).unwrap();
            assert_eq!(back.config, ckpt.config, "{family:?}");
            assert_eq!(back.weights, ckpt.weights, "{family:?}");
        }
    }

    #[test]
    fn a_folded_model_exports_with_identity_batch_norm() {
        let config = MobileNetConfig {
            width: 0.25,
            ..MobileNetConfig::cifar()
        };
        let ckpt = Checkpoint {
            weights: Weights::random(&config, 5),
            config,
            labels: Vec::new(),
        };
        let folded = ckpt.fold_batch_norm();
        let p = Path::new("x.safetensors");
        let bytes = state_dict_bytes(&folded, TorchFamily::PytorchCifar, p).unwrap();
        let back = from_state_dict(read_safetensors(&bytes, p).unwrap(), p).unwrap();
        // Folding the re-imported model gives the folded weights back, to rounding.
        let refolded = back.fold_batch_norm();
        for (name, p) in folded.weights.iter() {
            let q = refolded.weights.get(name).unwrap();
            for (a, b) in p.data.iter().zip(&q.data) {
                assert!(
                    (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                    "{name}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn a_mismatched_architecture_is_refused_by_name() {
        let ckpt = Checkpoint {
            config: MobileNetConfig::v1(0.25, 128, 5),
            weights: Weights::random(&MobileNetConfig::v1(0.25, 128, 5), 1),
            labels: Vec::new(),
        };
        let e = state_dict_bytes(&ckpt, TorchFamily::Timm, Path::new("o.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tf-same"), "{e}");
        let e = state_dict_bytes(&ckpt, TorchFamily::PytorchCifar, Path::new("o.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("the cifar network"), "{e}");
    }
}
