//! The built-in model: Google's TF-Slim MobileNet v1 α 1.0 / 224 ImageNet classifier (float32,
//! 1001 classes, index 0 = background), converted from the frozen TensorFlow graph by our own
//! importer (`mobilenet import`) and embedded in the binary. Weights: Apache-2.0 (Google);
//! provenance in `assets/README.md`.

use std::path::Path;

use crate::error::Result;
use crate::io::native;
use crate::params::Checkpoint;

/// What error messages call the embedded model.
pub const BUILTIN_NAME: &str = "<built-in mobilenet_v1_1.0_224>";

static WEIGHTS: &[u8] = include_bytes!("../../../assets/mobilenet_v1_1.0_224.safetensors");
static CONFIG: &[u8] = include_bytes!("../../../assets/mobilenet_v1_1.0_224.json");

/// The embedded checkpoint.
pub fn builtin() -> Result<Checkpoint> {
    let p = Path::new(BUILTIN_NAME);
    native::from_bytes(CONFIG, p, WEIGHTS, p)
}

/// Classes of Google's ImageNet models: 1000 ImageNet classes plus "background" at index 0.
pub const IMAGENET_CLASSES: usize = 1001;

static IMAGENET_LABELS: &str = include_str!("../../../assets/imagenet_labels.txt");

/// The 1001 labels of Google's ImageNet models, index 0 = "background".
pub fn imagenet_labels() -> Vec<String> {
    parse_labels(IMAGENET_LABELS)
}

/// The 1000 ImageNet labels of models without "background" (timm, Keras): Google's without
/// index 0.
pub fn imagenet1000_labels() -> Vec<String> {
    imagenet_labels().split_off(1)
}

/// A label file's text: one label per line, trailing white space dropped.
pub fn parse_labels(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end().to_string()).collect()
}
