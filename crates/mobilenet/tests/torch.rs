//! PyTorch state dicts: files written by PyTorch and timm themselves (`tools/make_torch_fixtures.py`)
//! import and compute PyTorch's logits; our safetensors export imports back bit for bit; hostile
//! files give one-line errors naming the file and never run anything.

use std::path::{Path, PathBuf};

use mobilenet::io::torch::{export_state_dict, import_torch_bytes, state_dict_bytes, TorchFamily};
use mobilenet::io::{self, native};
use mobilenet::{
    Activation, Checkpoint, Error, MobileNet, Normalization, PaddingMode, Tensor, Variant,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A tensor of `torch_reference.safetensors`, as f32.
fn reference(name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(fixture("torch_reference.safetensors")).unwrap();
    let w = native::weights_from_bytes(&bytes, Path::new("torch_reference")).unwrap();
    let p = w.get(name).unwrap_or_else(|| panic!("{name}"));
    (p.shape.clone(), p.data.clone())
}

fn nchw_to_nhwc(shape: &[usize], x: &[f32]) -> Tensor {
    let &[n, c, h, w] = shape else { panic!() };
    let mut out = vec![0.0; x.len()];
    for b in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    out[((b * h + y) * w + xx) * c + ch] = x[((b * c + ch) * h + y) * w + xx];
                }
            }
        }
    }
    Tensor::from_vec([n, h, w, c], out)
}

/// Our logits for the reference input `input` against PyTorch's `logits`.
fn assert_logits(ckpt: &Checkpoint, input: &str, logits: &str) {
    let (shape, x) = reference(input);
    let mut ckpt = ckpt.clone();
    ckpt.config.resolution = shape[2];
    let net = MobileNet::new(&ckpt, Path::new("mem")).unwrap();
    let got = net.forward(&nchw_to_nhwc(&shape, &x)).unwrap();
    let (_, want) = reference(logits);
    assert_eq!(got.len(), want.len());
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        diff < 1e-4,
        "{logits}: max |ours - PyTorch| = {diff}\n{got:?}\n{want:?}"
    );
}

#[test]
fn torch_save_file_of_the_cifar_code_computes_pytorchs_logits() {
    let ck = io::load(&fixture("torch_cifar_a0125.pt")).unwrap();
    let c = &ck.config;
    assert_eq!(
        (c.variant, c.width, c.resolution, c.classes),
        (Variant::Cifar, 0.125, 32, 10)
    );
    assert_eq!(
        (c.activation, c.padding),
        (Activation::Relu, PaddingMode::Symmetric)
    );
    assert_eq!(c.bn_eps, 1e-5);
    assert_eq!(c.normalization, Normalization::CIFAR10_PYTORCH);
    assert_eq!(ck.labels[0], "airplane");
    assert_logits(&ck, "cifar.input", "cifar.logits");
}

#[test]
fn a_wrapped_data_parallel_float16_checkpoint_imports() {
    // {"epoch", "state_dict": {"module.conv1.weight": f16, ...}, "optimizer"}.
    let ck = io::load(&fixture("torch_cifar_a0125_ckpt.pt")).unwrap();
    assert_eq!(ck.config.width, 0.125);
    assert_logits(&ck, "cifar.input", "cifar_f16.logits");
}

#[test]
fn timm_safetensors_is_recognised_by_content_and_computes_timms_logits() {
    let path = fixture("torch_timm_a0125.safetensors");
    let ck = io::load(&path).unwrap();
    let c = &ck.config;
    assert_eq!(
        (c.variant, c.width, c.classes),
        (Variant::Imagenet, 0.125, 10)
    );
    assert_eq!(
        (c.activation, c.padding),
        (Activation::Relu6, PaddingMode::Symmetric)
    );
    assert_eq!(c.normalization, Normalization::IMAGENET);
    // The same bytes under a name that says nothing.
    let dir = tempfile::tempdir().unwrap();
    let anon = dir.path().join("weights.bin");
    std::fs::copy(&path, &anon).unwrap();
    let err = io::load(&anon).unwrap_err().to_string();
    assert!(err.contains("unknown model format"), "{err}");
    assert_logits(&ck, "timm.input", "timm.logits");
}

#[test]
fn export_then_import_is_bit_identical_for_both_families() {
    let dir = tempfile::tempdir().unwrap();
    for (file, family) in [
        ("torch_cifar_a0125.pt", TorchFamily::PytorchCifar),
        ("torch_timm_a0125.safetensors", TorchFamily::Timm),
    ] {
        let ck = io::load(&fixture(file)).unwrap();
        let out = dir.path().join(format!("{}.safetensors", family.name()));
        export_state_dict(&ck, family, &out).unwrap();
        let back = io::load(&out).unwrap();
        assert!(back == ck, "{file}: {:?} vs {:?}", back.config, ck.config);
        // And the export of the import is the same bytes.
        let again = state_dict_bytes(&back, family, &out).unwrap();
        assert!(
            again == std::fs::read(&out).unwrap(),
            "{file}: bytes differ"
        );
    }
}

