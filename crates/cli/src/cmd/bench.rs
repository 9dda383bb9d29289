//! `mobilenet bench`: end-to-end latency and a per-layer table, on the same code path as
//! `predict`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use mobilenet::pretrained::{IMAGENET_CLASSES, TF_SLIM_ACCURACY};
use mobilenet::{MobileNet, MobileNetConfig, Summary, Tensor};
use mobilenet_kernels::Kernels;

use super::engine::Engine;
use crate::args::BenchArgs;
use crate::output;

/// Whole-pass times (ms) and each layer's fastest time (ms), by `LayerSpec` name.
type Timings = (Vec<f64>, Vec<(String, f64)>);

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    let kernels = super::select_isa(a.run.isa.as_deref())?;
    let threads = if a.run.threads == 0 {
        std::thread::available_parallelism().map_or(1, |v| v.get())
    } else {
        a.run.threads
    };
    if a.sweep || a.budget_ms.is_some() {
        return sweep(&a, kernels, threads);
    }
    let (net, source) = if a.random {
        let source = PathBuf::from("<random>");
        let net = MobileNet::new(&super::random_model(super::arch_config(&a.arch)?), &source)?;
        (Engine::Float(Box::new(net)), source)
    } else {
        Engine::load(&a.run, a.float)?
    };
    let n = a.batch.max(1);
    let (times, layer_ms) = time(&net, kernels, n, threads, &a)?;
    let (min, median) = min_median(&times);
    let specs = net.layers();
    let macs_of = |name: &str| specs.iter().find(|l| l.name == name).map_or(0, |l| l.macs);
    let total_macs: u64 = specs.iter().map(|l| l.macs).sum();
    let per_pass = net.images_per_pass()?.min(n);
    let caches = mobilenet_kernels::cpu::caches();
    if a.json {
        let layers: Vec<_> = layer_ms
            .iter()
            .map(|(name, ms)| {
                let gflops = 2.0 * macs_of(name) as f64 * n as f64 / (ms * 1e6);
                serde_json::json!({ "name": name, "min_ms": ms, "gflops": gflops })
            })
            .collect();
        let byte_pairs = match &net {
            Engine::Int8(q) => serde_json::json!(q.byte_pair_layers().0),
            Engine::Float(_) => serde_json::Value::Null,
        };
        output::json_line(&serde_json::json!({
            "engine": "mobilenet", "isa": kernels.isa.name(), "threads": threads, "batch": n,
            "datatype": net.datatype(), "q8_kernels": kernels.q8.name,
            "input": input_kind(&net),
            "byte_pair_layers": byte_pairs,
            "model": source.to_string_lossy(), "iters": times.len(),
            "min_ms": min, "median_ms": median, "images_per_s": n as f64 * 1e3 / median,
            "gflops": 2.0 * total_macs as f64 * n as f64 / (median * 1e6), "layers": layers,
            "images_per_pass": per_pass,
            "caches": { "l1d": caches.l1d, "l2": caches.l2, "l3": caches.l3, "assumed": caches.assumed },
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let sum: f64 = layer_ms.iter().map(|(_, ms)| ms).sum();
    let mut out = format!(
        "{} | {} ({} input) | isa {}{} | {threads} thread(s) | batch {n} | {} runs\nlatency: min {min:.3} ms, median {median:.3} ms | {:.1} images/s | {:.1} GFLOP/s\n\n",
        source.display(), net.datatype(), input_kind(&net), kernels.isa,
        match &net {
            Engine::Int8(q) => {
                let (pairs, gemms) = q.byte_pair_layers();
                let note = if kernels.q8.byte_pairs {
                    format!(", byte pairs on {pairs} of {gemms} layers")
                } else {
                    String::new()
                };
                format!(" (int8 GEMM: {}{note})", kernels.q8.name)
            }
            Engine::Float(_) => String::new(),
        },
        times.len(), n as f64 * 1e3 / median, 2.0 * total_macs as f64 * n as f64 / (median * 1e6)
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
    if n > 1 {
        out += &format!(
            "\n{} pass(es) of up to {per_pass} image(s): caches L1d {} KiB, L2 {} KiB, L3 {} KiB{}\n",
            n.div_ceil(per_pass),
            caches.l1d >> 10,
            caches.l2 >> 10,
            caches.l3 >> 10,
            if caches.assumed { " (assumed: not reported by the system)" } else { "" },
        );
    }
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// What a timed pass starts from: f32, or on the int8 path the model's uint8 input bytes
/// (see `Engine::pass_input`).
fn input_kind(net: &Engine) -> &'static str {
    match net {
        Engine::Float(_) => "f32",
        Engine::Int8(_) => "uint8",
    }
}

fn min_median(times: &[f64]) -> (f64, f64) {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    (sorted[0], sorted[sorted.len() / 2])
}

/// Times forward passes of `n` images on `threads` threads after a warm-up of at least 10
/// passes and 250 ms (a fresh process's first passes of a small network run slower: page
/// faults, frequency ramp-up, the thread pool waking), until `--iters` passes or
/// `--max-seconds` (at least one pass).
fn time(
    net: &Engine,
    kernels: &Kernels,
    n: usize,
    threads: usize,
    a: &BenchArgs,
) -> Result<Timings> {
    let [h, w, c] = net.input_hwc();
    let x = Tensor::from_vec(
        [n, h, w, c],
        (0..n * h * w * c)
            .map(|i| ((i % 251) as f32 / 125.0) - 1.0)
            .collect(),
    );
    let x = net.pass_input(kernels, x)?;
    mobilenet::with_threads(threads, || -> Result<Timings> {
        let warm = Instant::now();
        let mut passes = 0;
        while passes < 10 || warm.elapsed() < Duration::from_millis(250) {
            net.forward_profiled(kernels, &x, None)?;
            passes += 1;
        }
        let mut times = Vec::new();
        let mut per_layer: Vec<(String, Duration)> = Vec::new();
        let start = Instant::now();
        while times.len() < a.iters.max(1)
            && (times.is_empty() || start.elapsed().as_secs_f64() < a.max_seconds)
        {
            let mut profile = Vec::new();
            let t = Instant::now();
            net.forward_profiled(kernels, &x, Some(&mut profile))?;
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
    })?
}

/// `bench --sweep [--budget-ms X]`: the paper's 16 α × resolution pairs on this CPU, each
/// beside its published ImageNet accuracy.
fn sweep(a: &BenchArgs, kernels: &Kernels, threads: usize) -> Result<ExitCode> {
    let n = a.batch.max(1);
    let mut rows = Vec::new();
    for p in TF_SLIM_ACCURACY {
        let config = MobileNetConfig::v1(p.width, p.resolution, IMAGENET_CLASSES);
        let macs = Summary::new(&config).macs;
        let net = MobileNet::new(&super::random_model(config), &PathBuf::from("<random>"))?;
        let net = Engine::Float(Box::new(net));
        let (times, _) = time(&net, kernels, n, threads, a)?;
        let (min, median) = min_median(&times);
        rows.push((p, macs, min, median, times.len()));
    }
    // The most accurate configuration that fits (rows are in order of accuracy).
    let choice = a.budget_ms.and_then(|b| rows.iter().find(|r| r.3 <= b));
    if a.json {
        let sweep: Vec<_> = rows
            .iter()
            .map(|(p, macs, min, median, iters)| {
                serde_json::json!({
                    "alpha": p.width, "resolution": p.resolution, "macs": macs,
                    "top1": p.top1, "top5": p.top5, "min_ms": min, "median_ms": median,
                    "iters": iters,
                })
            })
            .collect();
        let choice = choice.map(|(p, _, _, median, _)| {
            serde_json::json!({
                "alpha": p.width, "resolution": p.resolution, "top1": p.top1, "median_ms": median,
            })
        });
        output::json_line(&serde_json::json!({
            "engine": "mobilenet", "isa": kernels.isa.name(), "threads": threads, "batch": n,
            "datatype": "float32",
            "cpu": cpu_name(), "sweep": sweep, "budget_ms": a.budget_ms, "choice": choice,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "MobileNet v1 sweep | {} | isa {} | {threads} thread(s) | batch {n}\n\
         top-1/top-5: Google's published ImageNet accuracy of the TF-Slim float checkpoints\n\n\
         {:>5} {:>5} {:>7} {:>6} {:>6} {:>10} {:>10} {:>10}\n",
        cpu_name(),
        kernels.isa,
        "alpha",
        "res",
        "MMACs",
        "top-1",
        "top-5",
        "median ms",
        "min ms",
        "images/s",
    );
    for (p, macs, min, median, _) in &rows {
        let fits = match a.budget_ms {
            Some(b) if *median <= b => " *",
            _ => "",
        };
        out += &format!(
            "{:>5} {:>5} {:>7.0} {:>6.1} {:>6.1} {median:>10.3} {min:>10.3} {:>10.1}{fits}\n",
            p.width,
            p.resolution,
            *macs as f64 / 1e6,
            p.top1,
            p.top5,
            n as f64 * 1e3 / median,
        );
    }
    if let Some(b) = a.budget_ms {
        out += &match choice {
            Some((p, _, _, median, _)) => format!(
                "\nbudget {b} ms (* = fits): α {} / {} ({:.1} % top-1) runs in {median:.3} ms\n",
                p.width, p.resolution, p.top1
            ),
            None => format!(
                "\nbudget {b} ms: no configuration fits (the fastest runs in {:.3} ms)\n",
                rows.iter().map(|r| r.3).fold(f64::INFINITY, f64::min)
            ),
        };
    }
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The CPU's model name as Linux reports it, for the table's heading.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
