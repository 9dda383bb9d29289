//! Training: the trainable network (BatchNorm unfolded, backward beside forward), the loss,
//! optimizers, learning-rate schedules, resumable training state, and the epoch loop.
//!
//! ```text
//! network.rs     TrainNet: ConvBn layers, pool, classifier; forward (train/eval) and backward
//! loss.rs        softmax cross-entropy with label smoothing
//! optimizer.rs   SGD (momentum, Nesterov), RMSProp (TensorFlow's), AdamW; weight-decay rules
//! schedule.rs    constant, step, cosine, one-cycle, exponential; linear warm-up
//! ```

pub mod loss;
pub mod network;
pub mod optimizer;
pub mod schedule;

pub use loss::{softmax_cross_entropy, LossStats};
pub use network::{Mode, ParamKind, TrainNet};
pub use optimizer::{DecayRule, Optimizer, OptimizerKind};
pub use schedule::{Schedule, ScheduleKind};
