//! Named parameter tensors in our layout, and the [`Checkpoint`] that pairs them with a
//! configuration and class labels.
//!
//! Canonical names and layouts (NHWC engine; see [`MobileNetConfig::param_shapes`]):
//! - `stem.weight` (3, 3, 3, C) HWIO; `blocks.{i}.conv.weight` (3, 3, Cin, Cout) in full-conv
//! - `blocks.{i}.dw.weight` (3, 3, C)
//! - `blocks.{i}.pw.weight` (Cin, Cout)
//! - `fc.weight` (Cin, classes), `fc.bias` (classes)
//! - after each convolution `L`: `L.bn.{weight,bias,running_mean,running_var}` (C), or `L.bias`
//!   (C) when the configuration has `batch_norm: false` (BN already folded).

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{LayerKind, MobileNetConfig};
use crate::error::{Error, Result};

/// One parameter tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Param {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Param {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "Param::new: shape {shape:?} vs {} values",
            data.len()
        );
        Param { shape, data }
    }
}

/// Parameters by canonical name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights {
    tensors: BTreeMap<String, Param>,
}

impl Weights {
    pub fn new() -> Weights {
        Weights::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, param: Param) {
        self.tensors.insert(name.into(), param);
    }

    pub fn get(&self, name: &str) -> Option<&Param> {
        self.tensors.get(name)
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Parameters in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Param)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Checks that every parameter `config` needs is present with the right shape and finite
    /// values. `source` names the file the weights came from, for the error message.
    pub fn check(&self, config: &MobileNetConfig, source: &Path) -> Result<()> {
        for (name, shape) in config.param_shapes() {
            let p = self.get(&name).ok_or_else(|| Error::MissingParam {
                path: source.into(),
                name: name.clone(),
            })?;
            if p.shape != shape {
                return Err(Error::ParamShape {
                    path: source.into(),
                    name,
                    expected: shape,
                    got: p.shape.clone(),
                });
            }
            if let Some(i) = p.data.iter().position(|v| !v.is_finite()) {
                return Err(Error::corrupt(
                    source,
                    format!("parameter `{name}` holds a non-finite value at index {i}"),
                ));
            }
        }
        Ok(())
    }
}

/// Everything needed to run a trained network: its configuration, its weights and the names of
/// its classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub config: MobileNetConfig,
    pub weights: Weights,
    /// One label per class, in the model's own numbering (Google's models: 1001, 0 = background).
    pub labels: Vec<String>,
}

impl Checkpoint {
    /// Validates the configuration, the weights against it, and the label count.
    pub fn check(&self, source: &Path) -> Result<()> {
        self.config.validate().map_err(|e| e.in_file(source))?;
        self.weights.check(&self.config, source)?;
        if !self.labels.is_empty() && self.labels.len() != self.config.classes {
            return Err(Error::corrupt(
                source,
                format!(
                    "{} labels for a model of {} classes",
                    self.labels.len(),
                    self.config.classes
                ),
            ));
        }
        Ok(())
    }
}

impl Checkpoint {
    /// The same network with every BatchNorm folded into its convolution (weights scaled, a
    /// bias added): `batch_norm: false`, as TFLite files and folded ONNX graphs hold it. A
    /// checkpoint already folded is returned as is. Call on a checked checkpoint.
    pub fn fold_batch_norm(&self) -> Checkpoint {
        if !self.config.batch_norm {
            return self.clone();
        }
        let mut config = self.config.clone();
        config.batch_norm = false;
        let mut weights = Weights::new();
        for spec in self.config.layers() {
            let name = &spec.name;
            match spec.kind {
                LayerKind::AvgPool | LayerKind::Softmax => {}
                LayerKind::Fc => {
                    for p in ["weight", "bias"] {
                        let n = format!("{name}.{p}");
                        weights.insert(n.clone(), self.weights.get(&n).expect("checked").clone());
                    }
                }
                _ => {
                    let (data, bias) =
                        crate::model::folded(&self.weights, &self.config, &spec, Path::new(""))
                            .expect("checked checkpoint");
                    let shape = self
                        .weights
                        .get(&format!("{name}.weight"))
                        .expect("checked");
                    weights.insert(format!("{name}.bias"), Param::new(vec![bias.len()], bias));
                    weights.insert(
                        format!("{name}.weight"),
                        Param::new(shape.shape.clone(), data),
                    );
                }
            }
        }
        Checkpoint {
            config,
            weights,
            labels: self.labels.clone(),
        }
    }
}

impl Weights {
    /// Randomly initialised weights for `config` (He-normal-like uniform convolutions, identity
    /// BatchNorm), from a fixed `seed`: for benchmarks and tests, not for accuracy.
    pub fn random(config: &MobileNetConfig, seed: u64) -> Weights {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut uniform = move || {
            // splitmix64
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        let mut w = Weights::new();
        for (name, shape) in config.param_shapes() {
            let len: usize = shape.iter().product();
            let data: Vec<f32> = if name.ends_with(".weight") && !name.contains(".bn.") {
                // Fan-in: every axis but the last (the output channel); depthwise: 9.
                let fan_in: usize = if shape.len() == 3 {
                    9
                } else {
                    shape[..shape.len() - 1].iter().product()
                };
                let bound = (6.0 / fan_in as f32).sqrt();
                (0..len).map(|_| uniform() * bound).collect()
            } else if name.ends_with(".running_var") || name.ends_with(".bn.weight") {
                vec![1.0; len]
            } else {
                (0..len).map(|_| uniform() * 0.1).collect()
            };
            w.insert(name, Param::new(shape, data));
        }
        w
    }
}
