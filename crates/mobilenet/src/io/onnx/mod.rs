//! ONNX, both directions. Three pieces, as every format here:
//! 1. the container: the `onnx.proto` messages, declared by hand for `prost` ([`proto`]);
//! 2. the name table: ONNX tensor names are the exporter's choice (PyTorch writes
//!    `layers.3.conv1.weight` or `onnx::Conv_123`), so the reader maps by position instead:
//!    the graph's n-th convolution is our n-th layer of [`crate::config::MobileNetConfig::layers`];
//!    the writer names every initializer with our canonical names;
//! 3. the layout: ONNX convolutions are OIHW, depthwise (C, 1, 3, 3), `Gemm` weights
//!    (classes, Cin) with `transB = 1` ([`crate::io::layout`]).
//!
//! The reader ([`import_onnx`]) takes graphs as PyTorch's exporter and tf2onnx write them, with
//! BatchNorm kept or folded, NCHW or NHWC input. The writer ([`export_onnx`]) writes opset
//! [`OPSET`], NCHW input `input` of shape (N, 3, R, R), and the model's class labels and input
//! normalization as metadata, so that import → export → import loses nothing.

pub mod proto;
mod read;
mod write;

pub use read::{import_onnx, import_onnx_bytes};
pub use write::{export_onnx, export_onnx_bytes, OnnxOptions};

/// The ONNX operator set the writer targets (`Clip` takes its bounds as inputs from 11 on).
pub const OPSET: i64 = 13;

/// Metadata key of the class labels (a JSON list of strings).
pub const META_LABELS: &str = "mobilenet.labels";

/// Metadata key of the input normalization (JSON `{"mean": m, "std": s}`): the graph's input
/// is `(pixel − mean) / std`.
pub const META_NORMALIZATION: &str = "mobilenet.normalization";
