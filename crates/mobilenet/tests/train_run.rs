//! The training loop end to end on a tiny synthetic data set: a run interrupted (at an epoch
//! boundary or mid-epoch, as Ctrl-C does) and resumed ends bit-identical to one that never
//! stopped; a non-finite loss stops the run with a clear error and leaves the last good
//! checkpoint; a truncated checkpoint is a clear error naming the file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mobilenet::data::Dataset;
use mobilenet::train::{
    AugmentKind, DecayRule, Event, OptimizerKind, Outcome, ResolutionStage, ScheduleKind,
    TrainConfig, TrainNet, Trainer,
};
use mobilenet::{Error, MobileNetConfig};
use mobilenet_kernels::Kernels;

fn data(n: usize, seed: u64) -> Arc<Dataset> {
    let mut rng = mobilenet::rng::Rng::new(seed);
    let classes = 3;
    let mut images = Vec::with_capacity(n * 32 * 32 * 3);
    let mut labels = Vec::new();
    for i in 0..n {
        let c = i % classes;
        labels.push(c as u32);
        // Class-dependent colour plus noise, so that the network can learn something.
        for p in 0..32 * 32 * 3 {
            let base = if p % 3 == c { 180.0 } else { 60.0 };
            images.push((base + rng.normal() * 30.0).clamp(0.0, 255.0) as u8);
        }
    }
    let names = (0..classes).map(|c| format!("class{c}")).collect();
    Arc::new(Dataset::from_raw(images, labels, (32, 32), names).unwrap())
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 8,
        optimizer: OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: true,
        },
        lr: 0.05,
        schedule: ScheduleKind::Cosine,
        warmup_epochs: 0.5,
        weight_decay: 5e-4,
        decay_rule: DecayRule::Paper,
        label_smoothing: 0.1,
        clip_grad_norm: Some(5.0),
        augment: AugmentKind::CropFlip { pad: 4 },
        cutout: 0,
        seed: 3,
        max_steps: None,
        freeze_body: false,
        progressive: vec![],
    }
}

fn net() -> TrainNet {
    let mut c = MobileNetConfig::cifar();
    c.width = 0.25;
    c.classes = 3;
    TrainNet::init(&c, vec!["a".into(), "b".into(), "c".into()], 1).unwrap()
}

fn weights(t: &Trainer) -> Vec<(String, Vec<u32>)> {
    t.net
        .to_checkpoint()
        .weights
        .iter()
        .map(|(n, p)| (n.to_string(), p.data.iter().map(|v| v.to_bits()).collect()))
        .collect()
}

fn run(t: &mut Trainer, stop_at: Option<usize>) -> Outcome {
    run_on(t, stop_at, 2)
}

