//! Our native format round-trips bit for bit, and every variant of the paper builds from
//! random weights and runs end to end (both paddings, both activations, batches).

use std::path::Path;

use mobilenet::io::native;
use mobilenet::{
    pretrained, Activation, Checkpoint, MobileNet, MobileNetConfig, PaddingMode, Tensor, Variant,
    Weights,
};

fn tmp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mobilenet-io-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn save_then_load_is_the_identity() {
    let ckpt = pretrained::builtin().unwrap();
    let path = tmp_dir().join("copy");
    native::save(&ckpt, &path, Some("test")).unwrap();
    let back = native::load(&path.with_extension("json")).unwrap();
    assert_eq!(back, ckpt);
    // Either file name works.
    assert_eq!(
        native::load(&tmp_dir().join("copy.safetensors")).unwrap(),
        ckpt
    );
}

/// A small checkpoint with random weights.
fn small(classes: usize, labels: &[&str]) -> Checkpoint {
    let config = MobileNetConfig::v1(0.25, 32, classes);
    Checkpoint {
        weights: Weights::random(&config, 5),
        config,
        labels: labels.iter().map(|l| l.to_string()).collect(),
    }
}

#[test]
fn a_saved_safetensors_file_is_the_whole_model() {
    let ckpt = small(2, &["cat", "dog"]);
    let path = tmp_dir().join("alone.safetensors");
    native::save(&ckpt, &path, None).unwrap();
    std::fs::remove_file(path.with_extension("json")).unwrap();
    assert_eq!(native::load(&path).unwrap(), ckpt);
    // Named explicitly, the missing JSON is an error.
    let err = native::load(&path.with_extension("json")).unwrap_err();
    assert!(err.to_string().contains("alone.json"), "{err}");
}

#[test]
fn a_json_that_does_not_match_its_safetensors_is_reported() {
    // As a crash between the two renames of a second save leaves them: the new weights file
    // with the old JSON.
    let dir = tmp_dir();
    native::save(&small(2, &["cat", "dog"]), &dir.join("old"), None).unwrap();
    native::save(&small(3, &["a", "b", "c"]), &dir.join("pair"), None).unwrap();
    std::fs::copy(dir.join("old.json"), dir.join("pair.json")).unwrap();
    let err = native::load(&dir.join("pair.safetensors"))
        .unwrap_err()
        .to_string();
    let (json, st) = (dir.join("pair.json"), dir.join("pair.safetensors"));
    assert_eq!(
        err,
        format!(
            "{}: does not match {}, which embeds another configuration or other labels (an \
             interrupted save or an edit of one file; remove {} to use the embedded one)",
            json.display(),
            st.display(),
            json.display()
        )
    );
}

#[test]
fn a_missing_parameter_is_named() {
    let config = MobileNetConfig::v1(0.25, 64, 10);
    let mut w = Weights::random(&config, 3);
    let full = Checkpoint {
        config: config.clone(),
        weights: w.clone(),
        labels: vec![],
    };
    full.check(Path::new("x")).unwrap();
    // Rebuild without one tensor.
    let mut partial = Weights::new();
    for (name, p) in w.iter().filter(|(n, _)| *n != "blocks.4.pw.bn.running_var") {
        partial.insert(name, p.clone());
    }
    w = partial;
    let path = tmp_dir().join("partial");
    std::fs::write(
        path.with_extension("safetensors"),
        native::weights_to_bytes(&w, &path).unwrap(),
    )
    .unwrap();
    let ckpt = Checkpoint {
        config,
        weights: Weights::new(),
        labels: vec![],
    };
    native::save(&ckpt, &tmp_dir().join("meta_only"), None).unwrap();
    std::fs::copy(
        tmp_dir().join("meta_only.json"),
        path.with_extension("json"),
    )
    .unwrap();
    let err = native::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("blocks.4.pw.bn.running_var") && err.contains("partial.safetensors"),
        "{err}"
    );
}

#[test]
fn every_variant_runs_end_to_end() {
    let mut configs = Vec::new();
    for variant in Variant::ALL {
        for padding in [PaddingMode::Symmetric, PaddingMode::TfSame] {
            let mut c = if variant == Variant::Cifar {
                MobileNetConfig::cifar()
            } else {
                MobileNetConfig::v1(0.25, 64, 7)
            };
            c.variant = variant;
            c.padding = padding;
            configs.push(c);
        }
    }
    let mut odd = MobileNetConfig::v1(0.3, 45, 3); // odd sizes, α not a multiple of 1/32
    odd.activation = Activation::Relu;
    configs.push(odd);
    for config in configs {
        let ckpt = Checkpoint {
            weights: Weights::random(&config, 7),
            config: config.clone(),
            labels: vec![],
        };
        let net = MobileNet::new(&ckpt, Path::new("random")).unwrap();
        let [h, w, c] = net.input_hwc();
        let x = Tensor::from_vec(
            [2, h, w, c],
            (0..2 * h * w * c)
                .map(|i| ((i % 13) as f32 - 6.0) / 6.0)
                .collect(),
        );
        let probs = net.predict(&x).unwrap();
        assert_eq!(probs.len(), 2 * config.classes, "{config:?}");
        for row in probs.chunks(config.classes) {
            let s: f32 = row.iter().sum();
            assert!(
                (s - 1.0).abs() < 1e-4 && row.iter().all(|p| p.is_finite()),
                "{config:?}"
            );
        }
        // The optimized kernels agree with the reference on every variant.
        let reference = mobilenet_kernels::Kernels::reference();
        let want = net.forward_with(&reference, &x, None).unwrap();
        let got = net.forward(&x).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-3 + 1e-3 * w.abs(),
                "{config:?}: {g} vs reference {w}"
            );
        }
    }
}
