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
