//! Times the training loader alone (augmentation + normalization into batches, its own
//! background thread and rayon pool) at several output sizes:
//! `cargo run --release -p mobilenet --example loader_timing -- DATA [threads] [images]`.

use std::sync::Arc;
use std::time::Instant;

use mobilenet::data::{Augment, ChannelNorm, Dataset, Loader, LoaderConfig, Split};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = std::path::PathBuf::from(args.get(1).expect("DATA folder"));
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let images: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let data = Dataset::open(&root, Split::Train, None).expect("data set");
    let data = Arc::new(data.subset(images));
    for size in [32, 24, 16] {
        let loader = Loader::new(
            data.clone(),
            LoaderConfig {
                batch_size: 128,
                out_size: (size, size),
                augment: Augment::CropFlip { pad: 4 },
                cutout: 0,
                norm: ChannelNorm::scalar(0.5, 0.25),
                shuffle: true,
                drop_last: false,
                seed: 1,
            },
        )
        .expect("loader");
        mobilenet::with_threads(threads, || {
            let t = Instant::now();
            let n: usize = loader.epoch(0, 0).map(|b| b.n).sum();
            let s = t.elapsed().as_secs_f64();
            println!(
                "{size}×{size}: {n} images in {s:.2} s = {:.0} images/s",
                n as f64 / s
            );
        })
        .expect("thread pool");
    }
}
