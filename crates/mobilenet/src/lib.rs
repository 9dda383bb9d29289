//! MobileNet v1 (Howard et al. 2017) on the CPU: the architecture as data, fast float32
//! inference with run-time selected SIMD kernels, and import of Google's pretrained models.
//!
//! The library never prints and never exits; every fallible call returns [`Result`].

pub mod config;
pub mod error;
pub mod io;
pub mod params;

pub use config::{
    Activation, LayerKind, LayerSpec, MobileNetConfig, Normalization, PaddingMode, Variant,
};
pub use error::{Error, Result};
pub use params::{Checkpoint, Param, Weights};
