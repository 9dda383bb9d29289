//! Name tables: one row per parameter, our canonical name ↔ the name another framework gives
//! it. Pure data plus one lookup; the container readers know no model and the layout
//! transforms live in [`super::layout`].
//!
//! Patterns: in our names `{i}` is the 0-based block index; in TF-Slim names `{k}` is the
//! 1-based layer number (`Conv2d_0` is the stem, so block `i` is `Conv2d_{i+1}`).

/// How a TF-Slim tensor's shape maps onto ours. TF-Slim stores HWIO, so every case is the same
/// bytes with unit axes dropped; see [`super::layout::tf_slim_shape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TfLayout {
    /// Same shape as ours: HWIO (3, 3, Cin, Cout) kernels and (C) vectors.
    Same,
    /// Depthwise kernel (3, 3, C, 1) → (3, 3, C).
    Depthwise,
    /// 1×1 convolution kernel (1, 1, Cin, Cout) → (Cin, Cout).
    Conv1x1,
}

/// One parameter: our name pattern, the TF-Slim `Const` node name pattern, and the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TfSlimRow {
    pub ours: &'static str,
    pub tf: &'static str,
    pub layout: TfLayout,
}

const fn row(ours: &'static str, tf: &'static str, layout: TfLayout) -> TfSlimRow {
    TfSlimRow { ours, tf, layout }
}

use TfLayout::{Conv1x1, Depthwise, Same};

/// TF-Slim `mobilenet_v1.py` (tensorflow/models `research/slim/nets/mobilenet_v1.py`), as
/// frozen into a GraphDef: variables become `Const` nodes under their variable names.
#[rustfmt::skip]
pub const TF_SLIM: &[TfSlimRow] = &[
    row("stem.weight",                "MobilenetV1/Conv2d_0/weights",                            Same),
    row("stem.bn.weight",             "MobilenetV1/Conv2d_0/BatchNorm/gamma",                    Same),
    row("stem.bn.bias",               "MobilenetV1/Conv2d_0/BatchNorm/beta",                     Same),
    row("stem.bn.running_mean",       "MobilenetV1/Conv2d_0/BatchNorm/moving_mean",              Same),
    row("stem.bn.running_var",        "MobilenetV1/Conv2d_0/BatchNorm/moving_variance",          Same),
    row("blocks.{i}.dw.weight",       "MobilenetV1/Conv2d_{k}_depthwise/depthwise_weights",      Depthwise),
    row("blocks.{i}.dw.bn.weight",    "MobilenetV1/Conv2d_{k}_depthwise/BatchNorm/gamma",        Same),
    row("blocks.{i}.dw.bn.bias",      "MobilenetV1/Conv2d_{k}_depthwise/BatchNorm/beta",         Same),
    row("blocks.{i}.dw.bn.running_mean", "MobilenetV1/Conv2d_{k}_depthwise/BatchNorm/moving_mean", Same),
    row("blocks.{i}.dw.bn.running_var",  "MobilenetV1/Conv2d_{k}_depthwise/BatchNorm/moving_variance", Same),
    row("blocks.{i}.pw.weight",       "MobilenetV1/Conv2d_{k}_pointwise/weights",                Conv1x1),
    row("blocks.{i}.pw.bn.weight",    "MobilenetV1/Conv2d_{k}_pointwise/BatchNorm/gamma",        Same),
    row("blocks.{i}.pw.bn.bias",      "MobilenetV1/Conv2d_{k}_pointwise/BatchNorm/beta",         Same),
    row("blocks.{i}.pw.bn.running_mean", "MobilenetV1/Conv2d_{k}_pointwise/BatchNorm/moving_mean", Same),
    row("blocks.{i}.pw.bn.running_var",  "MobilenetV1/Conv2d_{k}_pointwise/BatchNorm/moving_variance", Same),
    row("fc.weight",                  "MobilenetV1/Logits/Conv2d_1c_1x1/weights",                Conv1x1),
    row("fc.bias",                    "MobilenetV1/Logits/Conv2d_1c_1x1/biases",                 Same),
];

