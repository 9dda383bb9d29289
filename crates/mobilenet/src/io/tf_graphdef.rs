//! Import of a TensorFlow frozen `GraphDef` (`.pb`) holding TF-Slim's MobileNet v1.
//!
//! Three pieces, kept apart (DESIGN.md §3.8):
//! 1. the container reader: the few protobuf messages we need, declared by hand for `prost`
//!    with the field numbers of tensorflow `core/framework/{graph,node_def,attr_value,tensor,
//!    tensor_shape}.proto`. It reads `Const` nodes and their float tensors and knows no model;
//! 2. the name table [`super::names::TF_SLIM`] (`MobilenetV1/Conv2d_{k}_pointwise/weights` ↔
//!    `blocks.{k-1}.pw.weight`, ...);
//! 3. the layout: TF-Slim stores HWIO like we do, so only unit axes are dropped
//!    ([`super::layout::tf_slim_shape`]).
//!
//! The configuration is inferred from the tensors: α = stem channels / 32, classes from the
//! logits kernel, the resolution from the `input` placeholder's `shape` attribute (224 if it has
//! none), the BatchNorm ε from a `FusedBatchNorm*` node's `epsilon` attribute or an unfused
//! BatchNorm's `.../batchnorm/add/y` constant (TF-Slim's default 1e-3 otherwise). TF-Slim
//! MobileNet is ReLU6 with TF "SAME" padding and inputs scaled to [-1, 1].
//!
//! Nodes the table does not name (the training head a retrained graph carries, `/read`
//! identities, the graph's ops) are ignored. Every failure is an [`Error`] naming the file:
//! undecodable bytes are [`Error::Corrupt`], an absent tensor [`Error::MissingParam`], a tensor
//! of the wrong shape [`Error::ParamShape`] (reporting the shape as stored in the file).

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use super::layout::tf_slim_shape;
use super::names::tf_slim_name;
use crate::config::MobileNetConfig;
use crate::error::{Error, Result};
use crate::params::{Checkpoint, Param, Weights};

/// Protobuf messages of tensorflow `core/framework/*.proto`, only the fields we read (prost
/// skips the others).
pub mod proto {
    use std::collections::HashMap;

    /// `graph.proto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphDef {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeDef>,
    }

    /// `node_def.proto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeDef {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub op: String,
        #[prost(string, repeated, tag = "3")]
        pub input: Vec<String>,
        #[prost(map = "string, message", tag = "5")]
        pub attr: HashMap<String, AttrValue>,
    }

    /// `attr_value.proto`: a oneof of which we keep `i`, `f`, `type`, `shape` and `tensor`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttrValue {
        #[prost(oneof = "attr_value::Value", tags = "3, 4, 6, 7, 8")]
        pub value: Option<attr_value::Value>,
    }

    pub mod attr_value {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(int64, tag = "3")]
            I(i64),
            #[prost(float, tag = "4")]
            F(f32),
            /// `DataType` enum.
            #[prost(int32, tag = "6")]
            Type(i32),
            #[prost(message, tag = "7")]
            Shape(super::TensorShapeProto),
            #[prost(message, tag = "8")]
            Tensor(super::TensorProto),
        }
    }

    /// `tensor.proto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        /// `DataType` enum; `DT_FLOAT` = 1.
        #[prost(int32, tag = "1")]
        pub dtype: i32,
        #[prost(message, optional, tag = "2")]
        pub tensor_shape: Option<TensorShapeProto>,
        /// Little-endian raw values.
        #[prost(bytes = "vec", tag = "4")]
        pub tensor_content: Vec<u8>,
        /// Values, when `tensor_content` is empty; a single value is broadcast to the shape.
        #[prost(float, repeated, tag = "5")]
        pub float_val: Vec<f32>,
    }

    /// `tensor_shape.proto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "2")]
        pub dim: Vec<Dim>,
        #[prost(bool, tag = "3")]
        pub unknown_rank: bool,
    }

    /// `TensorShapeProto.Dim`; `size` is -1 for an unknown dimension.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dim {
        #[prost(int64, tag = "1")]
        pub size: i64,
    }

    /// `types.proto` `DT_FLOAT`.
    pub const DT_FLOAT: i32 = 1;
}

use proto::attr_value::Value;
use proto::{GraphDef, NodeDef, TensorProto};

/// Default input size when the graph's `input` placeholder has no static shape.
const DEFAULT_RESOLUTION: usize = 224;

