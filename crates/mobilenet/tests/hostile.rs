//! Issue 5, "Hostile inputs": every model file and image that made `mobilenet predict` panic,
//! abort or print a debug dump is built here and must give one plain error naming the file.
//! The CLI's side (exit codes, the rest of a batch still classified) is in `crates/cli/tests`.

#[path = "common/images.rs"]
mod images;
#[path = "common/models.rs"]
mod models;

use std::path::Path;

use mobilenet::image::decode_rgb;
use mobilenet::io::{native, tflite::import_tflite_bytes};
use mobilenet::{Checkpoint, Error, MobileNet, MobileNetConfig, Tensor, Weights};

/// `result` is an error whose message is exactly `want`.
#[track_caller]
fn assert_error<T: std::fmt::Debug>(result: mobilenet::Result<T>, want: &str) {
    let err = result.unwrap_err().to_string();
    assert_eq!(err, want);
}

#[test]
fn tflite_with_zero_classes_is_an_invalid_configuration() {
    // Used to divide by zero (io/tflite/mod.rs:495).
    assert_error(
        import_tflite_bytes(
            &models::tflite_with_zero_classes(),
            Path::new("zero_classes.tflite"),
        ),
        "zero_classes.tflite: invalid configuration: the classifier (operator 28) has 0 classes",
    );
}

#[test]
fn tflite_with_a_0x0_input_is_an_invalid_configuration() {
    // Used to underflow in debug builds (kernels/src/geometry.rs:35).
    let bytes = models::tflite_with_shape(&[1, 128, 128, 3], &[1, 0, 0, 3]);
    assert_error(
        import_tflite_bytes(&bytes, Path::new("zero_input.tflite")),
        "zero_input.tflite: invalid configuration: resolution 0 is below 16",
    );
}

#[test]
fn tflite_with_huge_dimensions_is_an_invalid_configuration() {
    // Used to overflow in debug builds (config.rs: the channel and MAC products).
    let m = i32::MAX;
    let bytes = models::tflite_with_shape(&[1, 128, 128, 3], &[1, m, m, 3]);
    assert_error(
        import_tflite_bytes(&bytes, Path::new("huge_input.tflite")),
        "huge_input.tflite: invalid configuration: resolution 2147483647 is above 4096",
    );
    // α is read from the last pointwise layer's 1024·α output channels.
    let bytes = models::tflite_with_shape(&[256, 1, 1, 256], &[m, 1, 1, 256]);
    assert_error(
        import_tflite_bytes(&bytes, Path::new("huge_width.tflite")),
        "huge_width.tflite: invalid configuration: width multiplier 2097152 is outside (0, 4]",
    );
    let bytes = models::tflite_with_shape(&[8, 3, 3, 3], &[m, 3, 3, 3]);
    assert_error(
        import_tflite_bytes(&bytes, Path::new("huge_stem.tflite")),
        "huge_stem.tflite: parameter `stem.weight` has shape [2147483647, 3, 3, 3], the model \
         needs [3, 3, 3, 8]",
    );
}

#[test]
fn a_wrong_fused_activation_is_named_as_tflite_names_it() {
    let bytes = models::tflite_with_depthwise_activation(1, 1);
    assert_error(
        import_tflite_bytes(&bytes, Path::new("relu.tflite")),
        "relu.tflite: unsupported: operator 1 has fused activation RELU, the network uses RELU6 \
         there",
    );
}

#[test]
fn a_4096_pixel_model_runs_in_passes_that_fit_the_memory_limit() {
    // Used to allocate 4 GiB for one buffer of a 16-image batch, and abort.
    let bytes = models::tflite_with_shape(&[1, 128, 128, 3], &[1, 4096, 4096, 3]);
    let path = Path::new("big_input.tflite");
    let ckpt = import_tflite_bytes(&bytes, path).unwrap();
    assert_eq!(ckpt.config.resolution, 4096);
    let net = MobileNet::new(&ckpt, path).unwrap();
    // The largest layer output is blocks.0.pw: 2048 × 2048 × 16 floats, in each of two buffers.
    assert_eq!(net.activation_bytes_per_image(), 2 * 2048 * 2048 * 16 * 4);
    assert_eq!(net.memory_limit(), mobilenet::model::DEFAULT_MEMORY_LIMIT);
    assert_eq!(net.max_batch().unwrap(), 2);
    // Passes never exceed the memory limit, whatever the cache, and hold at least one image.
    assert!((1..=2).contains(&net.images_per_pass().unwrap()));
}

