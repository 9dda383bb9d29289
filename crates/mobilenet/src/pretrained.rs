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

/// One row of Google's table of pretrained float MobileNet v1 models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    pub width: f32,
    pub resolution: usize,
    /// ImageNet validation accuracy (%), single center crop.
    pub top1: f64,
    pub top5: f64,
}

/// The paper's 16 α × resolution pairs with the ImageNet accuracy Google published for the
/// TF-Slim float checkpoints of 2018-02-22 (`research/slim/nets/mobilenet_v1.md` in
/// tensorflow/models), most accurate first.
pub const TF_SLIM_ACCURACY: [Published; 16] = {
    const fn p(width: f32, resolution: usize, top1: f64, top5: f64) -> Published {
        Published {
            width,
            resolution,
            top1,
            top5,
        }
    }
    [
        p(1.0, 224, 70.9, 89.9),
        p(1.0, 192, 70.0, 89.2),
        p(0.75, 224, 68.4, 88.2),
        p(1.0, 160, 68.0, 87.7),
        p(0.75, 192, 67.2, 87.3),
        p(0.75, 160, 65.3, 86.0),
        p(1.0, 128, 65.2, 85.8),
        p(0.5, 224, 63.3, 84.9),
        p(0.75, 128, 62.1, 83.9),
        p(0.5, 192, 61.7, 83.6),
        p(0.5, 160, 59.1, 81.9),
        p(0.5, 128, 56.3, 79.4),
        p(0.25, 224, 49.8, 74.2),
        p(0.25, 192, 47.7, 72.3),
        p(0.25, 160, 45.5, 70.3),
        p(0.25, 128, 41.5, 66.3),
    ]
};
