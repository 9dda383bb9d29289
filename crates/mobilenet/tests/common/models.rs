//! Hostile model files, built in the test from the shipped α 0.25/128 TFLite fixture or from
//! nothing: the regression inputs of issue 5. Shared by the library's and the CLI's tests.

// Each test crate that includes this file uses part of it.
#![allow(dead_code)]

use std::path::Path;

use mobilenet::io::tflite::flatbuffer::Buf;
use mobilenet::io::tflite::schema::{buffer, conv, model, operator, subgraph, tensor};

/// The shipped α 0.25/128 quantized model.
pub fn tflite_fixture() -> Vec<u8> {
    include_bytes!("../fixtures/mobilenet_v1_0.25_128_quant.tflite").to_vec()
}

/// Where one tensor's shape is stored, and which buffer holds its data.
struct TensorAt {
    shape: Vec<i32>,
    shape_at: usize,
    buffer: usize,
}

fn tensors(bytes: &[u8]) -> Vec<TensorAt> {
    let buf = Buf {
        bytes,
        path: Path::new("fixture"),
    };
    let root = buf.root().unwrap();
    let sg = root.tables(model::SUBGRAPHS).unwrap()[0];
    sg.tables(subgraph::TENSORS)
        .unwrap()
        .iter()
        .map(|t| TensorAt {
            shape: t.i32s(tensor::SHAPE).unwrap(),
            shape_at: t.vector(tensor::SHAPE, 4).unwrap().unwrap().0,
            buffer: t.u32(tensor::BUFFER, 0).unwrap() as usize,
        })
        .collect()
}

/// The fixture with the first tensor of shape `from` given shape `to` (same rank); the data
/// stays as it is.
pub fn tflite_with_shape(from: &[i32], to: &[i32]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut bytes = tflite_fixture();
    let t = tensors(&bytes)
        .into_iter()
        .find(|t| t.shape == from)
        .expect("fixture has a tensor of that shape");
    for (i, d) in to.iter().enumerate() {
        let at = t.shape_at + 4 * i;
        bytes[at..at + 4].copy_from_slice(&d.to_le_bytes());
    }
    bytes
}

/// The fixture with a classifier of 0 classes: the logits kernel (1001, 1, 1, 256) becomes
/// (0, 1, 1, 256) and its buffer empty.
pub fn tflite_with_zero_classes() -> Vec<u8> {
    let mut bytes = tflite_with_shape(&[1001, 1, 1, 256], &[0, 1, 1, 256]);
    let t = tensors(&bytes)
        .into_iter()
        .find(|t| t.shape == [0, 1, 1, 256])
        .unwrap();
    let buf = Buf {
        bytes: &bytes,
        path: Path::new("fixture"),
    };
    let buffers = buf.root().unwrap().tables(model::BUFFERS).unwrap();
    let (data_at, _) = buffers[t.buffer].vector(buffer::DATA, 1).unwrap().unwrap();
    bytes[data_at - 4..data_at].copy_from_slice(&0u32.to_le_bytes());
    bytes
}

/// The fixture with operator `op` (a depthwise convolution) given fused activation `act`
/// (TFLite's enum: 0 NONE, 1 RELU, 3 RELU6).
pub fn tflite_with_depthwise_activation(op: usize, act: i8) -> Vec<u8> {
    let mut bytes = tflite_fixture();
    let buf = Buf {
        bytes: &bytes,
        path: Path::new("fixture"),
    };
    let sg = buf.root().unwrap().tables(model::SUBGRAPHS).unwrap()[0];
    let options = sg.tables(subgraph::OPERATORS).unwrap()[op]
        .table(operator::BUILTIN_OPTIONS)
        .unwrap()
        .unwrap();
    // DepthwiseConv2DOptions: the activation follows depth_multiplier, one id later.
    let at = options.field(conv::ACTIVATION + 1).unwrap().unwrap();
    bytes[at] = act as u8;
    bytes
}

/// A safetensors file whose data offsets are each in range of a `u64` but end 8 bytes short of
/// 2^64: eight U8 tensors of 2^61 − 1 bytes (the most whose bit count fits), with 8 bytes of
/// data. `safetensors` 0.8 adds the header length to that end unchecked (`tensor.rs:420`).
pub fn safetensors_with_offsets_near_2_pow_64() -> Vec<u8> {
    let size = (1u64 << 61) - 1;
    let entries: Vec<String> = (0..8)
        .map(|k| {
            format!(
                "\"t{k}\":{{\"dtype\":\"U8\",\"shape\":[{size}],\"data_offsets\":[{},{}]}}",
                k * size,
                (k + 1) * size
            )
        })
        .collect();
    let mut header = format!("{{{}}}", entries.join(","));
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 8]);
    bytes
}