/// A small random network, for the memory-limit tests.
fn small_net() -> MobileNet {
    let config = MobileNetConfig::v1(0.25, 64, 5);
    let ckpt = Checkpoint {
        weights: Weights::random(&config, 1),
        config,
        labels: vec![],
    };
    MobileNet::new(&ckpt, Path::new("small.safetensors")).unwrap()
}

#[test]
fn a_batch_above_the_memory_limit_gives_the_logits_of_single_images() {
    let mut net = small_net();
    let per_image = net.activation_bytes_per_image();
    net.set_memory_limit(2 * per_image + 1);
    assert_eq!(net.max_batch().unwrap(), 2);
    assert!((1..=2).contains(&net.images_per_pass().unwrap()));
    let n = 5;
    let len = 64 * 64 * 3;
    let x = Tensor::from_vec(
        [n, 64, 64, 3],
        (0..n * len)
            .map(|i| ((i % 29) as f32 - 14.0) / 14.0)
            .collect(),
    );
    let mut profile = Vec::new();
    let k = mobilenet_kernels::kernels();
    let batched = net.forward_profiled(k, &x, &mut profile).unwrap();
    // Three passes (2 + 2 + 1 images), one profile entry per layer.
    assert_eq!(profile.len(), net.layers().len() - 1);
    for i in 0..n {
        let one = Tensor::from_vec([1, 64, 64, 3], x.data[i * len..(i + 1) * len].to_vec());
        let want = net.forward(&one).unwrap();
        for (g, w) in batched[i * 5..(i + 1) * 5].iter().zip(&want) {
            assert!((g - w).abs() <= 1e-4, "image {i}: {g} vs {w}");
        }
    }
}

#[test]
fn a_model_of_which_one_image_does_not_fit_is_an_error() {
    let mut net = small_net();
    net.set_memory_limit(1000);
    let needed = net.activation_bytes_per_image();
    assert_eq!(needed, 2 * 32 * 32 * 16 * 4);
    let want = "small.safetensors: one image needs 128.0 KiB of activations, more than the \
                working-memory limit of 1000 bytes";
    assert_error(net.max_batch(), want);
    assert_error(net.forward(&Tensor::zeros([1, 64, 64, 3])), want);
}

#[test]
fn safetensors_offsets_near_2_pow_64_are_corrupt() {
    // Used to overflow inside `safetensors` 0.8 (tensor.rs:420) in debug builds.
    let bytes = models::safetensors_with_offsets_near_2_pow_64();
    let err = native::weights_from_bytes(&bytes, Path::new("offsets.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("offsets.safetensors: not a valid safetensors file: tensor `t")
            && err.ends_with("not a range in the 8 bytes of data"),
        "{err}"
    );
}

#[test]
fn a_file_configuration_out_of_range_names_the_file_in_plain_words() {
    let mut config = MobileNetConfig::v1(0.25, 64, 5);
    let weights = Weights::random(&config, 1);
    config.normalization.std[1] = 0.0;
    let ckpt = Checkpoint {
        config,
        weights,
        labels: vec![],
    };
    let dir = std::env::temp_dir().join(format!("mobilenet-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("std0.safetensors");
    native::save(&ckpt, &path, None).unwrap();
    let err = native::load(&path).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: invalid configuration: input normalization (x - [127.5, 127.5, 127.5]) / \
             [127.5, 0.0, 127.5] is not usable: the means and the stds must be finite and the \
             stds non-zero",
            path.display()
        )
    );
}

#[test]
fn a_png_palette_of_5_bytes_is_an_image_error() {
    // `png` 0.18.1 panics on it (decoder/transform/palette.rs:74).
    assert_error(
        decode_rgb(&images::png_with_short_palette(), Path::new("palette.png")),
        "palette.png: not a readable image: PNG palette (PLTE chunk) of 5 bytes is not 1 to 256 \
         RGB entries",
    );
}

#[test]
fn decoder_messages_are_plain_lines() {
    for (bytes, name) in [
        (images::png_with_idat_first(), "idat.png"),
        (images::jpeg_with_bad_app0(), "app0.jpg"),
    ] {
        let err = decode_rgb(&bytes, Path::new(name)).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{name}: not a readable image: ")),
            "{err}"
        );
        for debug in ["ChunkType", "{", "\"", "\\n", "\n"] {
            assert!(!err.contains(debug), "{debug:?} in {err}");
        }
        println!("{err}");
    }
}
