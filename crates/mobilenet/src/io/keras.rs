//! Import of Keras weights of `keras.applications.MobileNet`: the Keras 3 `.weights.h5` layout
//! (`layers/<layer>/vars/<index>`, layers named by class in creation order) and the legacy HDF5
//! layout of `model.save("x.h5")` and Keras 2's `save_weights` (`[model_weights/]<layer>/
//! <layer>/<variable>[:0]`).
//!
//! The three pieces, as for every importer: the container is [`super::hdf5`]; the name table is
//! [`super::names::KERAS`]; the layouts are TF-Slim's (HWIO, depthwise (3, 3, C, 1), 1×1
//! kernels (1, 1, Cin, Cout)), [`super::layout::tf_slim_shape`].
//!
//! The architecture is Keras's: ReLU6, TF "SAME" padding (Keras pads stride-2 layers bottom and
//! right with `ZeroPadding2D`), BatchNorm ε 1e-3, inputs scaled to [-1, 1]
//! (`preprocess_input`), and the classifier a 1×1 convolution with a bias (`conv_preds`). α is
//! read from the last pointwise layer, the classes from `conv_preds` (absent: a body-only
//! feature extractor, `include_top=False`), and the resolution is 224 (a weights file does not
//! store it).

use std::collections::HashMap;
use std::path::Path;

use super::hdf5;
use super::layout::tf_slim_shape;
use super::names::keras_name;
use crate::config::MobileNetConfig;
use crate::error::{Error, Result};
use crate::params::{Checkpoint, Param, Weights};

/// Whether `bytes` start like an HDF5 file.
pub fn looks_like_hdf5(bytes: &[u8]) -> bool {
    bytes.starts_with(hdf5::MAGIC)
}

/// Reads a Keras MobileNet weights file.
pub fn import_keras(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    import_keras_bytes(&bytes, path)
}

/// [`import_keras`] on the file's contents; `path` is for messages.
pub fn import_keras_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let datasets = hdf5::datasets(bytes).map_err(|e| Error::corrupt(path, e))?;
    // Keys of both layouts: `conv2d_3/0` (Keras 3) and `conv_pw_3/kernel` (legacy).
    let mut by_key: HashMap<String, hdf5::Dataset> = HashMap::new();
    for d in datasets {
        let parts: Vec<&str> = d.path.split('/').collect();
        let key = match parts.as_slice() {
            [.., "layers", layer, "vars", index] => format!("{layer}/{index}"),
            [.., layer, inner, var] if layer == inner => {
                let var = var.strip_suffix(":0").unwrap_or(var);
                let var = if var == "depthwise_kernel" {
                    "kernel"
                } else {
                    var
                };
                format!("{layer}/{var}")
            }
            _ => continue,
        };
        by_key.insert(key, d);
    }
    let keras3 = by_key.contains_key("conv2d/0");
    if !keras3 && !by_key.contains_key("conv1/kernel") {
        return Err(Error::Unsupported {
            path: path.into(),
            what: "no keras.applications.MobileNet weights: neither `layers/conv2d/vars/0` \
                   (Keras 3) nor `conv1/conv1/kernel` (legacy HDF5) is in the file"
                .into(),
        });
    }
    let pick = |ours: &str| -> Option<(String, Option<&hdf5::Dataset>)> {
        let (legacy, k3, _) = keras_name(ours)?;
        let name = if keras3 { k3 } else { legacy };
        let d = by_key.get(&name);
        Some((name, d))
    };
    let width = match pick("blocks.12.pw.weight") {
        Some((_, Some(d))) if d.shape.len() == 4 => d.shape[3] as f32 / 1024.0,
        Some((name, _)) => {
            return Err(Error::MissingParam {
                path: path.into(),
                name,
            })
        }
        None => unreachable!("the table names every block"),
    };
    let classes = match pick("fc.weight") {
        Some((_, Some(d))) => d.shape.last().copied().unwrap_or(0),
        _ => 0,
    };
    let config = MobileNetConfig::v1(width, 224, classes);
    config.validate().map_err(|e| e.in_file(path))?;
    let mut weights = Weights::new();
    for (ours, shape) in config.param_shapes() {
        let (name, layout) = keras_name(&ours)
            .map(|(l, k, layout)| (if keras3 { k } else { l }, layout))
            .ok_or_else(|| Error::MissingParam {
                path: path.into(),
                name: ours.clone(),
            })?;
        let d = by_key.get(&name).ok_or_else(|| Error::MissingParam {
            path: path.into(),
            name: name.clone(),
        })?;
        if tf_slim_shape(layout, &d.shape).as_deref() != Some(shape.as_slice()) {
            return Err(Error::ParamShape {
                path: path.into(),
                name: d.path.clone(),
                expected: super::layout::to_tf_slim_shape(layout, &shape).unwrap_or(shape),
                got: d.shape.clone(),
            });
        }
        weights.insert(ours, Param::new(shape, d.data.clone()));
    }
    let labels = if classes == 1000 {
        crate::pretrained::imagenet1000_labels()
    } else {
        Vec::new()
    };
    let ckpt = Checkpoint {
        config,
        weights,
        labels,
    };
    ckpt.check(path)?;
    Ok(ckpt)
}
