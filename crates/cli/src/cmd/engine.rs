//! Which engine runs a model: the float32 plan, or the native int8 plan for a quantized TFLite
//! file (unless `--float`). `predict` and `bench` go through here.

use std::path::PathBuf;

use anyhow::{Context, Result};
use mobilenet::quant::QuantModel;
use mobilenet::{MobileNet, MobileNetConfig, Tensor};
use mobilenet_kernels::Kernels;

use crate::args::RunArgs;

pub enum Engine {
    Float(Box<MobileNet>),
    Int8(Box<QuantModel>),
}

/// The input of timed passes (see [`Engine::pass_input`]).
pub enum PassInput {
    Float(Tensor),
    /// The model's input quantization, and the image count.
    Bytes(Vec<u8>, usize),
}

impl Engine {
    /// The model `run` names: a quantized TFLite file on the int8 path unless `float`.
    pub fn load(run: &RunArgs, float: bool) -> Result<(Engine, PathBuf)> {
        if let (Some(path), false) = (run.model.as_deref(), float) {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            if bytes.get(4..8) == Some(b"TFL3") {
                if let Some(mut q) = mobilenet::io::tflite::import_tflite_quantized(&bytes, path)? {
                    let mut labels = mobilenet::Checkpoint {
                        config: q.config.clone(),
                        weights: Default::default(),
                        labels: std::mem::take(&mut q.labels),
                    };
                    super::attach_labels(&mut labels, run.labels.as_deref())?;
                    q.labels = labels.labels;
                    return Ok((
                        Engine::Int8(Box::new(QuantModel::new(&q, path)?)),
                        path.into(),
                    ));
                }
            }
        }
        let (ckpt, source) = super::load_model(run)?;
        let net = MobileNet::new(&ckpt, &source)?;
        Ok((Engine::Float(Box::new(net)), source))
    }

    pub fn config(&self) -> &MobileNetConfig {
        match self {
            Engine::Float(n) => n.config(),
            Engine::Int8(q) => q.config(),
        }
    }

    pub fn labels(&self) -> &[String] {
        match self {
            Engine::Float(n) => n.labels(),
            Engine::Int8(q) => q.labels(),
        }
    }

    /// `float32` or `int8`.
    pub fn datatype(&self) -> &'static str {
        match self {
            Engine::Float(_) => "float32",
            Engine::Int8(_) => "int8",
        }
    }

    pub fn input_hwc(&self) -> [usize; 3] {
        match self {
            Engine::Float(n) => n.input_hwc(),
            Engine::Int8(q) => q.input_hwc(),
        }
    }

    pub fn max_batch(&self) -> Result<usize> {
        Ok(match self {
            Engine::Float(n) => n.max_batch()?,
            Engine::Int8(q) => q.max_batch(),
        })
    }

    /// Images one pass of the network computes (a larger batch runs in several).
    pub fn images_per_pass(&self) -> Result<usize> {
        Ok(match self {
            Engine::Float(n) => n.images_per_pass()?,
            Engine::Int8(q) => q.max_batch(),
        })
    }

    pub fn require_classifier(&self) -> Result<()> {
        match self {
            Engine::Float(n) => n.require_classifier()?,
            Engine::Int8(q) if !q.has_classifier() => {
                return Err(mobilenet::Error::NoClassifier {
                    path: q.source().into(),
                    features: q.config().feature_dim(),
                }
                .into())
            }
            Engine::Int8(_) => {}
        }
        Ok(())
    }

    /// The layers, with their MACs.
    pub fn layers(&self) -> Vec<mobilenet::LayerSpec> {
        self.config().layers()
    }

    /// What timed passes read: the float batch, or on the int8 path its bytes in the model's
    /// input quantization, quantized once here (a runtime fed the file's integer input tensor,
    /// as LiteRT and OpenVINO are, does no quantization either).
    pub fn pass_input(&self, k: &Kernels, x: Tensor) -> Result<PassInput> {
        Ok(match self {
            Engine::Float(_) => PassInput::Float(x),
            Engine::Int8(q) => PassInput::Bytes(q.quantize_input(k, &x)?, x.batch()),
        })
    }

    /// One forward pass (its output is dropped), timing each layer into `profile`.
    pub fn forward_profiled(
        &self,
        k: &Kernels,
        x: &PassInput,
        profile: Option<&mut mobilenet::model::Profile>,
    ) -> Result<()> {
        match (self, x) {
            (Engine::Float(net), PassInput::Float(x)) => drop(net.forward_with(k, x, profile)?),
            (Engine::Int8(q), PassInput::Bytes(x, n)) => drop(q.forward_bytes(k, x, *n, profile)?),
            (Engine::Int8(_), PassInput::Float(_)) | (Engine::Float(_), PassInput::Bytes(..)) => {
                anyhow::bail!("bench: a pass input made for the other engine")
            }
        }
        Ok(())
    }

    /// Class probabilities (N, classes): the float softmax, or on the int8 path the model's
    /// own dequantized outputs (Google's files: the uint8 softmax × 1/256).
    pub fn probabilities(&self, k: &Kernels, x: &Tensor) -> Result<Vec<f32>> {
        match self {
            Engine::Float(n) => {
                let logits = n.forward_with(k, x, None)?;
                let classes = n.config().classes;
                Ok(mobilenet::layers::softmax::softmax_forward(
                    classes, &logits,
                ))
            }
            Engine::Int8(q) => Ok(q.probabilities(k, x)?),
        }
    }
}
