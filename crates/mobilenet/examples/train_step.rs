//! Times one training step of a network, phase by phase (forward, backward, optimizer), on
//! random data, and where it went layer by layer (the training profile):
//! `cargo run --release -p mobilenet --example train_step -- [batch] [threads] [alpha] [iters]
//! [resolution]` (the CIFAR network; resolution 32 unless given).

use std::time::Instant;

use mobilenet::train::{
    softmax_cross_entropy, DecayRule, Mode, Optimizer, OptimizerKind, TrainNet,
};
use mobilenet::MobileNetConfig;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: f64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (n, threads, alpha, iters, r) = (
        arg(1, 128.0) as usize,
        arg(2, 2.0) as usize,
        arg(3, 1.0) as f32,
        arg(4, 5.0) as usize,
        arg(5, 32.0) as usize,
    );
    let mut c = MobileNetConfig::cifar();
    c.width = alpha;
    c.resolution = r;
    let k = mobilenet_kernels::kernels();
    let mut net = TrainNet::init(&c, vec![], 1).unwrap();
    let mut rng = mobilenet::rng::Rng::new(2);
    let x: Vec<f32> = (0..n * r * r * 3).map(|_| rng.normal() as f32).collect();
    let labels: Vec<u32> = (0..n).map(|i| (i % 10) as u32).collect();
    let mut opt = Optimizer::new(
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: false,
        },
        5e-4,
        DecayRule::Paper,
    );
    mobilenet::with_threads(threads, || {
        let (mut tf, mut tb, mut to) = (0.0, 0.0, 0.0);
        for it in 0..iters + 1 {
            let t0 = Instant::now();
            let logits = net.forward(k, &x, n, Mode::Train).unwrap().to_vec();
            let mut d = vec![0.0; logits.len()];
            softmax_cross_entropy(&logits, &labels, 10, 0.0, Some(&mut d));
            let t1 = Instant::now();
            net.backward(k, &x, &d).unwrap();
            let t2 = Instant::now();
            opt.step(&mut net, 0.01, 1.0);
            let t3 = Instant::now();
            if it == 0 {
                net.reset_profile();
            } else {
                tf += (t1 - t0).as_secs_f64();
                tb += (t2 - t1).as_secs_f64();
                to += (t3 - t2).as_secs_f64();
            }
        }
        let it = iters as f64;
        let total = (tf + tb + to) / it;
        println!(
            "isa {} batch {n} threads {threads} alpha {alpha}: forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms, step {:.1} ms = {:.0} images/s",
            k.isa, tf / it * 1e3, tb / it * 1e3, to / it * 1e3, total * 1e3, n as f64 / total
        );
        println!(
            "{:<8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  (ms per step)",
            "layer", "conv", "bn", "bn_bwd", "dW", "dX", "total"
        );
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3 / it;
        let mut sum = [0.0; 6];
        for p in net.profile() {
            let row = [
                ms(p.conv),
                ms(p.bn),
                ms(p.bn_backward),
                ms(p.filter_grad),
                ms(p.input_grad),
                ms(p.forward() + p.backward()),
            ];
            for (s, r) in sum.iter_mut().zip(row) {
                *s += r;
            }
            println!(
                "{:<8} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                p.name, row[0], row[1], row[2], row[3], row[4], row[5]
            );
        }
        println!(
            "{:<8} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            "sum", sum[0], sum[1], sum[2], sum[3], sum[4], sum[5]
        );
    })
    .unwrap();
}