#[test]
fn the_export_holds_exactly_the_names_pytorch_expects() {
    let ck = io::load(&fixture("torch_cifar_a0125.pt")).unwrap();
    let bytes = state_dict_bytes(&ck, TorchFamily::PytorchCifar, Path::new("o")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut names: Vec<&String> = header.keys().filter(|k| *k != "__metadata__").collect();
    names.sort();
    // conv1 + bn1 (5 with num_batches_tracked) + 13 × (2 convs + 2 × 5 BN) + linear (2).
    assert_eq!(names.len(), 1 + 5 + 13 * 12 + 2);
    for want in [
        "conv1.weight",
        "bn1.num_batches_tracked",
        "layers.0.conv1.weight",
        "layers.12.bn2.running_var",
        "linear.bias",
    ] {
        assert!(header.contains_key(want), "{want}");
    }
    assert_eq!(
        header["layers.3.conv1.weight"]["shape"],
        serde_json::json!([16, 1, 3, 3])
    );
    assert_eq!(header["bn1.num_batches_tracked"]["dtype"], "I64");
}

/// The fixture with the first occurrence of `from` replaced by `to` (same length).
fn patched(name: &str, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut b = std::fs::read(fixture(name)).unwrap();
    let at = b
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern");
    b[at..at + to.len()].copy_from_slice(to);
    b
}

#[test]
fn a_pickle_that_would_run_code_is_refused_by_name() {
    let from = b"torch._utils\n_rebuild_tensor_v2\n";
    let mut to = b"posix\nsystem\n".to_vec();
    to.resize(from.len(), b'.');
    let bytes = patched("torch_cifar_a0125.pt", from, &to);
    let err = import_torch_bytes(&bytes, Path::new("evil.pt")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("evil.pt: "), "{msg}");
    assert!(msg.contains("global `posix.system` is refused"), "{msg}");
    assert!(!msg.contains('\n'));
}

#[test]
fn truncated_and_bare_pickle_files_are_errors_naming_the_file() {
    let bytes = std::fs::read(fixture("torch_cifar_a0125.pt")).unwrap();
    for n in (0..bytes.len()).step_by(997).chain([bytes.len() - 1]) {
        let err = import_torch_bytes(&bytes[..n], Path::new("cut.pt")).unwrap_err();
        assert!(err.to_string().starts_with("cut.pt: "), "{n}: {err}");
    }
    let err = import_torch_bytes(b"\x80\x02}q\x00.", Path::new("old.pt")).unwrap_err();
    assert!(
        err.to_string().contains("legacy torch.save format"),
        "{err}"
    );
}

#[test]
fn wrong_names_and_shapes_are_named() {
    let timm = "torch_timm_a0125.safetensors";
    let load = |bytes: Vec<u8>| import_torch_bytes(&bytes, Path::new("t.safetensors")).unwrap_err();
    // A tensor renamed: the one PyTorch's module needs is missing.
    let err = load(patched(
        timm,
        b"blocks.3.0.bn1.running_var",
        b"blocks.3.0.bn1.running_xyz",
    ));
    assert!(
        matches!(&err, Error::MissingParam { name, .. } if name == "blocks.3.0.bn1.running_var"),
        "{err}"
    );
    // A tensor that MobileNet v1 does not have.
    let err = load(patched(
        timm,
        b"blocks.0.0.bn1.num_batches_tracked",
        b"blocks.0.0.bn1.num_batches_trackex",
    ));
    assert_eq!(
        err.to_string(),
        "t.safetensors: unsupported: tensor `blocks.0.0.bn1.num_batches_trackex` is not part of \
         MobileNet v1 as the timm code names it"
    );
    // The stem's shape changed (same element count, so the file itself stays valid).
    let err = load(patched(
        timm,
        b"\"shape\":[8,3,3,3]",
        b"\"shape\":[8,3,1,9]",
    ));
    assert!(
        matches!(&err, Error::ParamShape { name, got, .. } if name == "conv_stem.weight" && got == &[8, 3, 1, 9]),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with("t.safetensors: parameter `conv_stem.weight` has shape"));
}

#[test]
fn onnx_files_from_both_pytorch_exporters_compute_pytorchs_logits() {
    // The dynamo exporter keeps the weights in `torch_cifar_a0125_dynamo.onnx.data` beside it.
    let ck = io::load(&fixture("torch_cifar_a0125_dynamo.onnx")).unwrap();
    assert_eq!(
        (ck.config.variant, ck.config.width),
        (Variant::Cifar, 0.125)
    );
    let (shape, x) = reference("cifar.input");
    let (_, want) = reference("cifar.logits");
    let net = MobileNet::new(&ck, Path::new("mem")).unwrap();
    let one = [1, shape[1], shape[2], shape[3]];
    let got = net.forward(&nchw_to_nhwc(&one, &x[..x.len() / 2])).unwrap();
    let diff = got
        .iter()
        .zip(&want[..10])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-4, "dynamo: {diff}");
    // The TorchScript exporter, weights inline; timm's network.
    let ck = io::load(&fixture("torch_timm_a0125_ts.onnx")).unwrap();
    assert_eq!(ck.config.padding, PaddingMode::Symmetric);
    assert_logits(&ck, "timm.input", "timm.logits");
}

#[test]
fn external_onnx_data_outside_the_models_folder_is_refused() {
    use mobilenet::io::onnx::import_onnx_bytes;
    let bytes = std::fs::read(fixture("torch_cifar_a0125_dynamo.onnx")).unwrap();
    let from = b"torch_cifar_a0125_dynamo.onnx.data";
    let mut evil = bytes.clone();
    let mut to = b"../../../../../../../../etc/passwd".to_vec();
    to.resize(from.len(), b'/');
    let at = evil.windows(from.len()).position(|w| w == from).unwrap();
    evil[at..at + from.len()].copy_from_slice(&to);
    let path = fixture("evil.onnx");
    let err = import_onnx_bytes(&evil, &path).unwrap_err().to_string();
    assert!(
        err.contains("is not a file inside the model's folder"),
        "{err}"
    );
    // The data file missing: an error naming it.
    let err = import_onnx_bytes(&bytes, Path::new("/nonexistent/m.onnx"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/nonexistent/torch_cifar_a0125_dynamo.onnx.data: "),
        "{err}"
    );
}