fn run_on(t: &mut Trainer, stop_at: Option<usize>, threads: usize) -> Outcome {
    let k = Kernels::best();
    let stop = AtomicBool::new(false);
    let mut steps = 0;
    mobilenet::with_threads(threads, || {
        t.run(&k, &stop, &mut |e| {
            if let Event::Step { .. } = e {
                steps += 1;
                if Some(steps) == stop_at {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        })
    })
    .unwrap()
    .unwrap()
}

#[test]
fn resumed_runs_end_bit_identical_to_an_uninterrupted_one() {
    let (train, test) = (data(36, 1), data(9, 2));
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let mut a = Trainer::new(
        net(),
        config(3),
        train.clone(),
        Some(test.clone()),
        &straight,
    )
    .unwrap();
    assert_eq!(run(&mut a, None), Outcome::Finished);
    let lines = std::fs::read_to_string(straight.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3);
    for key in [
        "epoch",
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
        "images_per_sec",
    ] {
        assert!(
            lines.contains(&format!("\"{key}\"")),
            "metrics.jsonl lacks {key}"
        );
    }
    assert!(straight.join("curves.png").exists() && straight.join("model.json").exists());

    // Stopped right after epoch 1 (5 steps per epoch), then resumed.
    let split = dir.path().join("split");
    let mut b = Trainer::new(net(), config(3), train.clone(), Some(test.clone()), &split).unwrap();
    assert_eq!(run(&mut b, Some(5)), Outcome::Interrupted);
    let mut b = Trainer::resume(&split, &split, None, train.clone(), Some(test.clone())).unwrap();
    assert_eq!((b.pos.epoch, b.pos.step_in_epoch), (1, 0));
    assert_eq!(run(&mut b, None), Outcome::Finished);
    assert!(
        weights(&a) == weights(&b),
        "resumed at an epoch boundary: weights differ"
    );

    // Interrupted mid-epoch (step 7 of 5 per epoch: epoch 2, step 2), then resumed.
    let mid = dir.path().join("mid");
    let mut c = Trainer::new(net(), config(3), train.clone(), Some(test.clone()), &mid).unwrap();
    assert_eq!(run(&mut c, Some(7)), Outcome::Interrupted);
    let mut c = Trainer::resume(&mid, &mid, None, train, Some(test)).unwrap();
    assert_eq!(c.pos.epoch, 1);
    assert_eq!(run(&mut c, None), Outcome::Finished);
    assert!(
        weights(&a) == weights(&c),
        "resumed mid-epoch: weights differ"
    );
    assert_eq!(a.history.len(), c.history.len());

    // Killed after the last epoch's checkpoint but before its metrics line and plot were
    // written: resuming (with nothing left to train) writes them back from the checkpoint.
    std::fs::write(
        straight.join("metrics.jsonl"),
        lines.lines().next().unwrap(),
    )
    .unwrap();
    std::fs::remove_file(straight.join("curves.png")).unwrap();
    let mut d = Trainer::resume(&straight, &straight, None, data(36, 1), None).unwrap();
    assert_eq!(run(&mut d, None), Outcome::Finished);
    let back = std::fs::read_to_string(straight.join("metrics.jsonl")).unwrap();
    // The same lines (floats compared after the checkpoint's JSON round trip, which may
    // move the last digit).
    let epochs = |t: &str| -> Vec<(u64, f64)> {
        t.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["epoch"].as_u64().unwrap(),
                    v["train_loss"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (want, got) = (epochs(&lines), epochs(&back));
    assert_eq!(
        want.len(),
        got.len(),
        "metrics.jsonl was not restored: {back}"
    );
    for ((e0, l0), (e1, l1)) in want.iter().zip(&got) {
        assert!(e0 == e1 && (l0 - l1).abs() <= 1e-12 * l0.abs(), "{back}");
    }
    assert!(straight.join("curves.png").exists());
    // The saved model is usable by the inference engine, with the training labels.
    let model = mobilenet::io::load(&mid.join("model.json")).unwrap();
    assert_eq!(model.labels, ["a", "b", "c"]);
    mobilenet::MobileNet::new(&model, &mid).unwrap();
}

#[test]
fn the_same_seed_gives_bit_identical_weights_on_any_thread_count() {
    // Issue 9: two runs from the same seed end with the same bits (augmentation, batch order,
    // BatchNorm reductions and the optimizer are all deterministic).
    let (train, test) = (data(20, 4), data(6, 5));
    let dir = tempfile::tempdir().unwrap();
    let mut per_threads = Vec::new();
    for threads in [1, 2, 3] {
        let mut ends = Vec::new();
        for attempt in 0..2 {
            let out = dir.path().join(format!("t{threads}-{attempt}"));
            let mut t =
                Trainer::new(net(), config(2), train.clone(), Some(test.clone()), &out).unwrap();
            assert_eq!(run_on(&mut t, None, threads), Outcome::Finished);
            ends.push((weights(&t), t.history.last().unwrap().test_loss));
        }
        assert!(
            ends[0] == ends[1],
            "{threads} threads: two runs of the same seed differ"
        );
        per_threads.push(ends.remove(0));
    }
    // And the same across thread counts: every reduction is cut into chunks that depend on the
    // shapes only (kernels/src/parallel/train.rs).
    assert!(
        per_threads[0] == per_threads[1] && per_threads[1] == per_threads[2],
        "1, 2 and 3 threads give different weights"
    );
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint() {
    let (train, test) = (data(16, 1), data(6, 2));
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(
        net(),
        config(2),
        train.clone(),
        Some(test.clone()),
        dir.path(),
    )
    .unwrap();
    t.cfg.epochs = 1;
    assert_eq!(run(&mut t, None), Outcome::Finished);
    let before = std::fs::read(dir.path().join("checkpoint.safetensors")).unwrap();
    t.cfg.epochs = 2;
    t.net.visit_params(|_, name, _, v, _| {
        if name == "fc.bias" {
            v[0] = f32::INFINITY;
        }
    });
    let k = Kernels::best();
    let err = t.run(&k, &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Diverged {
                epoch: 2,
                step: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("epoch 2, step 1"), "{err}");
    let after = std::fs::read(dir.path().join("checkpoint.safetensors")).unwrap();
    assert!(before == after, "the checkpoint was overwritten");
    let r = Trainer::resume(dir.path(), dir.path(), None, train, Some(test)).unwrap();
    assert_eq!(r.pos.epoch, 1);
}

#[test]
fn truncated_or_foreign_checkpoints_are_clear_errors() {
    let (train, test) = (data(8, 1), data(3, 2));
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(
        net(),
        config(1),
        train.clone(),
        Some(test.clone()),
        dir.path(),
    )
    .unwrap();
    t.save_checkpoint().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = Trainer::resume(
            dir.path(),
            dir.path(),
            None,
            train.clone(),
            Some(test.clone()),
        )
        .err()
        .expect("a truncated checkpoint must not load");
        let msg = err.to_string();
        assert!(msg.contains("checkpoint.safetensors"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
    // A model file is not a training checkpoint.
    let model_st = dir.path().join("m.safetensors");
    mobilenet::io::native::save(&t.net.to_checkpoint(), &model_st, None).unwrap();
    std::fs::copy(&model_st, &path).unwrap();
    let err = Trainer::resume(
        dir.path(),
        Path::new("/nonexistent-out"),
        None,
        train,
        Some(test),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("not a training checkpoint"),
        "{err}"
    );
}

#[test]
fn flip_horizontal_mirrors_each_row_and_is_its_own_inverse() {
    // Two images of 2×3 pixels with 2 channels; pixel (n, y, x) channel ch = n·100 + y·10 + x + ch/2.
    let (h, w, c) = (2, 3, 2);
    let v =
        |n: usize, y: usize, x: usize, ch: usize| (n * 100 + y * 10 + x) as f32 + ch as f32 / 2.0;
    let mut t = Vec::new();
    for n in 0..2 {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    t.push(v(n, y, x, ch));
                }
            }
        }
    }
    let orig = t.clone();
    mobilenet::train::flip_horizontal(&mut t, w, c);
    for n in 0..2 {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let i = ((n * h + y) * w + x) * c + ch;
                    assert_eq!(t[i], v(n, y, w - 1 - x, ch), "n {n} y {y} x {x} ch {ch}");
                }
            }
        }
    }
    mobilenet::train::flip_horizontal(&mut t, w, c);
    assert_eq!(t, orig);
}

#[test]
fn the_training_profile_counts_every_layer_of_every_step() {
    let k = mobilenet_kernels::kernels();
    let mut t = net();
    let n = 4;
    let [h, w, c] = t.input_hwc();
    let x: Vec<f32> = (0..n * h * w * c).map(|i| (i % 7) as f32 - 3.0).collect();
    let labels = [0u32, 1, 2, 0];
    for _ in 0..3 {
        let logits = t
            .forward(k, &x, n, mobilenet::train::Mode::Train)
            .unwrap()
            .to_vec();
        let mut d = vec![0.0; logits.len()];
        mobilenet::train::softmax_cross_entropy(&logits, &labels, 3, 0.0, Some(&mut d));
        t.backward(k, &x, &d).unwrap();
    }
    let names: Vec<&str> = t.profile().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), t.layers.len() + 1);
    assert_eq!(names[0], "stem");
    assert_eq!(names[names.len() - 1], "head");
    for p in t.profile() {
        assert_eq!(p.steps, 3, "{}", p.name);
        assert!(p.forward() > std::time::Duration::ZERO, "{}", p.name);
        assert!(p.backward() > std::time::Duration::ZERO, "{}", p.name);
    }
    t.reset_profile();
    assert!(t.profile().iter().all(|p| p.steps == 0));
}

