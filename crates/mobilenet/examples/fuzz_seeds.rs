//! Writes the fuzzers' seed corpora (issue 9): small but real files of every format each parser
//! reads, made by our own writers from tiny networks, plus the small real files in
//! `tests/fixtures` (PyTorch, Keras, ONNX from PyTorch and tf2onnx, Google's TFLite, photos).
//!
//! ```text
//! cargo run --release -p mobilenet --example fuzz_seeds -- fuzz/corpus
//! ```
//! `tools/fuzz.sh` runs it before fuzzing. Every file goes to `OUT/<target>/<name>`.

#[path = "../tests/common/fuzz_harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mobilenet::data::Dataset;
use mobilenet::io::names::{tf_slim_name, TorchFamily};
use mobilenet::io::onnx::{export_onnx_bytes, OnnxOptions};
use mobilenet::io::tf_graphdef::proto::{self, attr_value::Value, AttrValue, NodeDef};
use mobilenet::io::{layout, native, npy, tflite, torch};
use mobilenet::train::{
    AugmentKind, DecayRule, OptimizerKind, ScheduleKind, TrainConfig, TrainNet, Trainer,
};
use mobilenet::{Checkpoint, MobileNetConfig};
use prost::Message;

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> R<()> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: fuzz_seeds OUT_DIR")?);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let seeds = Seeds { out };

    // Tiny networks: the CIFAR one and the ImageNet one at α 1/16 and 32 × 32 pixels, with
    // BatchNorm and folded (as TFLite files are).
    let mut nets = Vec::new();
    for (name, mut config) in [
        ("cifar", MobileNetConfig::cifar()),
        ("imagenet", MobileNetConfig::v1(0.0625, 32, 5)),
    ] {
        config.width = 0.0625;
        let labels = (0..config.classes).map(|i| format!("class {i}")).collect();
        let ckpt = TrainNet::init(&config, labels, 1)?.to_checkpoint();
        let folded = ckpt.fold_batch_norm();
        nets.push((name, ckpt, folded));
    }

    for (name, ckpt, folded) in &nets {
        let p = Path::new("seed");
        for (suffix, c) in [("bn", ckpt), ("folded", folded)] {
            let tag = format!("{name}_{suffix}");
            if let Ok(bytes) = tflite::export_tflite_bytes(c, p) {
                seeds.write("tflite", &format!("{tag}.tflite"), &bytes)?;
            }
            for fold in [false, true] {
                let bytes = export_onnx_bytes(
                    c,
                    p,
                    OnnxOptions {
                        fold_batch_norm: fold,
                    },
                )?;
                seeds.write("onnx", &format!("{tag}_fold{fold}.onnx"), &bytes)?;
            }
            let (json, st) = native_files(c)?;
            seeds.write("native", &format!("{tag}.bin"), &harness::join(&json, &st))?;
            seeds.write("graphdef", &format!("{tag}.pb"), &graphdef(c))?;
        }
        for family in [TorchFamily::PytorchCifar, TorchFamily::Timm] {
            if let Ok(bytes) = torch::state_dict_bytes(ckpt, family, p) {
                seeds.write(
                    "torch",
                    &format!("{name}_{}.safetensors", family.name()),
                    &bytes,
                )?;
            }
        }
    }
    seeds.write("checkpoint", "cifar.safetensors", &training_checkpoint()?)?;

    for f in [
        "torch_cifar_a0125.pt",
        "torch_cifar_a0125_ckpt.pt",
        "torch_timm_a0125.safetensors",
    ] {
        let bytes = std::fs::read(fixtures.join(f))?;
        if f.ends_with(".pt") {
            for e in torch::zip::entries(&bytes)? {
                if e.name.ends_with(".pkl") {
                    seeds.write("pickle", &format!("{f}.pkl"), e.data)?;
                }
            }
        }
        seeds.write("torch", f, &bytes)?;
    }
    for f in ["keras_a025_notop.h5", "keras_a025_top.weights.h5"] {
        let bytes = std::fs::read(fixtures.join(f))?;
        seeds.write("keras", f, &bytes)?;
        seeds.write("hdf5", f, &bytes)?;
    }
    for f in ["torch_timm_a0125_ts.onnx", "torch_cifar_a0125_dynamo.onnx"] {
        seeds.write("onnx", f, &std::fs::read(fixtures.join(f))?)?;
    }
    seeds.write(
        "tflite",
        "mobilenet_v1_0.25_128_quant.tflite",
        &std::fs::read(fixtures.join("mobilenet_v1_0.25_128_quant.tflite"))?,
    )?;

    images(&seeds, &fixtures)?;
    cifar(&seeds)?;
    for shape in [vec![2, 3], vec![5], vec![1, 2, 2]] {
        let n: usize = shape.iter().product();
        let mut bytes = npy::header(&shape);
        for i in 0..n {
            bytes.extend_from_slice(&(i as f32 * 0.5).to_le_bytes());
        }
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        seeds.write("npy", &format!("{}.npy", dims.join("x")), &bytes)?;
    }
    Ok(())
}

struct Seeds {
    out: PathBuf,
}

impl Seeds {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) -> R<()> {
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        Ok(())
    }
}

