//! `mobilenet embed`: each image's globally pooled features (the embedding the classifier
//! reads), as text, JSON lines, or a float32 `.npy` matrix with the image of each row named
//! in a `.txt` beside it. Works with every model, with or without a classifier.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use mobilenet::io::npy::NpyWriter;
use mobilenet::MobileNet;

use crate::args::EmbedArgs;
use crate::output::Sink;

pub fn run(a: EmbedArgs) -> Result<ExitCode> {
    let kernels = super::select_isa(a.run.isa.as_deref())?;
    let (ckpt, source) = super::load_model(&a.run)?;
    let net = MobileNet::new(&ckpt, &source)?;
    let dim = net.feature_dim();
    let mut npy = match &a.output {
        Some(p) => Some((NpyWriter::create(p, dim)?, names_path(p), String::new())),
        None => None,
    };
    // Without `--output`, the embeddings go to stdout: JSON lines, or one text line each.
    let mut stdout = (npy.is_none() || a.json).then_some(Sink::Stdout);
    let report = super::images::run(
        net.config(),
        net.max_batch()?,
        &a.images,
        a.run.threads,
        "embedded",
        |paths, x, progress| {
            let features = net.features_with(kernels, x)?;
            let mut text = String::new();
            for (row, path) in features.chunks_exact(dim).zip(paths) {
                if let Some((w, _, names)) = npy.as_mut() {
                    w.write_row(row)?;
                    names.push_str(&path.to_string_lossy());
                    names.push('\n');
                }
                if stdout.is_some() {
                    let path = path.to_string_lossy();
                    if a.json {
                        // f32 in their shortest form (`json!` would widen them to f64).
                        text += &serde_json::to_string(&Line {
                            path: &path,
                            embedding: row,
                        })?;
                    } else {
                        text += &path;
                        for v in row {
                            // Into the line itself: no String per value.
                            let _ = write!(text, " {v}");
                        }
                    }
                    text.push('\n');
                }
            }
            match stdout.as_mut() {
                Some(s) => s.write(&text, Some(progress)),
                None => Ok(()),
            }
        },
    )?;
    if let Some((w, names_path, names)) = npy {
        let rows = w.finish()?;
        mobilenet::io::native::write_atomic(&names_path, names.as_bytes())?;
        if !a.json {
            eprintln!(
                "wrote {rows} x {dim} float32 to {}, row names to {}",
                a.output.as_deref().unwrap_or(Path::new("")).display(),
                names_path.display()
            );
        }
    }
    Ok(report.exit_code())
}

#[derive(serde::Serialize)]
struct Line<'a> {
    path: &'a str,
    embedding: &'a [f32],
}

/// `emb.npy` → `emb.txt`; any other name gets `.txt` appended.
fn names_path(npy: &Path) -> PathBuf {
    if npy
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        npy.with_extension("txt")
    } else {
        let mut s = npy.as_os_str().to_owned();
        s.push(".txt");
        PathBuf::from(s)
    }
}
