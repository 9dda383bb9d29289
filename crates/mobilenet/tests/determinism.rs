//! Issue 9, inference determinism: an image's outputs are bit-identical whatever the thread
//! count, the batch size and its position in the batch (no kernel splits a reduction by thread
//! or changes its summation order with the batch). Checked on the built-in α 1/224 model, a
//! CIFAR network and a small ImageNet one at odd sizes, for every ISA the host runs.

use std::path::Path;

use mobilenet::{with_threads, Checkpoint, MobileNet, MobileNetConfig, Tensor, Weights};
use mobilenet_kernels::{testing, Kernels};

fn random_model(config: MobileNetConfig) -> Checkpoint {
    let classes = config.classes;
    Checkpoint {
        weights: Weights::random(&config, 11),
        config,
        labels: (0..classes).map(|c| format!("class {c}")).collect(),
    }
}

/// `n` different images of `h × w × 3`.
fn images(n: usize, [h, w, c]: [usize; 3]) -> Vec<Tensor> {
    (0..n)
        .map(|i| {
            let x = (0..h * w * c)
                .map(|p| (((p * 31 + i * 977) % 255) as f32 / 127.5) - 1.0)
                .collect();
            Tensor::from_vec([1, h, w, c], x)
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Each image's outputs, run as one batch of all of them on `threads` threads.
fn batched(net: &MobileNet, k: &Kernels, imgs: &[&Tensor], threads: usize) -> Vec<Vec<u32>> {
    let x = Tensor::stack(&imgs.iter().map(|t| (*t).clone()).collect::<Vec<_>>());
    let out = with_threads(threads, || net.forward_with(k, &x, None))
        .unwrap()
        .unwrap();
    out.chunks(net.output_dim()).map(bits).collect()
}

fn check(name: &str, ckpt: &Checkpoint, n: usize) {
    let net = MobileNet::new(ckpt, Path::new(name)).unwrap();
    let imgs = images(n, net.input_hwc());
    for k in testing::kernel_tables() {
        let isa = k.isa;
        // The reference: each image alone, one thread.
        let alone: Vec<Vec<u32>> = imgs
            .iter()
            .map(|t| batched(&net, &k, &[t], 1).remove(0))
            .collect();
        for threads in [1, 2, 3] {
            let all: Vec<&Tensor> = imgs.iter().collect();
            assert_eq!(
                batched(&net, &k, &all, threads),
                alone,
                "{name} ({isa}): a batch of {n} on {threads} threads differs from one image at a time"
            );
            // Reversed, so that every image sits at another position beside other images.
            let mut rev = batched(
                &net,
                &k,
                &all.iter().rev().copied().collect::<Vec<_>>(),
                threads,
            );
            rev.reverse();
            assert_eq!(
                rev, alone,
                "{name} ({isa}): reversed batch on {threads} threads"
            );
            // One image alone on several threads.
            assert_eq!(
                batched(&net, &k, &[all[n - 1]], threads)[0],
                alone[n - 1],
                "{name} ({isa}): one image on {threads} threads"
            );
        }
    }
}

#[test]
fn the_builtin_model_is_bit_identical_for_any_thread_count_and_batch_position() {
    check("builtin", &mobilenet::pretrained::builtin().unwrap(), 3);
}

#[test]
fn small_networks_are_bit_identical_for_any_thread_count_and_batch_position() {
    let cifar = MobileNetConfig {
        width: 0.5,
        ..MobileNetConfig::cifar()
    };
    check("cifar", &random_model(cifar), 19);
    // Odd resolution and class count: edge tiles everywhere.
    check(
        "imagenet",
        &random_model(MobileNetConfig::v1(0.25, 67, 13)),
        7,
    );
}