/// The TF-Slim node name and layout of our parameter `ours`, or `None` if no row matches.
pub fn tf_slim_name(ours: &str) -> Option<(String, TfLayout)> {
    TF_SLIM.iter().find_map(|r| {
        let i = match_pattern(r.ours, "{i}", ours)?;
        let tf = match i {
            Some(i) => r.tf.replace("{k}", &(i + 1).to_string()),
            None => r.tf.to_string(),
        };
        Some((tf, r.layout))
    })
}

/// Matches `name` against `pattern`, which holds `hole` at most once standing for a decimal
/// number. `Some(None)`: matched with no hole; `Some(Some(n))`: matched with number `n`.
fn match_pattern(pattern: &str, hole: &str, name: &str) -> Option<Option<usize>> {
    match pattern.split_once(hole) {
        None => (pattern == name).then_some(None),
        Some((pre, post)) => {
            let mid = name.strip_prefix(pre)?.strip_suffix(post)?;
            if mid.is_empty() || !mid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            mid.parse().ok().map(Some)
        }
    }
}

/// How a PyTorch tensor's layout maps onto ours; see [`super::layout::torch_to_ours`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchLayout {
    /// Dense 3×3 convolution: PyTorch OIHW (Cout, Cin, 3, 3) ↔ ours HWIO (3, 3, Cin, Cout).
    Conv,
    /// Depthwise 3×3: PyTorch (C, 1, 3, 3) ↔ ours (3, 3, C).
    Depthwise,
    /// 1×1 convolution: PyTorch (Cout, Cin, 1, 1) ↔ ours (Cin, Cout).
    Pointwise,
    /// Fully connected weight: PyTorch (out, in) ↔ ours (in, out).
    Linear,
    /// A vector (BatchNorm parameters and statistics, biases): the same.
    Vector,
}

/// The PyTorch code bases whose MobileNet v1 parameter names we read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchFamily {
    /// The classic PyTorch CIFAR-10 code (`MobileNet` / `Block`: `conv1`, `bn1`,
    /// `layers.N.conv1/bn1/conv2/bn2`, `linear`).
    PytorchCifar,
    /// timm's `mobilenetv1_100` (`conv_stem`, `bn1`, `blocks.S.J.conv_dw/bn1/conv_pw/bn2`,
    /// `classifier`).
    Timm,
}

impl TorchFamily {
    pub const ALL: [TorchFamily; 2] = [TorchFamily::PytorchCifar, TorchFamily::Timm];

    /// The name used on the command line (`--names`).
    pub fn name(self) -> &'static str {
        match self {
            TorchFamily::PytorchCifar => "pytorch-cifar",
            TorchFamily::Timm => "timm",
        }
    }

    /// The stem weight's name: present in every state dict of the family.
    pub fn stem_name(self) -> &'static str {
        match self {
            TorchFamily::PytorchCifar => "conv1.weight",
            TorchFamily::Timm => "conv_stem.weight",
        }
    }
}

/// One parameter: our name pattern, its names in the two PyTorch code bases, and the layout.
/// `{i}` is our 0-based block index; in the CIFAR code it is the same number, in timm it is
/// `{t}`: the block's `stage.index` (see [`TIMM_STAGES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TorchRow {
    pub ours: &'static str,
    pub cifar: &'static str,
    pub timm: &'static str,
    pub layout: TorchLayout,
}

const fn trow(
    ours: &'static str,
    cifar: &'static str,
    timm: &'static str,
    layout: TorchLayout,
) -> TorchRow {
    TorchRow {
        ours,
        cifar,
        timm,
        layout,
    }
}

/// timm groups the 13 blocks into stages that each start at a stride change: 1, 2, 2, 6, 2.
pub const TIMM_STAGES: [usize; 5] = [1, 2, 2, 6, 2];

