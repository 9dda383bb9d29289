//! MobileNet v1 (Howard et al. 2017) on the CPU: the architecture as data, fast float32
//! inference with run-time selected SIMD kernels, and import of Google's pretrained models.
//!
//! The library never prints and never exits; every fallible call returns [`Result`].
//!
//! ```text
//! config.rs   Table 1 as data → LayerSpecs          summary.rs  costs per layer and kind
//! params.rs   named weights + Checkpoint           model.rs    inference network (BN folded)
//! layers/     one file per layer                   io/         native, TF GraphDef, TFLite
//! image/      decode, resize, normalize; folders;  predict.rs  top-k
//!             decoding ahead of the network        io/npy.rs   embeddings as .npy
//! pretrained.rs  the built-in Google α1/224 model
//! data/       training sets, augmentation, batches
//! ```

pub mod config;
pub mod data;
pub mod error;
pub mod image;
pub mod io;
pub mod layers;
pub mod model;
pub mod params;
pub mod predict;
pub mod pretrained;
pub mod quant;
pub mod rng;
pub mod summary;
pub mod tensor;
pub mod train;

pub use config::{
    Activation, LayerKind, LayerSpec, MobileNetConfig, Normalization, PaddingMode, Variant,
};
pub use error::{Error, Result};
pub use model::MobileNet;
pub use params::{Checkpoint, Param, Weights};
pub use predict::{top_k, Prediction};
pub use summary::Summary;
pub use tensor::Tensor;

/// Runs `f` on a rayon pool of `threads` threads (0 = all cores). Every kernel call made inside
/// `f` splits its work over that pool.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Config(format!("cannot start {threads} threads: {e}")))?;
    Ok(pool.install(f))
}