/// Largest tensor a single broadcast `float_val` may expand to, so that a tiny hostile file
/// cannot ask for gigabytes. Every real MobileNet tensor is far below it.
const MAX_BROADCAST: usize = 1 << 26;

/// Reads a frozen TF-Slim MobileNet v1 GraphDef. Labels are left empty.
pub fn import_graphdef(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    import_graphdef_bytes(&bytes, path)
}

/// [`import_graphdef`] on bytes already in memory; `path` names them in errors.
pub fn import_graphdef_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    if bytes.is_empty() {
        return Err(Error::corrupt(
            path,
            "empty file, not a TensorFlow GraphDef",
        ));
    }
    let graph = GraphDef::decode(bytes).map_err(|e| {
        Error::corrupt(
            path,
            format!("not a TensorFlow GraphDef (truncated or corrupt protobuf: {e})"),
        )
    })?;
    let consts: HashMap<&str, &TensorProto> = graph
        .node
        .iter()
        .filter(|n| n.op == "Const")
        .filter_map(|n| match n.attr.get("value")?.value.as_ref()? {
            Value::Tensor(t) => Some((n.name.as_str(), t)),
            _ => None,
        })
        .collect();
    let graph = Graph {
        path,
        nodes: &graph.node,
        consts,
    };

    let config = graph.config()?;
    let mut weights = Weights::new();
    for (name, shape) in config.param_shapes() {
        let param = graph.param(&name, &shape)?;
        weights.insert(name, param);
    }
    let checkpoint = Checkpoint {
        config,
        weights,
        labels: Vec::new(),
    };
    checkpoint.check(path)?;
    Ok(checkpoint)
}

/// The decoded graph, indexed for lookups.
struct Graph<'a> {
    path: &'a Path,
    nodes: &'a [NodeDef],
    consts: HashMap<&'a str, &'a TensorProto>,
}

