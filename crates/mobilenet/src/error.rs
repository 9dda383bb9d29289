//! The engine's error type. Every variant names the thing that is wrong (file, parameter,
//! layer) and carries the values, so the one line the CLI prints is enough to act on.

use std::path::PathBuf;

/// Errors returned by the `mobilenet` library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model or data file is truncated, corrupt, or not of the format it claims to be.
    #[error("{}: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },

    /// A file is valid but holds something this engine does not support.
    #[error("{}: unsupported: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },

    /// A weight file lacks a parameter the configuration needs.
    #[error("{}: missing parameter `{name}`", path.display())]
    MissingParam { path: PathBuf, name: String },

    /// A parameter's shape does not fit the configuration.
    #[error("{}: parameter `{name}` has shape {got:?}, the model needs {expected:?}", path.display())]
    ParamShape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },

    /// An input tensor does not fit the model (shape is N, H, W, C).
    #[error("input of shape {got:?} does not fit the model, which takes {expected}")]
    InputShape { expected: String, got: [usize; 4] },

    /// An image could not be decoded.
    #[error("{}: not a readable image: {reason}", path.display())]
    Image { path: PathBuf, reason: String },

    /// A configuration value is out of range (from flags or a caller, not from a file; see
    /// [`Error::InvalidConfig`] for a file's).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A training data set's folder does not have the layout or content it needs (no images,
    /// an empty class folder, images of mixed sizes, test classes that differ from train's).
    #[error("{}: {what}", path.display())]
    Dataset { path: PathBuf, what: String },

    /// Training produced a non-finite loss; nothing was written after the last good checkpoint.
    #[error("training diverged: the loss is {loss} at epoch {epoch}, step {step}; the last checkpoint was kept (try a lower --lr or --clip-grad-norm)")]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },

    /// A model file declares a configuration that is out of range.
    #[error("{}: invalid configuration: {what}", path.display())]
    InvalidConfig { path: PathBuf, what: String },

    /// A body-only model (no classifier) was asked for class scores.
    #[error(
        "{}: the model has no classifier (its output is the {features}-d pooled feature); \
         use `mobilenet embed` for its features",
        path.display()
    )]
    NoClassifier { path: PathBuf, features: usize },

    /// A model needs more working memory for one image than the limit allows.
    #[error(
        "{}: one image needs {} of activations, more than the working-memory limit of {}",
        path.display(),
        bytes(*needed),
        bytes(*limit)
    )]
    TooLarge {
        path: PathBuf,
        needed: u64,
        limit: u64,
    },
}

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The error with the file it concerns: a [`Error::Config`] becomes an
    /// [`Error::InvalidConfig`] naming `path`; other variants name their file already.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        match self {
            Error::Config(what) => Error::InvalidConfig {
                path: path.into(),
                what,
            },
            other => other,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, what: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.into(),
            what: what.into(),
        }
    }
}

/// 1536 → "1.5 KiB": a byte count for messages.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
