//! `mobilenet bench`: end-to-end latency and a per-layer table, on the same code path as
//! `predict`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use mobilenet::{Checkpoint, MobileNet, Tensor, Weights};

use crate::args::BenchArgs;
use crate::output;

/// Whole-pass times (ms) and each layer's fastest time (ms), by `LayerSpec` name.
type Timings = (Vec<f64>, Vec<(String, f64)>);

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    let kernels = super::select_isa(a.run.isa.as_deref())?;
    let (ckpt, source) = if a.random {
        let config = super::arch_config(&a.arch)?;
        let weights = Weights::random(&config, 1);
        (
            Checkpoint {
                config,
                weights,
                labels: vec![],
            },
            std::path::PathBuf::from("<random>"),
        )
    } else {
        super::load_model(&a.run)?
    };
    let net = MobileNet::new(&ckpt, &source)?;
    let [h, w, c] = net.input_hwc();
    let n = a.batch.max(1);
    let x = Tensor::from_vec(
        [n, h, w, c],
        (0..n * h * w * c)
            .map(|i| ((i % 251) as f32 / 125.0) - 1.0)
            .collect(),
    );
    let threads = if a.run.threads == 0 {
        std::thread::available_parallelism().map_or(1, |v| v.get())
    } else {
        a.run.threads
    };
    let (times, layer_ms) = mobilenet::with_threads(threads, || -> Result<Timings> {
        for _ in 0..10 {
            net.forward_with(kernels, &x, None)?;
        }
        let mut times = Vec::new();
        let mut per_layer: Vec<(String, Duration)> = Vec::new();
        let start = Instant::now();
        while times.len() < a.iters.max(1)
            && (times.is_empty() || start.elapsed().as_secs_f64() < a.max_seconds)
        {
            let mut profile = Vec::new();
            let t = Instant::now();
            net.forward_profiled(kernels, &x, &mut profile)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if per_layer.is_empty() {
                per_layer = profile;
            } else {
                // Keep each layer's fastest time: the least disturbed by other load.
                for (acc, (_, d)) in per_layer.iter_mut().zip(profile) {
                    acc.1 = acc.1.min(d);
                }
            }
        }
        Ok((
            times,
            per_layer
                .into_iter()
                .map(|(n, d)| (n, d.as_secs_f64() * 1e3))
                .collect(),
        ))
    })??;
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let min = sorted[0];
    let median = sorted[sorted.len() / 2];
    let macs_of = |name: &str| {
        net.layers()
            .iter()
            .find(|l| l.name == name)
            .map_or(0, |l| l.macs)
    };
    let total_macs: u64 = net.layers().iter().map(|l| l.macs).sum();
    if a.json {
        let layers: Vec<_> = layer_ms
            .iter()
            .map(|(name, ms)| {
                let gflops = 2.0 * macs_of(name) as f64 * n as f64 / (ms * 1e6);
                serde_json::json!({ "name": name, "min_ms": ms, "gflops": gflops })
            })
            .collect();
        output::json_line(&serde_json::json!({
            "engine": "mobilenet", "isa": kernels.isa.name(), "threads": threads, "batch": n,
            "model": source.to_string_lossy(), "iters": times.len(),
            "min_ms": min, "median_ms": median, "images_per_s": n as f64 * 1e3 / median,
            "gflops": 2.0 * total_macs as f64 * n as f64 / (median * 1e6), "layers": layers,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let sum: f64 = layer_ms.iter().map(|(_, ms)| ms).sum();
    let mut out = format!(
        "{} | isa {} | {threads} thread(s) | batch {n} | {} runs\nlatency: min {min:.3} ms, median {median:.3} ms | {:.1} images/s | {:.1} GFLOP/s\n\n",
        source.display(), kernels.isa, times.len(), n as f64 * 1e3 / median, 2.0 * total_macs as f64 * n as f64 / (median * 1e6)
    );
    out += &format!(
        "{:<14} {:>9} {:>9} {:>7}\n",
        "layer", "min ms", "GFLOP/s", "%"
    );
    for (name, ms) in &layer_ms {
        let gflops = 2.0 * macs_of(name) as f64 * n as f64 / (ms * 1e6);
        out += &format!(
            "{name:<14} {ms:>9.4} {gflops:>9.1} {:>6.1}%\n",
            100.0 * ms / sum
        );
    }
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}