#[rustfmt::skip]
pub const TORCH: &[TorchRow] = &[
    trow("stem.weight",                  "conv1.weight",                "conv_stem.weight",           TorchLayout::Conv),
    trow("stem.bn.weight",               "bn1.weight",                  "bn1.weight",                 TorchLayout::Vector),
    trow("stem.bn.bias",                 "bn1.bias",                    "bn1.bias",                   TorchLayout::Vector),
    trow("stem.bn.running_mean",         "bn1.running_mean",            "bn1.running_mean",           TorchLayout::Vector),
    trow("stem.bn.running_var",          "bn1.running_var",             "bn1.running_var",            TorchLayout::Vector),
    trow("blocks.{i}.dw.weight",         "layers.{i}.conv1.weight",     "blocks.{t}.conv_dw.weight",  TorchLayout::Depthwise),
    trow("blocks.{i}.dw.bn.weight",      "layers.{i}.bn1.weight",       "blocks.{t}.bn1.weight",      TorchLayout::Vector),
    trow("blocks.{i}.dw.bn.bias",        "layers.{i}.bn1.bias",         "blocks.{t}.bn1.bias",        TorchLayout::Vector),
    trow("blocks.{i}.dw.bn.running_mean", "layers.{i}.bn1.running_mean", "blocks.{t}.bn1.running_mean", TorchLayout::Vector),
    trow("blocks.{i}.dw.bn.running_var", "layers.{i}.bn1.running_var",  "blocks.{t}.bn1.running_var", TorchLayout::Vector),
    trow("blocks.{i}.pw.weight",         "layers.{i}.conv2.weight",     "blocks.{t}.conv_pw.weight",  TorchLayout::Pointwise),
    trow("blocks.{i}.pw.bn.weight",      "layers.{i}.bn2.weight",       "blocks.{t}.bn2.weight",      TorchLayout::Vector),
    trow("blocks.{i}.pw.bn.bias",        "layers.{i}.bn2.bias",         "blocks.{t}.bn2.bias",        TorchLayout::Vector),
    trow("blocks.{i}.pw.bn.running_mean", "layers.{i}.bn2.running_mean", "blocks.{t}.bn2.running_mean", TorchLayout::Vector),
    trow("blocks.{i}.pw.bn.running_var", "layers.{i}.bn2.running_var",  "blocks.{t}.bn2.running_var", TorchLayout::Vector),
    trow("fc.weight",                    "linear.weight",               "classifier.weight",          TorchLayout::Linear),
    trow("fc.bias",                      "linear.bias",                 "classifier.bias",            TorchLayout::Vector),
];

/// timm's `stage.index` of our block `i`, or `None` past the 13 blocks.
pub fn timm_block(i: usize) -> Option<String> {
    let mut first = 0;
    for (stage, &n) in TIMM_STAGES.iter().enumerate() {
        if i < first + n {
            return Some(format!("{stage}.{}", i - first));
        }
        first += n;
    }
    None
}

/// The name `family` gives our parameter `ours`, and its layout; `None` if no row matches.
pub fn torch_name(family: TorchFamily, ours: &str) -> Option<(String, TorchLayout)> {
    TORCH.iter().find_map(|r| {
        let i = match_pattern(r.ours, "{i}", ours)?;
        let name = match (family, i) {
            (TorchFamily::PytorchCifar, Some(i)) => r.cifar.replace("{i}", &i.to_string()),
            (TorchFamily::Timm, Some(i)) => r.timm.replace("{t}", &timm_block(i)?),
            (TorchFamily::PytorchCifar, None) => r.cifar.to_string(),
            (TorchFamily::Timm, None) => r.timm.to_string(),
        };
        Some((name, r.layout))
    })
}

