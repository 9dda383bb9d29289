//! The `train` / `eval` command-line contract on a tiny CIFAR-10-format data set written by the
//! test: flag names, `OUT/metrics.jsonl` keys, `OUT/model.json` usable by `predict`, `--resume`,
//! `eval --json` keys, and one-line errors for bad data.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use common::{cifar_bin, mobilenet};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mobilenet-train-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn check(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A 32×32 24-bit BMP.
fn bmp(path: &Path) {
    let (w, h) = (32u32, 32u32);
    let row = (w * 3).div_ceil(4) * 4;
    let size = 54 + row * h;
    let mut b = Vec::new();
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    for y in 0..h {
        for x in 0..w {
            b.extend_from_slice(&[(x * 8) as u8, (y * 8) as u8, 128]);
        }
        b.resize(b.len() + (row - w * 3) as usize, 0);
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn train_resume_predict_and_eval() {
    let data = tmp("cifar-bin");
    cifar_bin(&data, 6);
    let out = tmp("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let common = [
        "--data",
        d,
        "--variant",
        "cifar",
        "--alpha",
        "0.25",
        "--batch-size",
        "8",
        "--lr",
        "0.05",
        "--optimizer",
        "sgd",
        "--seed",
        "1",
        "--threads",
        "2",
        "--quiet",
    ];
    let mut args = vec!["train"];
    args.extend(common);
    args.extend(["--epochs", "2", "--max-steps", "3", "--out", o]);
    check(&mobilenet(&args));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let last: Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    for key in [
        "epoch",
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
        "images_per_sec",
    ] {
        assert!(last.get(key).is_some(), "metrics.jsonl lacks {key}: {last}");
    }
    assert_eq!(last["epoch"], 1);
    assert!(out.join("curves.png").exists());

    // Resume to 2 epochs in total (--max-steps limits one invocation only).
    let mut args = vec!["train"];
    args.extend(common);
    args.extend(["--resume", o, "--epochs", "2"]);
    check(&mobilenet(&args));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let epochs: Vec<Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(epochs.len(), 2, "{metrics}");
    assert_eq!(epochs[1]["epoch"], 2);

    // The trained model classifies with its own labels and preprocessing.
    let img = tmp("x.bmp");
    bmp(&img);
    let model = out.join("model.json");
    let o2 = mobilenet(&[
        "predict",
        "--json",
        "--top",
        "3",
        "--model",
        model.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    check(&o2);
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&o2.stdout).trim()).unwrap();
    let label = v["top"][0]["label"].as_str().unwrap();
    assert!(mobilenet::data::CIFAR10_CLASSES.contains(&label), "{label}");

    let eval = |extra: &[&str]| -> Value {
        let mut args = vec![
            "eval",
            "--json",
            "--model",
            model.to_str().unwrap(),
            "--data",
            d,
        ];
        args.extend_from_slice(extra);
        let o = mobilenet(&args);
        check(&o);
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap()
    };
    let v = eval(&[]);
    let (t1, t5) = (v["top1"].as_f64().unwrap(), v["top5"].as_f64().unwrap());
    assert!((0.0..=1.0).contains(&t1) && t1 <= t5 && t5 <= 1.0, "{v}");
    assert_eq!(v["images"], 6);
    assert_eq!(v["confusion"].as_array().unwrap().len(), 10);

    // Flip test-time augmentation evaluates the same images, twice each.
    let v4 = eval(&["--tta-flip"]);
    assert_eq!(v4["images"], 6);
    assert!(v4["loss"].as_f64().unwrap().is_finite(), "{v4}");
}

#[test]
fn bad_data_is_a_one_line_error_naming_the_file() {
    let dir = tmp("folder");
    for c in ["cat", "dog"] {
        for split in ["train", "test"] {
            let d = dir.join(split).join(c);
            std::fs::create_dir_all(&d).unwrap();
            bmp(&d.join("a.bmp"));
        }
    }
    let bad = dir.join("train/dog/broken.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let out = tmp("bad-run");
    let o = mobilenet(&[
        "train",
        "--data",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--alpha",
        "0.25",
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("broken.jpg"), "{err}");

    // An empty class folder.
    std::fs::remove_file(&bad).unwrap();
    std::fs::create_dir_all(dir.join("train/emu")).unwrap();
    let o = mobilenet(&[
        "train",
        "--data",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("emu"), "{err}");

    // A truncated CIFAR binary.
    let bin = tmp("cifar-cut");
    cifar_bin(&bin, 2);
    let f = bin.join("data_batch_3.bin");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 5]).unwrap();
    let o = mobilenet(&[
        "train",
        "--data",
        bin.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("data_batch_3.bin"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn progressive_resize_trains_and_saves_the_models_own_size() {
    let data = tmp("cifar-bin-progressive");
    cifar_bin(&data, 4);
    let out = tmp("run-progressive");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let train = |stages: &str| {
        mobilenet(&[
            "train",
            "--data",
            d,
            "--alpha",
            "0.25",
            "--batch-size",
            "8",
            "--epochs",
            "2",
            "--progressive-resize",
            stages,
            "--threads",
            "2",
            "--quiet",
            "--out",
            o,
        ])
    };
    check(&train("16:1"));
    let model: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(model["config"]["resolution"], 32, "{model}");
    for bad in ["24", "24:2,16:1", "8:1", "24:0", "x:1"] {
        let o = train(bad);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && !err.contains("panicked"),
            "{bad}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{bad}: {err}");
        assert!(err.contains("--progressive-resize"), "{bad}: {err}");
    }
}
