//! Costs of a configuration: per-layer rows and totals, and the share of multiply-adds and
//! weights per layer kind (paper Table 2). Computed from [`LayerSpec`]s alone.
//!
//! Counting follows the paper: multiply-adds and weights of convolution and FC kernels only
//! (biases, BatchNorm, pooling and softmax are not counted in the shares); "trainable
//! parameters" additionally counts the FC bias and BatchNorm γ and β; BatchNorm running means
//! and variances are reported apart.

use serde::Serialize;

use crate::config::{LayerKind, LayerSpec, MobileNetConfig};

/// Totals of one layer kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindShare {
    pub kind: LayerKind,
    pub layers: usize,
    pub macs: u64,
    /// Percent of all multiply-adds.
    pub macs_share: f64,
    /// Convolution / FC weights.
    pub weights: usize,
    /// Percent of all weights (the paper's "Parameters" column of Table 2).
    pub weights_share: f64,
    /// Trainable parameters (weights, biases, BN γ and β).
    pub params: usize,
}

/// The figures `mobilenet summary` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub config: MobileNetConfig,
    pub layers: Vec<LayerSpec>,
    pub macs: u64,
    pub trainable_params: usize,
    pub bn_running_stats: usize,
    pub weights: usize,
    pub by_kind: Vec<KindShare>,
}

impl Summary {
    pub fn new(config: &MobileNetConfig) -> Summary {
        let layers = config.layers();
        let macs: u64 = layers.iter().map(|l| l.macs).sum();
        let weights: usize = layers.iter().map(|l| l.weights).sum();
        let trainable_params = layers.iter().map(LayerSpec::params).sum();
        let bn_running_stats = layers.iter().map(LayerSpec::bn_running_stats).sum();
        let mut kinds: Vec<LayerKind> = layers.iter().map(|l| l.kind).collect();
        kinds.sort();
        kinds.dedup();
        let pct = |part: f64, all: f64| if all > 0.0 { 100.0 * part / all } else { 0.0 };
        let by_kind = kinds
            .into_iter()
            .map(|kind| {
                let of: Vec<&LayerSpec> = layers.iter().filter(|l| l.kind == kind).collect();
                let k_macs: u64 = of.iter().map(|l| l.macs).sum();
                let k_weights: usize = of.iter().map(|l| l.weights).sum();
                KindShare {
                    kind,
                    layers: of.len(),
                    macs: k_macs,
                    macs_share: pct(k_macs as f64, macs as f64),
                    weights: k_weights,
                    weights_share: pct(k_weights as f64, weights as f64),
                    params: of.iter().map(|l| l.params()).sum(),
                }
            })
            .collect();
        Summary {
            config: config.clone(),
            layers,
            macs,
            trainable_params,
            bn_running_stats,
            weights,
            by_kind,
        }
    }

    /// The share row of one kind, if the network has that kind.
    pub fn kind(&self, kind: LayerKind) -> Option<&KindShare> {
        self.by_kind.iter().find(|k| k.kind == kind)
    }
}