/// One Keras parameter: our name pattern, the legacy HDF5 name (`model.save` / Keras 2
/// `save_weights`: `<layer>/<variable>`, `{k}` the 1-based block) and the Keras 3
/// `.weights.h5` name (`<layer>/<variable index>`, layers named by class in creation order:
/// `{dw}`, `{pw}`, `{bn_dw}`, `{bn_pw}` are the suffixes of block `i`'s layers, see
/// [`keras_name`]), and the layout (Keras stores HWIO, like TF-Slim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KerasRow {
    pub ours: &'static str,
    pub legacy: &'static str,
    pub keras3: &'static str,
    pub layout: TfLayout,
}

const fn krow(
    ours: &'static str,
    legacy: &'static str,
    keras3: &'static str,
    layout: TfLayout,
) -> KerasRow {
    KerasRow {
        ours,
        legacy,
        keras3,
        layout,
    }
}

/// `keras.applications.MobileNet`.
#[rustfmt::skip]
pub const KERAS: &[KerasRow] = &[
    krow("stem.weight",                  "conv1/kernel",                  "conv2d/0",                    Same),
    krow("stem.bn.weight",               "conv1_bn/gamma",                "batch_normalization/0",       Same),
    krow("stem.bn.bias",                 "conv1_bn/beta",                 "batch_normalization/1",       Same),
    krow("stem.bn.running_mean",         "conv1_bn/moving_mean",          "batch_normalization/2",       Same),
    krow("stem.bn.running_var",          "conv1_bn/moving_variance",      "batch_normalization/3",       Same),
    krow("blocks.{i}.dw.weight",         "conv_dw_{k}/kernel",            "depthwise_conv2d{dw}/0",      Depthwise),
    krow("blocks.{i}.dw.bn.weight",      "conv_dw_{k}_bn/gamma",          "batch_normalization{bn_dw}/0", Same),
    krow("blocks.{i}.dw.bn.bias",        "conv_dw_{k}_bn/beta",           "batch_normalization{bn_dw}/1", Same),
    krow("blocks.{i}.dw.bn.running_mean", "conv_dw_{k}_bn/moving_mean",   "batch_normalization{bn_dw}/2", Same),
    krow("blocks.{i}.dw.bn.running_var", "conv_dw_{k}_bn/moving_variance", "batch_normalization{bn_dw}/3", Same),
    krow("blocks.{i}.pw.weight",         "conv_pw_{k}/kernel",            "conv2d{pw}/0",                Conv1x1),
    krow("blocks.{i}.pw.bn.weight",      "conv_pw_{k}_bn/gamma",          "batch_normalization{bn_pw}/0", Same),
    krow("blocks.{i}.pw.bn.bias",        "conv_pw_{k}_bn/beta",           "batch_normalization{bn_pw}/1", Same),
    krow("blocks.{i}.pw.bn.running_mean", "conv_pw_{k}_bn/moving_mean",   "batch_normalization{bn_pw}/2", Same),
    krow("blocks.{i}.pw.bn.running_var", "conv_pw_{k}_bn/moving_variance", "batch_normalization{bn_pw}/3", Same),
    krow("fc.weight",                    "conv_preds/kernel",             "conv2d_14/0",                 Conv1x1),
    krow("fc.bias",                      "conv_preds/bias",               "conv2d_14/1",                 Same),
];

