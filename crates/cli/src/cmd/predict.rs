//! `mobilenet predict`: classify images and folders of images, batched, as text, JSON lines or
//! CSV, on stdout or into a file.

use std::process::ExitCode;

use anyhow::Result;
use mobilenet::{top_k, Prediction};

use super::engine::Engine;

use crate::args::{PredictArgs, PredictFormat};
use crate::output::{self, Sink};

pub fn run(a: PredictArgs) -> Result<ExitCode> {
    let kernels = super::select_isa(a.run.isa.as_deref())?;
    let (net, _) = Engine::load(&a.run, a.float)?;
    net.require_classifier()?;
    let format = match (a.format, a.json) {
        (Some(f), _) => f,
        (None, true) => PredictFormat::Json,
        (None, false) if a.output.is_some() => PredictFormat::Json,
        (None, false) => PredictFormat::Text,
    };
    let mut sink = Sink::new(a.output.as_deref())?;
    if format == PredictFormat::Csv {
        sink.write(&csv_header(a.top.min(net.config().classes)), None)?;
    }
    let classes = net.config().classes;
    let report = super::images::run(
        net.config(),
        net.max_batch()?,
        &a.images,
        a.run.threads,
        "classified",
        |paths, x, progress| {
            let probs = net.probabilities(kernels, x)?;
            let mut text = String::new();
            for (row, path) in probs.chunks_exact(classes).zip(paths) {
                let top = top_k(row, a.top, net.labels());
                let path = path.to_string_lossy();
                match format {
                    PredictFormat::Json => {
                        // Scores as f32 in their shortest form (`json!` would widen them to f64).
                        text += &serde_json::to_string(&Line {
                            path: &path,
                            top: &top,
                        })?;
                        text.push('\n');
                    }
                    PredictFormat::Csv => text += &csv_row(&path, &top),
                    PredictFormat::Text => {
                        text += &format!("{path}\n");
                        for p in &top {
                            text += &format!("  {:>8.4}  {:>5}  {}\n", p.score, p.index, p.label);
                        }
                    }
                }
            }
            sink.write(&text, Some(progress))
        },
    )?;
    sink.finish()?;
    Ok(report.exit_code())
}

#[derive(serde::Serialize)]
struct Line<'a> {
    path: &'a str,
    top: &'a [Prediction],
}

fn csv_header(k: usize) -> String {
    let mut s = String::from("path");
    for r in 1..=k {
        s += &format!(",index_{r},label_{r},score_{r}");
    }
    s.push('\n');
    s
}

fn csv_row(path: &str, top: &[Prediction]) -> String {
    let mut s = output::csv_field(path);
    for p in top {
        s += &format!(",{},{},{}", p.index, output::csv_field(&p.label), p.score);
    }
    s.push('\n');
    s
}
