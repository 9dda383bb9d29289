//! Training: the trainable network (BatchNorm unfolded, backward beside forward), the loss,
//! optimizers, learning-rate schedules, resumable training state, and the epoch loop.
//!
//! ```text
//! network.rs     TrainNet: ConvBn layers, pool, classifier; forward (train/eval) and backward
//! loss.rs        softmax cross-entropy with label smoothing
//! optimizer.rs   SGD (momentum, Nesterov), RMSProp (TensorFlow's), AdamW; weight-decay rules
//! schedule.rs    constant, step, cosine, one-cycle, exponential; linear warm-up
//! trainer.rs     the epoch loop, evaluation, metrics, atomic checkpoints and resume
//! plot.rs        curves.png
//! ```

pub mod loss;
pub mod network;
pub mod optimizer;
pub mod plot;
pub mod schedule;
pub mod trainer;

pub use loss::{softmax_cross_entropy, LossStats};
pub use network::{LayerProfile, Mode, ParamKind, TrainNet};
pub use optimizer::{DecayRule, Optimizer, OptimizerKind};
pub use schedule::{Schedule, ScheduleKind};
pub use trainer::{
    evaluate, evaluate_with, flip_horizontal, AugmentKind, EpochMetrics, EvalResult, Event,
    Outcome, ResolutionStage, TrainConfig, Trainer,
};
