//! Field ids and enum values of tensorflow `lite/schema/schema.fbs`.

pub mod model {
    pub const OPERATOR_CODES: usize = 1;
    pub const SUBGRAPHS: usize = 2;
    pub const BUFFERS: usize = 4;
    pub const METADATA: usize = 6;
}
/// `Metadata`: a named buffer.
pub mod metadata {
    pub const NAME: usize = 0;
    pub const BUFFER: usize = 1;
}
pub mod subgraph {
    pub const TENSORS: usize = 0;
    pub const OPERATORS: usize = 3;
}
pub mod tensor {
    pub const SHAPE: usize = 0;
    pub const TYPE: usize = 1;
    pub const BUFFER: usize = 2;
    pub const NAME: usize = 3;
    pub const QUANTIZATION: usize = 4;
}
pub mod quantization {
    pub const SCALE: usize = 2;
    pub const ZERO_POINT: usize = 3;
    pub const QUANTIZED_DIMENSION: usize = 6;
}
pub mod operator {
    pub const OPCODE_INDEX: usize = 0;
    pub const INPUTS: usize = 1;
    pub const OUTPUTS: usize = 2;
    pub const BUILTIN_OPTIONS: usize = 4;
}
pub mod operator_code {
    pub const DEPRECATED_BUILTIN_CODE: usize = 0;
    pub const BUILTIN_CODE: usize = 3;
}
pub mod buffer {
    pub const DATA: usize = 0;
    pub const OFFSET: usize = 1;
    pub const SIZE: usize = 2;
}
/// `Conv2DOptions`; `DepthwiseConv2DOptions` has `depth_multiplier` at 3 and the rest
/// shifted by one after it.
pub mod conv {
    pub const PADDING: usize = 0;
    pub const STRIDE_W: usize = 1;
    pub const STRIDE_H: usize = 2;
    pub const ACTIVATION: usize = 3;
    pub const DILATION_W: usize = 4;
    pub const DILATION_H: usize = 5;
    pub const DW_DEPTH_MULTIPLIER: usize = 3;
}
/// `FullyConnectedOptions.fused_activation_function`.
pub const FC_ACTIVATION: usize = 0;

pub const AVERAGE_POOL_2D: i32 = 1;
pub const CONV_2D: i32 = 3;
pub const DEPTHWISE_CONV_2D: i32 = 4;
pub const FULLY_CONNECTED: i32 = 9;
pub const RESHAPE: i32 = 22;
pub const SOFTMAX: i32 = 25;
pub const PAD: i32 = 34;
pub const SQUEEZE: i32 = 43;

pub const FLOAT32: i8 = 0;
pub const INT32: i8 = 2;
pub const UINT8: i8 = 3;
pub const INT8: i8 = 9;

pub const PADDING_SAME: i8 = 0;
pub const PADDING_VALID: i8 = 1;

pub const ACT_NONE: i8 = 0;
pub const ACT_RELU: i8 = 1;
pub const ACT_RELU6: i8 = 3;
