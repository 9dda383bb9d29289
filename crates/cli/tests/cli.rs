//! The command-line contract: subcommand names, flags, JSON keys, exit codes, and one-line
//! errors that name the file for bad input (never a panic).

#[path = "../../mobilenet/tests/common/images.rs"]
mod images;
#[path = "../../mobilenet/tests/common/models.rs"]
mod models;

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use common::{mobilenet, root};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON `o` printed, after asserting that it succeeded.
fn json_ok(o: &Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(&stdout(o)).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mobilenet-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Bad input: exit code 1 (not 101 or a signal), one line on stderr naming `needle`, no panic.
#[track_caller]
fn assert_clean_error(o: &Output, needle: &str) {
    assert_clean_errors(o, &[needle]);
}

/// Bad inputs: exit code 1, one stderr line per `needles` entry naming it, in order, each a
/// plain sentence (no debug formatting), no panic.
#[track_caller]
fn assert_clean_errors(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status {}: {err}", o.status);
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.trim_end().lines().collect();
    assert_eq!(lines.len(), needles.len(), "not one line each: {err}");
    for (line, needle) in lines.iter().zip(needles) {
        assert!(
            line.contains(needle),
            "error does not name {needle}: {line}"
        );
        for debug in ["ChunkType", " { ", "\"", "\\n", "Some(", "None"] {
            assert!(!line.contains(debug), "{debug:?} in {line}");
        }
    }
}

/// Writes `bytes` to a temporary file called `name` and returns its path as a string.
fn write_tmp(name: &str, bytes: &[u8]) -> String {
    let path = tmp(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn summary_json_reproduces_the_paper() {
    let o = mobilenet(&["summary", "--json"]);
    let v = json_ok(&o);
    assert_eq!(v["macs"], 568_740_352u64);
    assert_eq!(v["trainable_params"], 4_231_976u64);
    assert_eq!(v["bn_running_stats"], 21_888u64);
    let layers = v["layers"].as_array().unwrap();
    for key in ["name", "kind", "output_shape", "params", "macs"] {
        assert!(
            layers.iter().all(|l| l.get(key).is_some()),
            "layer key {key}"
        );
    }
    assert_eq!(layers[0]["output_shape"], serde_json::json!([112, 112, 32]));
    let pw = &v["by_kind"]["pointwise"];
    assert!((pw["macs_share"].as_f64().unwrap() - 94.86).abs() < 0.005);
    assert!((v["by_kind"]["stem"]["macs_share"].as_f64().unwrap() - 1.91).abs() < 0.005);
}

#[test]
fn summary_variants_and_options() {
    let o = mobilenet(&["summary", "--variant", "cifar", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["macs"], 46_354_432u64);
    assert_eq!(v["trainable_params"], 3_217_226u64);
    let o = mobilenet(&[
        "summary",
        "--alpha",
        "0.5",
        "--resolution",
        "160",
        "--classes",
        "10",
        "--variant",
        "shallow",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("total:"));
    let o = mobilenet(&["summary", "--alpha", "5"]);
    assert_clean_error(&o, "width multiplier 5");
}

#[test]
fn predict_the_shipped_photo_with_the_built_in_model() {
    let photo = root().join("assets/parrot.jpg");
    let o = mobilenet(&[
        "predict",
        "--top",
        "3",
        "--json",
        "--threads",
        "2",
        photo.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(v["path"], photo.to_str().unwrap());
    let top = v["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert_eq!(top[0]["index"], 89);
    assert_eq!(top[0]["label"], "macaw");
    assert!(top[0]["score"].as_f64().unwrap() > 0.9);
    let text = mobilenet(&["predict", photo.to_str().unwrap()]);
    assert!(stdout(&text).contains("macaw"));
}

#[test]
fn predict_batches_several_images_and_keeps_their_order() {
    let photos = root().join("crates/mobilenet/tests/fixtures/photos");
    let a = photos.join("bird.png");
    let b = root().join("assets/parrot.jpg");
    let o = mobilenet(&[
        "predict",
        "--json",
        "--top",
        "1",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let labels: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["top"][0]["label"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(labels, ["chickadee", "macaw", "chickadee"]);
}

#[test]
fn predict_with_a_tflite_model_and_a_native_round_trip() {
    let tfl = root().join("crates/mobilenet/tests/fixtures/mobilenet_v1_0.25_128_quant.tflite");
    let photo = root().join("assets/parrot.jpg");
    let o = mobilenet(&[
        "predict",
        "--json",
        "--model",
        tfl.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    let direct = json_ok(&o);
    assert_eq!(direct["top"][0]["label"], "macaw");
    // import → our format → the same answer, to the bit.
    let out = tmp("quant025");
    let o = mobilenet(&["import", tfl.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let native = out.with_extension("safetensors");
    let o = mobilenet(&[
        "predict",
        "--json",
        "--model",
        native.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    let via_native: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(direct["top"][0]["label"], via_native["top"][0]["label"]);
    // The quantized file runs on the int8 path: its scores are the model's own uint8 softmax
    // × 1/256. `--float` runs it dequantized, which is what the native copy holds.
    for entry in direct["top"].as_array().unwrap() {
        let steps = entry["score"].as_f64().unwrap() * 256.0;
        assert!(
            (steps - steps.round()).abs() < 1e-4,
            "{entry}: not a multiple of 1/256"
        );
    }
    let o = mobilenet(&[
        "predict",
        "--json",
        "--float",
        "--model",
        tfl.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    let float = json_ok(&o);
    assert_eq!(float["top"], via_native["top"]);
    assert_ne!(float["top"], direct["top"]);
}

#[test]
fn bench_runs_a_quantized_tflite_file_on_the_int8_path() {
    let tfl = root().join("crates/mobilenet/tests/fixtures/mobilenet_v1_0.25_128_quant.tflite");
    let tfl = tfl.to_str().unwrap();
    let bench = |extra: &[&str]| -> Value {
        let mut args = vec![
            "bench",
            "--json",
            "--iters",
            "2",
            "--threads",
            "1",
            "--model",
            tfl,
        ];
        args.extend_from_slice(extra);
        let o = mobilenet(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let v = bench(&[]);
    assert_eq!(v["datatype"], "int8");
    assert!(v["median_ms"].as_f64().unwrap() > 0.0);
    assert!(v["images_per_s"].as_f64().unwrap() > 0.0);
    // stem + 13 × (depthwise, pointwise) + pool + classifier + softmax, each a row.
    let layers = v["layers"].as_array().unwrap();
    assert!(layers.len() >= 27, "{layers:?}");
    assert!(v["q8_kernels"].is_string());
    // Timed from the model's uint8 input, as peers fed the file's input tensor run it.
    assert_eq!(v["input"], "uint8");
    let f = bench(&["--float"]);
    assert_eq!(
        (&f["datatype"], &f["input"]),
        (&"float32".into(), &"f32".into())
    );
}

#[test]
fn bad_images_are_one_line_errors_naming_the_file() {
    let not_image = tmp("notes.jpg");
    std::fs::write(&not_image, "these are notes, not a JPEG").unwrap();
    assert_clean_error(
        &mobilenet(&["predict", not_image.to_str().unwrap()]),
        "notes.jpg",
    );
    let truncated = tmp("half.jpg");
    let jpg = std::fs::read(root().join("assets/parrot.jpg")).unwrap();
    std::fs::write(&truncated, &jpg[..jpg.len() / 3]).unwrap();
    let o = mobilenet(&["predict", truncated.to_str().unwrap()]);
    assert!(!stderr(&o).contains("panicked"));
    // A truncated JPEG either decodes its first part (decoders pad it) or is an error naming it.
    if !o.status.success() {
        assert_clean_error(&o, "half.jpg");
    }
    let missing = tmp("nope.png");
    assert_clean_error(
        &mobilenet(&["predict", missing.to_str().unwrap()]),
        "nope.png",
    );
    let gif = tmp("anim.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
    assert_clean_error(&mobilenet(&["predict", gif.to_str().unwrap()]), "anim.gif");
}

#[test]
fn a_bad_image_among_good_ones_fails_the_run_but_keeps_the_others() {
    let bad = tmp("bad.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\n garbage").unwrap();
    let good = root().join("assets/parrot.jpg");
    let o = mobilenet(&[
        "predict",
        "--json",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_clean_error(&o, "bad.png");
    assert!(stdout(&o).contains("macaw"));
}

#[test]
fn bad_models_are_one_line_errors_naming_the_file() {
    let photo = root().join("assets/parrot.jpg");
    let p = photo.to_str().unwrap();
    let missing = tmp("missing.tflite");
    let o = mobilenet(&["predict", "--model", missing.to_str().unwrap(), p]);
    assert_clean_error(&o, "missing.tflite");
    // The cause is said once.
    assert_eq!(
        stderr(&o).matches("os error 2").count(),
        1,
        "{}",
        stderr(&o)
    );
    let tfl = std::fs::read(
        root().join("crates/mobilenet/tests/fixtures/mobilenet_v1_0.25_128_quant.tflite"),
    )
    .unwrap();
    let truncated = tmp("cut.tflite");
    std::fs::write(&truncated, &tfl[..tfl.len() / 2]).unwrap();
    assert_clean_error(
        &mobilenet(&["predict", "--model", truncated.to_str().unwrap(), p]),
        "cut.tflite",
    );
    let garbage = tmp("garbage.pb");
    std::fs::write(&garbage, [0xffu8; 4096]).unwrap();
    assert_clean_error(
        &mobilenet(&["predict", "--model", garbage.to_str().unwrap(), p]),
        "garbage.pb",
    );
    let unknown = tmp("model.bin");
    std::fs::write(&unknown, b"hello").unwrap();
    assert_clean_error(
        &mobilenet(&["predict", "--model", unknown.to_str().unwrap(), p]),
        "model.bin",
    );

    // Our format: a truncated safetensors file, and weights whose shapes do not fit the config.
    let out = tmp("small");
    let tfl_path =
        root().join("crates/mobilenet/tests/fixtures/mobilenet_v1_0.25_128_quant.tflite");
    assert!(mobilenet(&[
        "import",
        tfl_path.to_str().unwrap(),
        "-o",
        out.to_str().unwrap()
    ])
    .status
    .success());
    let st = out.with_extension("safetensors");
    let json = out.with_extension("json");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() - 100]).unwrap();
    assert_clean_error(
        &mobilenet(&["predict", "--model", st.to_str().unwrap(), p]),
        "small.safetensors",
    );
    std::fs::write(&st, &bytes).unwrap();
    // The JSON no longer says what the safetensors file embeds.
    let cfg = std::fs::read_to_string(&json)
        .unwrap()
        .replace("\"width\": 0.25", "\"width\": 0.5");
    std::fs::write(&json, cfg).unwrap();
    let o = mobilenet(&["predict", "--model", st.to_str().unwrap(), p]);
    assert_clean_error(&o, "small.json: does not match");
    assert!(stderr(&o).contains("small.safetensors"), "{}", stderr(&o));
}

#[test]
fn bad_images_among_good_ones_are_reported_and_the_good_ones_classified() {
    // The first used to panic inside `png` on a decode thread and end the process with 101.
    let palette = write_tmp("palette.png", &images::png_with_short_palette());
    let idat = write_tmp("idat_first.png", &images::png_with_idat_first());
    let app0 = write_tmp("app0.jpg", &images::jpeg_with_bad_app0());
    let good = root().join("assets/parrot.jpg");
    let good = good.to_str().unwrap();
    let o = mobilenet(&[
        "predict", "--json", "--top", "1", &palette, good, &idat, &app0, good,
    ]);
    assert_clean_errors(
        &o,
        &[
            "palette.png: not a readable image: PNG palette (PLTE chunk) of 5 bytes",
            "idat_first.png: not a readable image: Format error decoding Png: IDAT chunk appeared \
             before IHDR chunk",
            "app0.jpg: not a readable image: Format error decoding Jpeg: Found a marker with \
             invalid length:1",
        ],
    );
    assert_eq!(stdout(&o).matches("macaw").count(), 2, "{}", stdout(&o));
}

#[test]
fn hostile_model_files_are_one_line_errors_naming_the_file() {
    let photo = root().join("assets/parrot.jpg");
    let p = photo.to_str().unwrap();
    let m = i32::MAX;
    let cases = [
        (
            "zero_classes.tflite",
            models::tflite_with_zero_classes(),
            "invalid configuration: the classifier (operator 28) has 0 classes",
        ),
        (
            "zero_input.tflite",
            models::tflite_with_shape(&[1, 128, 128, 3], &[1, 0, 0, 3]),
            "invalid configuration: resolution 0 is below 16",
        ),
        (
            "huge_input.tflite",
            models::tflite_with_shape(&[1, 128, 128, 3], &[1, m, m, 3]),
            "invalid configuration: resolution 2147483647 is above 4096",
        ),
        (
            "huge_width.tflite",
            models::tflite_with_shape(&[256, 1, 1, 256], &[m, 1, 1, 256]),
            "invalid configuration: width multiplier",
        ),
        (
            "huge_stem.tflite",
            models::tflite_with_shape(&[8, 3, 3, 3], &[m, 3, 3, 3]),
            "`stem.weight` [2147483647, 3, 3, 3]",
        ),
        (
            "relu.tflite",
            models::tflite_with_depthwise_activation(1, 1),
            "fused activation RELU, the network uses RELU6 there",
        ),
        (
            "offsets.safetensors",
            models::safetensors_with_offsets_near_2_pow_64(),
            "not a range in the 8 bytes of data",
        ),
    ];
    // A quantized TFLite file is read by the int8 importer, and with `--float` by the float one:
    // both must reject it cleanly. `what` holds words that must all be in the message.
    for (name, bytes, what) in cases {
        let model = write_tmp(name, &bytes);
        for float in [false, true] {
            let mut args = vec!["predict", "--model", &model, p];
            if float {
                args.push("--float");
            }
            let o = mobilenet(&args);
            assert_clean_error(&o, &format!("{name}: "));
            for word in what.split(' ') {
                assert!(
                    stderr(&o).contains(word),
                    "{name} (--float {float}): {}",
                    stderr(&o)
                );
            }
        }
    }
}

/// Runs `mobilenet args` with its address space limited to `kib` KiB (`ulimit -v`).
#[cfg(target_os = "linux")]
fn mobilenet_within(kib: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_mobilenet"))
        .args(args)
        .output()
        .expect("sh runs")
}

#[cfg(target_os = "linux")]
#[test]
fn a_4096_pixel_model_classifies_a_batch_in_bounded_memory() {
    // A batch of 4 used to take 2 GiB of activations and 1.6 GB of inputs at once, and abort
    // under this limit; in passes of 2 (the 1 GiB limit) it peaks below 2 GB.
    let model = write_tmp(
        "big_input.tflite",
        &models::tflite_with_shape(&[1, 128, 128, 3], &[1, 4096, 4096, 3]),
    );
    let photo = root().join("assets/parrot.jpg");
    let p = photo.to_str().unwrap();
    let o = mobilenet_within(
        3_000_000,
        &[
            "predict",
            "--json",
            "--top",
            "1",
            "--threads",
            "2",
            "--batch",
            "16",
            "--model",
            &model,
            p,
            p,
            p,
            p,
        ],
    );
    assert!(o.status.success(), "{}: {}", o.status, stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 4);
}

#[test]
fn a_model_of_which_one_image_exceeds_the_memory_limit_is_an_error() {
    let config = mobilenet::MobileNetConfig::v1(1.0, 4096, 10);
    let ckpt = mobilenet::Checkpoint {
        weights: mobilenet::Weights::random(&config, 1),
        config,
        labels: vec![],
    };
    let path = tmp("huge_activations.safetensors");
    mobilenet::io::native::save(&ckpt, &path, None).unwrap();
    let photo = root().join("assets/parrot.jpg");
    let o = mobilenet(&[
        "predict",
        "--model",
        path.to_str().unwrap(),
        photo.to_str().unwrap(),
    ]);
    assert_clean_error(
        &o,
        "huge_activations.safetensors: one image needs 2.0 GiB of activations, more than the \
         working-memory limit of 1.0 GiB",
    );
}

#[test]
fn a_mobilenet_isa_the_cpu_cannot_use_is_an_error() {
    let photo = root().join("assets/parrot.jpg");
    let run = |isa: &str| {
        Command::new(env!("CARGO_BIN_EXE_mobilenet"))
            .args(["predict", photo.to_str().unwrap()])
            .env("MOBILENET_ISA", isa)
            .output()
            .unwrap()
    };
    assert_clean_error(
        &run("avx5"),
        "MOBILENET_ISA: unknown instruction set `avx5` (known: reference, avx2, avx512)",
    );
    for isa in mobilenet_kernels::Isa::ALL {
        let o = run(isa.name());
        if isa.is_supported() {
            assert!(o.status.success(), "{isa}: {}", stderr(&o));
        } else {
            assert_clean_error(&o, &format!("MOBILENET_ISA: this CPU does not run {isa}"));
        }
    }
}

#[test]
fn bench_json_has_latency_and_per_layer_rows() {
    let o = mobilenet(&["bench", "--json", "--iters", "3", "--threads", "1"]);
    let v = json_ok(&o);
    assert!(v["median_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(v["layers"].as_array().unwrap().len(), 27 + 2);
    let o = mobilenet(&[
        "bench",
        "--random",
        "--variant",
        "full-conv",
        "--alpha",
        "0.25",
        "--resolution",
        "64",
        "--iters",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mobilenet(&["bench", "--isa", "z80"]);
    assert_clean_error(&o, "--isa z80: unknown instruction set `z80`");
}

#[test]
fn bench_sweep_times_the_papers_16_configurations_and_picks_one_for_a_budget() {
    let args = [
        "bench",
        "--json",
        "--iters",
        "1",
        "--max-seconds",
        "0",
        "--threads",
        "1",
    ];
    let sweep = |extra: &[&str]| -> Value {
        let o = mobilenet(&[&args[..], extra].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let v = sweep(&["--budget-ms", "1e9"]);
    let rows = v["sweep"].as_array().unwrap();
    assert_eq!(rows.len(), 16);
    let pairs: std::collections::BTreeSet<(u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                (r["alpha"].as_f64().unwrap() * 100.0) as u64,
                r["resolution"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(pairs.len(), 16, "{pairs:?}");
    for r in rows {
        assert!(r["median_ms"].as_f64().unwrap() > 0.0);
        assert!(r["top1"].as_f64().unwrap() > 40.0);
        assert!(r["macs"].as_u64().unwrap() > 10_000_000);
    }
    // Everything fits in a huge budget: the most accurate one is chosen.
    assert_eq!(v["choice"]["alpha"], 1.0);
    assert_eq!(v["choice"]["resolution"], 224);
    assert_eq!(v["choice"]["top1"], 70.9);
    // Nothing fits in a nanosecond.
    assert!(sweep(&["--budget-ms", "1e-6"])["choice"].is_null());
}

#[test]
fn predict_reads_webp_and_crops_the_centre() {
    let webp = root().join("crates/mobilenet/tests/fixtures/photos/parrot_224.webp");
    let o = mobilenet(&["predict", "--json", "--top", "1", webp.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("macaw"));
    let jpg = root().join("assets/parrot.jpg");
    let o = mobilenet(&[
        "predict",
        "--json",
        "--center-crop",
        "0.875",
        jpg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("macaw"));
    assert_clean_error(
        &mobilenet(&["predict", "--center-crop", "0", jpg.to_str().unwrap()]),
        "--center-crop 0",
    );
}

#[test]
fn export_onnx_then_predict_from_it_gives_the_same_scores() {
    let parrot = root().join("assets/parrot.jpg");
    let parrot = parrot.to_str().unwrap();
    let direct = mobilenet(&["predict", "--json", "--top", "3", parrot]);
    assert!(direct.status.success(), "{}", stderr(&direct));
    for (name, extra) in [
        ("kept.onnx", None),
        ("folded.onnx", Some("--fold-batch-norm")),
    ] {
        let out = tmp(name);
        let mut args = vec!["export", "--format", "onnx", "-o", out.to_str().unwrap()];
        args.extend(extra);
        let e = mobilenet(&args);
        assert!(e.status.success(), "{}", stderr(&e));
        assert!(stdout(&e).contains("opset 13"), "{}", stdout(&e));
        let p = mobilenet(&[
            "predict",
            "--json",
            "--top",
            "3",
            "--model",
            out.to_str().unwrap(),
            parrot,
        ]);
        assert!(p.status.success(), "{}", stderr(&p));
        let (a, b): (Value, Value) = (
            serde_json::from_str(&stdout(&direct)).unwrap(),
            serde_json::from_str(&stdout(&p)).unwrap(),
        );
        for (x, y) in a["top"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["top"].as_array().unwrap())
        {
            assert_eq!(x["index"], y["index"], "{name}");
            assert_eq!(x["label"], y["label"], "{name}");
            let d = (x["score"].as_f64().unwrap() - y["score"].as_f64().unwrap()).abs();
            assert!(d < 1e-4, "{name}: {x} vs {y}");
        }
    }
    // A file that is not a model: one line naming it.
    let bad = write_tmp("bad.onnx", b"\x08\x07garbage");
    let o = mobilenet(&[
        "export",
        "--model",
        &bad,
        "-o",
        tmp("never.onnx").to_str().unwrap(),
    ]);
    assert_clean_error(&o, "bad.onnx");
}

#[test]
fn export_pytorch_state_dicts_and_predict_from_them() {
    // A PyTorch CIFAR-code checkpoint (torch.save) in, our format and a state dict out.
    let pt = root().join("crates/mobilenet/tests/fixtures/torch_cifar_a0125.pt");
    let pt = pt.to_str().unwrap();
    let img = root().join("crates/mobilenet/tests/fixtures/photos_224/parrot.png");
    let img = img.to_str().unwrap();
    let top = |model: &str| {
        let o = mobilenet(&["predict", "--json", "--top", "10", "--model", model, img]);
        assert!(o.status.success(), "{model}: {}", stderr(&o));
        serde_json::from_str::<Value>(&stdout(&o)).unwrap()["top"].clone()
    };
    let direct = top(pt);
    assert_eq!(direct[0]["label"].as_str().map(|s| s.len() > 2), Some(true));
    let sd = tmp("cifar_sd.safetensors");
    let e = mobilenet(&[
        "export",
        "--model",
        pt,
        "--format",
        "safetensors",
        "--names",
        "pytorch-cifar",
        "-o",
        sd.to_str().unwrap(),
    ]);
    assert!(e.status.success(), "{}", stderr(&e));
    assert!(stdout(&e).contains("pytorch-cifar names"), "{}", stdout(&e));
    let ours = tmp("cifar_ours.safetensors");
    let e = mobilenet(&[
        "export",
        "--model",
        pt,
        "--format",
        "safetensors",
        "-o",
        ours.to_str().unwrap(),
    ]);
    assert!(e.status.success(), "{}", stderr(&e));
    assert!(ours.with_extension("json").exists());
    // Every copy predicts the same scores, to the last digit printed.
    assert_eq!(top(sd.to_str().unwrap()), direct);
    assert_eq!(top(ours.to_str().unwrap()), direct);
    // A model timm's code would compute differently is refused in one line.
    let o = mobilenet(&[
        "export",
        "--model",
        pt,
        "--format",
        "safetensors",
        "--names",
        "timm",
        "-o",
        tmp("never.safetensors").to_str().unwrap(),
    ]);
    assert_clean_error(&o, "never.safetensors");
    assert!(
        stderr(&o).contains("timm names describe the imagenet network"),
        "{}",
        stderr(&o)
    );
    let o = mobilenet(&[
        "export",
        "--names",
        "timm",
        "-o",
        tmp("x.onnx").to_str().unwrap(),
    ]);
    assert_clean_error(&o, "--names applies to --format safetensors");
}

#[test]
fn export_tflite_then_predict_from_it_gives_the_same_scores() {
    let img = root().join("crates/mobilenet/tests/fixtures/photos_224/parrot.png");
    let img = img.to_str().unwrap();
    let out = tmp("builtin.tflite");
    let e = mobilenet(&["export", "--format", "tflite", "-o", out.to_str().unwrap()]);
    assert!(e.status.success(), "{}", stderr(&e));
    assert!(stdout(&e).contains("TFLite float32"), "{}", stdout(&e));
    let scores = |extra: &[&str]| {
        let mut args = vec!["predict", "--json", "--top", "3"];
        args.extend(extra);
        args.push(img);
        let o = mobilenet(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str::<Value>(&stdout(&o)).unwrap()["top"].clone()
    };
    let (a, b) = (scores(&[]), scores(&["--model", out.to_str().unwrap()]));
    for (x, y) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
        assert_eq!(x["label"], y["label"]);
        let d = (x["score"].as_f64().unwrap() - y["score"].as_f64().unwrap()).abs();
        assert!(d < 1e-4, "{x} vs {y}");
    }
}

#[test]
fn export_random_writes_the_network_bench_random_times() {
    let out = tmp("random_cifar.safetensors");
    let o = mobilenet(&[
        "export",
        "--random",
        "--variant",
        "cifar",
        "--alpha",
        "0.25",
        "--format",
        "safetensors",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mobilenet(&["summary", "--json", "--model", out.to_str().unwrap()]);
    let v = json_ok(&o);
    assert_eq!(v["config"]["variant"], "cifar", "{v}");
    assert_eq!(v["config"]["classes"], 10, "{v}");
    let o = mobilenet(&["export", "--random", "--model", "x.tflite", "-o", "y.onnx"]);
    assert!(!o.status.success());
}

#[test]
fn quantize_writes_an_int8_tflite_file_that_predict_runs_on_the_int8_path() {
    let photos = root().join("crates/mobilenet/tests/fixtures/photos_224");
    let out = tmp("quantized_builtin.tflite");
    let o = mobilenet(&[
        "quantize",
        "--json",
        "--calibration",
        photos.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let v = json_ok(&o);
    assert_eq!(v["calibration_images"], 6);
    assert_eq!(v["top1_agreement"], 1.0, "{v}");
    assert_eq!(v["weight_bits"], 8, "{v}");
    // 7-bit weights; 6 is refused by the argument parser.
    let w7 = tmp("quantized_builtin_w7.tflite");
    let calibration = photos.to_str().unwrap();
    let quantize = |bits: &str, out: &str| {
        mobilenet(&[
            "quantize",
            "--json",
            "--weight-bits",
            bits,
            "--calibration",
            calibration,
            "-o",
            out,
        ])
    };
    let v = json_ok(&quantize("7", w7.to_str().unwrap()));
    assert_eq!(
        (v["weight_bits"].clone(), v["top1_agreement"].clone()),
        (7.into(), 1.0.into())
    );
    // Every GEMM layer may use byte pairs (the stem with K padded from 27 to 28).
    let o = mobilenet(&[
        "bench",
        "--json",
        "--iters",
        "2",
        "--model",
        w7.to_str().unwrap(),
    ]);
    let b = json_ok(&o);
    assert_eq!(b["byte_pair_layers"], 15, "{b}");
    let o = quantize("6", tmp("w6.tflite").to_str().unwrap());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("weight-bits"), "{}", stderr(&o));
    let parrot = root().join("assets/parrot.jpg");
    let o = mobilenet(&[
        "predict",
        "--json",
        "--model",
        out.to_str().unwrap(),
        parrot.to_str().unwrap(),
    ]);
    let p = json_ok(&o);
    assert_eq!(p["top"][0]["label"], "macaw", "{p}");
    let o = mobilenet(&[
        "bench",
        "--json",
        "--iters",
        "2",
        "--model",
        out.to_str().unwrap(),
    ]);
    let b: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(b["datatype"], "int8");
    let empty = tmp("no_images");
    std::fs::create_dir_all(&empty).unwrap();
    let o = mobilenet(&[
        "quantize",
        "--calibration",
        empty.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_clean_error(&o, "--calibration: no images in");
}