/// Keras's names for our parameter `ours` (legacy, Keras 3) and its layout; `None` if no row
/// matches. Keras 3 names layers `conv2d`, `conv2d_1`, … in creation order: the stem is
/// `conv2d`, block `i`'s pointwise `conv2d_{i+1}`, its depthwise `depthwise_conv2d_{i}`
/// (no suffix for 0), its BatchNorms `batch_normalization_{2i+1}` and `_{2i+2}`.
pub fn keras_name(ours: &str) -> Option<(String, String, TfLayout)> {
    let suffix = |n: usize| {
        if n == 0 {
            String::new()
        } else {
            format!("_{n}")
        }
    };
    KERAS.iter().find_map(|r| {
        let i = match_pattern(r.ours, "{i}", ours)?;
        let (legacy, keras3) = match i {
            None => (r.legacy.to_string(), r.keras3.to_string()),
            Some(i) => (
                r.legacy.replace("{k}", &(i + 1).to_string()),
                r.keras3
                    .replace("{dw}", &suffix(i))
                    .replace("{pw}", &suffix(i + 1))
                    .replace("{bn_dw}", &suffix(2 * i + 1))
                    .replace("{bn_pw}", &suffix(2 * i + 2)),
            ),
        };
        Some((legacy, keras3, r.layout))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MobileNetConfig;

    #[test]
    fn every_batch_norm_param_has_a_tf_slim_name() {
        for (name, _) in MobileNetConfig::v1(1.0, 224, 1001).param_shapes() {
            assert!(tf_slim_name(&name).is_some(), "{name}");
        }
    }

    #[test]
    fn every_param_has_a_torch_name_and_the_names_are_distinct() {
        let config = MobileNetConfig::cifar();
        for family in TorchFamily::ALL {
            let names: std::collections::BTreeSet<String> = config
                .param_shapes()
                .into_iter()
                .map(|(n, _)| torch_name(family, &n).expect("a row").0)
                .collect();
            assert_eq!(names.len(), config.param_shapes().len(), "{family:?}");
        }
    }

    #[test]
    fn timm_stages_and_cifar_indices() {
        let t = |i: usize| timm_block(i).unwrap();
        let all: Vec<String> = (0..13).map(t).collect();
        assert_eq!(
            all,
            [
                "0.0", "1.0", "1.1", "2.0", "2.1", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "4.0",
                "4.1"
            ]
        );
        assert_eq!(timm_block(13), None);
        assert_eq!(
            torch_name(TorchFamily::Timm, "blocks.12.pw.bn.running_var"),
            Some(("blocks.4.1.bn2.running_var".into(), TorchLayout::Vector))
        );
        assert_eq!(
            torch_name(TorchFamily::PytorchCifar, "blocks.12.dw.weight"),
            Some(("layers.12.conv1.weight".into(), TorchLayout::Depthwise))
        );
        assert_eq!(
            torch_name(TorchFamily::Timm, "fc.weight"),
            Some(("classifier.weight".into(), TorchLayout::Linear))
        );
        assert_eq!(torch_name(TorchFamily::Timm, "blocks.13.dw.weight"), None);
    }

    #[test]
    fn keras_names_follow_creation_order() {
        let k = |n: &str| keras_name(n).unwrap();
        assert_eq!(k("stem.weight").1, "conv2d/0");
        assert_eq!(k("blocks.0.dw.weight").1, "depthwise_conv2d/0");
        assert_eq!(k("blocks.0.dw.bn.bias").1, "batch_normalization_1/1");
        assert_eq!(k("blocks.0.pw.weight").1, "conv2d_1/0");
        assert_eq!(
            k("blocks.12.pw.bn.running_var").1,
            "batch_normalization_26/3"
        );
        assert_eq!(k("blocks.12.dw.weight").0, "conv_dw_13/kernel");
        assert_eq!(
            k("fc.bias"),
            ("conv_preds/bias".into(), "conv2d_14/1".into(), Same)
        );
        assert_eq!(keras_name("blocks.13x.dw.weight"), None);
    }

    #[test]
    fn block_numbers_shift_by_one() {
        assert_eq!(
            tf_slim_name("blocks.12.pw.bn.running_var"),
            Some((
                "MobilenetV1/Conv2d_13_pointwise/BatchNorm/moving_variance".into(),
                Same
            ))
        );
        assert_eq!(
            tf_slim_name("blocks.0.dw.weight"),
            Some((
                "MobilenetV1/Conv2d_1_depthwise/depthwise_weights".into(),
                Depthwise
            ))
        );
        assert_eq!(tf_slim_name("blocks.x.dw.weight"), None);
        assert_eq!(tf_slim_name("blocks..dw.weight"), None);
        assert_eq!(tf_slim_name("stem.bias"), None);
    }
}
