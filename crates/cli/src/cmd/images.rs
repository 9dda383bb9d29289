//! The image loop shared by `predict` and `embed`: expand folders, decode ahead of the network
//! on a thread pool of its own, run the network batch by batch, show a progress bar on a
//! terminal, report each unreadable image (the others still run) and, at the end, how many
//! non-image files the folders held.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mobilenet::image::{batches, files, Preprocess};
use mobilenet::{MobileNetConfig, Tensor};

use crate::args::ImageArgs;

/// What the loop did.
pub struct Report {
    /// Images that went through the network.
    pub done: usize,
    /// Images that could not be read.
    pub failed: usize,
}

impl Report {
    /// Failure when any image could not be read (each was reported already).
    pub fn exit_code(&self) -> ExitCode {
        if self.failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Progress on stderr: a bar on a terminal, nothing otherwise; messages printed through it
/// do not tear the bar.
pub struct Progress(ProgressBar);

impl Progress {
    /// Runs `f` with the bar cleared (for printing to stdout).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.suspend(f)
    }

    fn error(&self, msg: &str) {
        self.0.suspend(|| eprintln!("mobilenet: error: {msg}"));
    }
}

/// Runs `net` over every image `a` names, calling `each` with the paths and the input batch
/// of the images that decoded. `verb` names the work on the bar ("classified", "embedded").
pub fn run(
    config: &MobileNetConfig,
    max_batch: usize,
    a: &ImageArgs,
    threads: usize,
    verb: &str,
    mut each: impl FnMut(&[PathBuf], &Tensor, &Progress) -> Result<()> + Send,
) -> Result<Report> {
    if let Some(f) = a.center_crop {
        if !(f > 0.0 && f <= 1.0) {
            bail!("--center-crop {f}: the fraction must be in (0, 1]");
        }
    }
    let found = files::collect(&a.images)?;
    let skipped = found.skipped.len();
    if found.files.is_empty() {
        bail!(
            "no images in {} ({skipped} files that are not JPEG, PNG, BMP or WebP skipped)",
            a.images
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let total = found.files.len();
    let pre = Preprocess {
        size: config.resolution,
        center_crop: a.center_crop,
        normalization: config.normalization,
    };
    // Never more images at once than one forward pass holds under the memory limit, so that
    // decoded inputs stay bounded too.
    let batch = a.batch.max(1).min(max_batch);
    let show = !a.quiet && std::io::stderr().is_terminal() && total > batch;
    let bar = ProgressBar::with_draw_target(
        Some(total as u64),
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images | {per_sec} | ETA {eta} | {msg}")
            .expect("a valid template"),
    );
    let progress = Progress(bar);
    let start = Instant::now();
    let mut report = Report { done: 0, failed: 0 };
    mobilenet::with_threads(threads, || -> Result<()> {
        for decoded in batches::decode_ahead(found.files, pre, batch, threads)? {
            let n = decoded.len();
            let mut good = Vec::with_capacity(n);
            let mut paths = Vec::with_capacity(decoded.len());
            for d in decoded {
                match d.input {
                    Ok(t) => {
                        good.push(t);
                        paths.push(d.path);
                    }
                    Err(e) => {
                        progress.error(&e.to_string());
                        report.failed += 1;
                    }
                }
            }
            progress.0.inc(n as u64);
            if good.is_empty() {
                continue;
            }
            let x = Tensor::stack(&good);
            each(&paths, &x, &progress)?;
            report.done += paths.len();
        }
        Ok(())
    })??;
    let secs = start.elapsed().as_secs_f64();
    progress.0.finish_and_clear();
    if show {
        eprintln!(
            "{verb} {} images in {secs:.1} s ({:.0} images/s)",
            report.done,
            report.done as f64 / secs
        );
    }
    if skipped > 0 {
        eprintln!("mobilenet: skipped {skipped} files that are not JPEG, PNG, BMP or WebP images");
    }
    Ok(report)
}