/// `model.json` and `model.safetensors` as `native::save` writes them.
fn native_files(ckpt: &Checkpoint) -> R<(Vec<u8>, Vec<u8>)> {
    let dir = harness::scratch_dir("seeds");
    let path = dir.join("model.json");
    native::save(ckpt, &path, Some("fuzz seed"))?;
    let files = (
        std::fs::read(&path)?,
        std::fs::read(dir.join("model.safetensors"))?,
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(files)
}

/// A frozen TF-Slim graph of `ckpt`'s tensors: an `input` placeholder and one `Const` per
/// parameter, under TF-Slim's names and shapes (the values are ours, not transposed: a seed
/// needs the structure, not the function).
fn graphdef(ckpt: &Checkpoint) -> Vec<u8> {
    let attr = |v: Value| AttrValue { value: Some(v) };
    let shape = |dims: &[usize]| proto::TensorShapeProto {
        dim: dims
            .iter()
            .map(|&d| proto::Dim { size: d as i64 })
            .collect(),
        unknown_rank: false,
    };
    let r = ckpt.config.resolution;
    let mut node = vec![NodeDef {
        name: "input".into(),
        op: "Placeholder".into(),
        input: vec![],
        attr: [(
            "shape".to_string(),
            attr(Value::Shape(shape(&[1, r, r, 3]))),
        )]
        .into(),
    }];
    let mut names: Vec<_> = ckpt.weights.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    for ours in names {
        let Some((tf, layout_kind)) = tf_slim_name(&ours) else {
            continue;
        };
        let p = ckpt.weights.get(&ours).expect("listed");
        let dims = layout::to_tf_slim_shape(layout_kind, &p.shape).unwrap_or(p.shape.clone());
        let tensor = proto::TensorProto {
            dtype: proto::DT_FLOAT,
            tensor_shape: Some(shape(&dims)),
            tensor_content: p.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            float_val: vec![],
        };
        node.push(NodeDef {
            name: tf,
            op: "Const".into(),
            input: vec![],
            attr: [("value".to_string(), attr(Value::Tensor(tensor)))].into(),
        });
    }
    proto::GraphDef { node }.encode_to_vec()
}

/// The checkpoint of a two-step training run of the tiny CIFAR network on four images.
fn training_checkpoint() -> R<Vec<u8>> {
    let dir = harness::scratch_dir("seeds");
    let mut config = MobileNetConfig::cifar();
    config.width = 0.0625;
    config.classes = 2;
    let net = TrainNet::init(&config, vec!["a".into(), "b".into()], 1)?;
    let pixels = (0..4 * 32 * 32 * 3).map(|i| (i * 7 % 256) as u8).collect();
    let data = Arc::new(Dataset::from_raw(
        pixels,
        vec![0, 1, 0, 1],
        (32, 32),
        net.labels().to_vec(),
    )?);
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: 2,
        optimizer: OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: false,
        },
        lr: 0.1,
        schedule: ScheduleKind::Cosine,
        warmup_epochs: 0.0,
        weight_decay: 5e-4,
        decay_rule: DecayRule::Paper,
        label_smoothing: 0.0,
        clip_grad_norm: None,
        augment: AugmentKind::CropFlip { pad: 4 },
        cutout: 0,
        seed: 1,
        max_steps: None,
        freeze_body: false,
        progressive: vec![],
    };
    let mut trainer = Trainer::new(net, cfg, data.clone(), Some(data), &dir)?;
    trainer.run(
        mobilenet_kernels::kernels(),
        &AtomicBool::new(false),
        &mut |_| {},
    )?;
    let bytes = std::fs::read(dir.join("checkpoint.safetensors"))?;
    std::fs::remove_dir_all(&dir)?;
    Ok(bytes)
}

/// The shipped photos, small: each format the decoder takes, at a few sizes.
fn images(seeds: &Seeds, fixtures: &Path) -> R<()> {
    let photo = image::open(fixtures.join("photos/bird.png"))?.to_rgb8();
    for side in [1u32, 7, 32] {
        let small =
            image::imageops::resize(&photo, side, side, image::imageops::FilterType::Triangle);
        for (ext, format) in [
            ("png", image::ImageFormat::Png),
            ("jpg", image::ImageFormat::Jpeg),
            ("bmp", image::ImageFormat::Bmp),
            ("webp", image::ImageFormat::WebP),
        ] {
            let mut bytes = std::io::Cursor::new(Vec::new());
            small.write_to(&mut bytes, format)?;
            seeds.write("image", &format!("bird_{side}.{ext}"), bytes.get_ref())?;
        }
    }
    let gray = image::imageops::grayscale(&photo);
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::imageops::resize(&gray, 9, 5, image::imageops::FilterType::Nearest)
        .write_to(&mut bytes, image::ImageFormat::Png)?;
    seeds.write("image", "gray_9x5.png", bytes.get_ref())?;
    Ok(())
}

/// CIFAR-10 binary records (the harness's first byte says whether a class list comes first).
fn cifar(seeds: &Seeds) -> R<()> {
    let record = |label: u8| {
        let mut r = vec![label];
        r.extend((0..3072).map(|i| (i % 251) as u8));
        r
    };
    let mut two = vec![0u8];
    two.extend(record(3));
    two.extend(record(9));
    seeds.write("cifar_bin", "two_records.bin", &two)?;
    let mut meta = vec![1u8];
    meta.extend_from_slice(
        b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\0",
    );
    meta.extend(record(0));
    seeds.write("cifar_bin", "with_meta.bin", &meta)?;
    Ok(())
}
