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
