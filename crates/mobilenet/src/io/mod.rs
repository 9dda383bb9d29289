//! Model files: bytes ↔ named tensors ↔ our parameters. Each importer is three pieces kept
//! apart: a container reader that knows no model, a name table (data), and layout transforms.

pub mod layout;
pub mod names;
pub mod native;
pub mod tf_graphdef;
pub mod tflite;