impl Graph<'_> {
    /// Infers α, classes, resolution and ε from the graph.
    fn config(&self) -> Result<MobileNetConfig> {
        let stem = self.shape_of("stem.weight")?;
        let fc = self.shape_of("fc.weight")?;
        let (c0, classes) = match (&stem[..], &fc[..]) {
            ([3, 3, 3, c0], [1, 1, _, classes]) if *c0 > 0 && *classes > 0 => (*c0, *classes),
            ([3, 3, 3, _], _) => return Err(self.shape_error("fc.weight", fc)),
            _ => return Err(self.shape_error("stem.weight", stem)),
        };
        let last_pw = match self.shape_of("blocks.12.pw.weight") {
            Ok(s) => s.last().copied(),
            Err(_) => None,
        };
        let width = crate::config::width_from_channels(c0, last_pw);
        let mut config = MobileNetConfig::v1(width, self.resolution()?, classes);
        if let Some(eps) = self.bn_eps() {
            config.bn_eps = eps;
        }
        // Before `param_shapes()` expands it: the ranges keep that from overflowing.
        config.validate().map_err(|e| e.in_file(self.path))?;
        Ok(config)
    }

    /// The file's shape of our parameter `name` (before the layout transform).
    fn shape_of(&self, name: &str) -> Result<Vec<usize>> {
        let (tf, _) = tf_slim_name(name).expect("name table covers the stem and logits");
        let t = self
            .consts
            .get(tf.as_str())
            .ok_or_else(|| Error::MissingParam {
                path: self.path.into(),
                name: name.into(),
            })?;
        self.tensor_shape(t, &tf)
    }

    /// A stem or logits kernel that is not a 3×3×3 or 1×1 kernel; `expected` shows the
    /// α = 1, 1001-class shapes as TF stores them.
    fn shape_error(&self, name: &str, got: Vec<usize>) -> Error {
        let expected = match name {
            "stem.weight" => vec![3, 3, 3, 32],
            _ => vec![1, 1, 1024, 1001],
        };
        Error::ParamShape {
            path: self.path.into(),
            name: name.into(),
            expected,
            got,
        }
    }

    /// Input height = width from the `input` placeholder's `shape` attribute.
    fn resolution(&self) -> Result<usize> {
        let Some(input) = self
            .nodes
            .iter()
            .find(|n| n.name == "input" && n.op == "Placeholder")
        else {
            return Ok(DEFAULT_RESOLUTION);
        };
        let Some(Value::Shape(shape)) = input.attr.get("shape").and_then(|a| a.value.as_ref())
        else {
            return Ok(DEFAULT_RESOLUTION);
        };
        if shape.unknown_rank {
            return Ok(DEFAULT_RESOLUTION);
        }
        let dims: Vec<i64> = shape.dim.iter().map(|d| d.size).collect();
        match dims[..] {
            // Out of `usize` (32-bit hosts): too large anyway, as `validate` then says.
            [_, h, w, 3] if h == w && h > 0 => Ok(usize::try_from(h).unwrap_or(usize::MAX)),
            [_, -1, -1, 3] => Ok(DEFAULT_RESOLUTION),
            _ => Err(Error::Unsupported {
                path: self.path.into(),
                what: format!("input placeholder of shape {dims:?}; expected [N, R, R, 3]"),
            }),
        }
    }

    /// BatchNorm ε: a fused BatchNorm's attribute, or an unfused one's `add/y` constant.
    fn bn_eps(&self) -> Option<f32> {
        let fused = self.nodes.iter().find_map(|n| {
            if !n.op.starts_with("FusedBatchNorm") {
                return None;
            }
            match n.attr.get("epsilon")?.value.as_ref()? {
                Value::F(eps) => Some(*eps),
                _ => None,
            }
        });
        fused
            .or_else(|| {
                // The first in graph order (a HashMap's order would not be reproducible).
                let name = self.nodes.iter().map(|n| n.name.as_str()).find(|name| {
                    name.starts_with("MobilenetV1/")
                        && name.ends_with("/BatchNorm/batchnorm/add/y")
                        && self.consts.contains_key(name)
                })?;
                let values = self.tensor_values(self.consts[name], name).ok()?;
                (values.len() == 1).then(|| values[0])
            })
            .filter(|eps| eps.is_finite() && *eps >= 0.0)
    }

    /// Our parameter `name` of our `shape`: looked up by its TF-Slim name, shape-checked
    /// through the layout, then decoded.
    fn param(&self, name: &str, shape: &[usize]) -> Result<Param> {
        let (tf, layout) = tf_slim_name(name).ok_or_else(|| Error::Unsupported {
            path: self.path.into(),
            what: format!("parameter `{name}` has no TF-Slim name"),
        })?;
        let t = self
            .consts
            .get(tf.as_str())
            .ok_or_else(|| Error::MissingParam {
                path: self.path.into(),
                name: name.into(),
            })?;
        let file_shape = self.tensor_shape(t, &tf)?;
        if tf_slim_shape(layout, &file_shape).as_deref() != Some(shape) {
            return Err(Error::ParamShape {
                path: self.path.into(),
                name: name.into(),
                expected: shape.to_vec(),
                got: file_shape,
            });
        }
        // HWIO in TF and in ours: the values need no reordering.
        Ok(Param::new(shape.to_vec(), self.tensor_values(t, &tf)?))
    }

    /// The shape of a tensor, every dimension known.
    fn tensor_shape(&self, t: &TensorProto, node: &str) -> Result<Vec<usize>> {
        let dims = t.tensor_shape.as_ref().map_or(&[][..], |s| &s.dim[..]);
        dims.iter()
            .map(|d| usize::try_from(d.size))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                let dims: Vec<i64> = dims.iter().map(|d| d.size).collect();
                Error::corrupt(self.path, format!("constant `{node}` has shape {dims:?}"))
            })
    }

    /// A float tensor's values, from `tensor_content` or `float_val`.
    fn tensor_values(&self, t: &TensorProto, node: &str) -> Result<Vec<f32>> {
        let corrupt =
            |what: String| Error::corrupt(self.path, format!("constant `{node}`: {what}"));
        if t.dtype != proto::DT_FLOAT {
            return Err(corrupt(format!("data type {} is not DT_FLOAT", t.dtype)));
        }
        let shape = self.tensor_shape(t, node)?;
        let n = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| corrupt(format!("shape {shape:?} overflows")))?;
        if !t.tensor_content.is_empty() {
            if Some(t.tensor_content.len()) != n.checked_mul(4) {
                return Err(corrupt(format!(
                    "{} content bytes for shape {shape:?} ({n} floats)",
                    t.tensor_content.len()
                )));
            }
            return Ok(t
                .tensor_content
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect());
        }
        match t.float_val.len() {
            len if len == n => Ok(t.float_val.clone()),
            1 if n <= MAX_BROADCAST => Ok(vec![t.float_val[0]; n]),
            len => Err(corrupt(format!(
                "{len} values for shape {shape:?} ({n} floats)"
            ))),
        }
    }
}
