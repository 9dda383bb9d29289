//! `mobilenet summary`: the per-layer cost table of a configuration.

use std::process::ExitCode;

use anyhow::Result;
use mobilenet::Summary;

use crate::args::SummaryArgs;
use crate::output::{self, count};

pub fn run(a: SummaryArgs) -> Result<ExitCode> {
    let config = match &a.model {
        Some(path) => mobilenet::io::load(path)?.config,
        None => super::arch_config(&a.arch)?,
    };
    let s = Summary::new(&config);
    if a.json {
        output::json_line(&summary_json(&s))?;
        return Ok(ExitCode::SUCCESS);
    }
    let c = &s.config;
    let mut out = String::new();
    out += &format!(
        "MobileNet v1 ({}), alpha {}, {}x{} input, {}, {}, {} padding\n\n",
        c.variant.name(),
        c.width,
        c.resolution,
        c.resolution,
        if c.has_classifier() {
            format!("{} classes", c.classes)
        } else {
            format!("no classifier ({}-d features)", c.feature_dim())
        },
        c.activation.name(),
        c.padding.name()
    );
    out += &format!(
        "{:<14} {:<10} {:>16} {:>16} {:>6} {:>11} {:>14}\n",
        "layer", "type", "input", "output", "stride", "params", "mult-adds"
    );
    for l in &s.layers {
        out += &format!(
            "{:<14} {:<10} {:>16} {:>16} {:>6} {:>11} {:>14}\n",
            l.name,
            l.kind.name(),
            shape(l.input),
            shape(l.output),
            l.stride,
            count(l.params() as u64),
            count(l.macs)
        );
    }
    out += &format!(
        "\ntotal: {} mult-adds, {} trainable parameters + {} BatchNorm running statistics ({} weights)\n\n",
        count(s.macs), count(s.trainable_params as u64), count(s.bn_running_stats as u64), count(s.weights as u64)
    );
    out += &format!(
        "{:<10} {:>7} {:>14} {:>8} {:>12} {:>8} {:>12}\n",
        "type", "layers", "mult-adds", "share", "weights", "share", "params"
    );
    for k in &s.by_kind {
        if k.macs == 0 && k.weights == 0 {
            continue;
        }
        out += &format!(
            "{:<10} {:>7} {:>14} {:>7.2}% {:>12} {:>7.2}% {:>12}\n",
            k.kind.name(),
            k.layers,
            count(k.macs),
            k.macs_share,
            count(k.weights as u64),
            k.weights_share,
            count(k.params as u64)
        );
    }
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn shape(s: [usize; 3]) -> String {
    format!("{}x{}x{}", s[0], s[1], s[2])
}

fn summary_json(s: &Summary) -> serde_json::Value {
    let layers: Vec<_> = s
        .layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "name": l.name, "kind": l.kind, "input_shape": l.input, "output_shape": l.output,
                "stride": l.stride, "params": l.params(), "weights": l.weights,
                "bn_running_stats": l.bn_running_stats(), "macs": l.macs,
            })
        })
        .collect();
    let by_kind: serde_json::Map<String, serde_json::Value> = s
        .by_kind
        .iter()
        .map(|k| {
            (
                k.kind.name().to_string(),
                serde_json::json!({
                    "layers": k.layers, "macs": k.macs, "macs_share": k.macs_share,
                    "weights": k.weights, "weights_share": k.weights_share, "params": k.params,
                }),
            )
        })
        .collect();
    serde_json::json!({
        "config": s.config, "macs": s.macs, "trainable_params": s.trainable_params,
        "bn_running_stats": s.bn_running_stats, "weights": s.weights,
        "layers": layers, "by_kind": by_kind,
    })
}