/// Progressive resizing trains the first epochs at a lower resolution (the network and the
/// loader rebuilt at each stage), evaluates and saves the model at its own resolution, and
/// resumes bit-identically from a checkpoint written inside a low-resolution stage.
#[test]
fn progressive_resizing_trains_small_first_and_resumes_exactly() {
    let (train, test) = (data(36, 1), data(9, 2));
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        progressive: vec![
            ResolutionStage {
                resolution: 16,
                until_epoch: 1,
            },
            ResolutionStage {
                resolution: 24,
                until_epoch: 2,
            },
        ],
        ..config(3)
    };
    assert_eq!(
        (0..4).map(|e| cfg.resolution_at(e, 32)).collect::<Vec<_>>(),
        [16, 24, 32, 32]
    );
    let straight = dir.path().join("straight");
    let mut a = Trainer::new(
        net(),
        cfg.clone(),
        train.clone(),
        Some(test.clone()),
        &straight,
    )
    .unwrap();
    assert_eq!(run(&mut a, None), Outcome::Finished);
    assert_eq!(a.net.config().resolution, 32);
    let plain = dir.path().join("plain");
    let mut p = Trainer::new(net(), config(3), train.clone(), Some(test.clone()), &plain).unwrap();
    assert_eq!(run(&mut p, None), Outcome::Finished);
    assert!(weights(&a) != weights(&p), "the stages changed nothing");

    // Interrupted in epoch 2 (24 × 24), then resumed.
    let mid = dir.path().join("mid");
    let mut b = Trainer::new(net(), cfg, train.clone(), Some(test.clone()), &mid).unwrap();
    assert_eq!(run(&mut b, Some(7)), Outcome::Interrupted);
    assert_eq!(b.net.config().resolution, 24);
    let saved = mobilenet::io::load(&mid.join("model.json")).unwrap();
    assert_eq!(saved.config.resolution, 32);
    let mut b = Trainer::resume(&mid, &mid, None, train, Some(test)).unwrap();
    assert_eq!(
        b.net.config().resolution,
        32,
        "the checkpoint holds the model's resolution"
    );
    assert_eq!(run(&mut b, None), Outcome::Finished);
    assert!(
        weights(&a) == weights(&b),
        "resumed in a stage: weights differ"
    );
    let figures = |t: &Trainer| -> Vec<_> {
        t.history
            .iter()
            .map(|m| (m.train_loss.to_bits(), m.test_acc))
            .collect()
    };
    assert_eq!(figures(&a), figures(&b));
}

/// Stages must end at increasing epochs.
#[test]
fn progressive_stages_out_of_order_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stage = |resolution, until_epoch| ResolutionStage {
        resolution,
        until_epoch,
    };
    let cfg = TrainConfig {
        progressive: vec![stage(16, 2), stage(24, 2)],
        ..config(3)
    };
    let err = Trainer::new(net(), cfg, data(8, 1), None, dir.path())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("progressive resizing"), "{err}");
}
