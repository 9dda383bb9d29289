//! The epoch loop: batches from a [`Loader`], forward, loss, backward, clip, optimizer step;
//! evaluation on the test set after every epoch; per-epoch metrics, plot, model and a resumable
//! checkpoint written atomically into the output directory.
//!
//! Output directory:
//! - `checkpoint.safetensors`: weights, BatchNorm statistics, optimizer state, and (metadata)
//!   the training configuration, position (epoch, step) and metrics so far. One file, written
//!   through a temporary file and a rename, so it is never half-written.
//! - `model.safetensors` + `model.json`: the current weights in the native format, with the
//!   class names and the input normalization used in training.
//! - `metrics.jsonl`: one object per finished epoch; `curves.png`: loss and accuracy.
//!
//! Reproducibility: the batches depend only on (seed, epoch, index) and every kernel splits its
//! work independently of the thread count, so a run resumed from a checkpoint ends with the
//! same weights, bit for bit, as one that never stopped (for the same kernel table).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mobilenet_kernels::Kernels;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::data::{Augment, ChannelNorm, Dataset, Loader, LoaderConfig};
use crate::error::{Error, Result};
use crate::io::native;
use crate::params::{Checkpoint, Param, Weights};
use crate::train::loss::softmax_cross_entropy;
use crate::train::network::{Mode, TrainNet};
use crate::train::optimizer::{grad_norm, DecayRule, Optimizer, OptimizerKind};
use crate::train::plot::{plot_curves, PlotRow};
use crate::train::schedule::{Schedule, ScheduleKind};

/// Training augmentation, by name (stored in the checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum AugmentKind {
    None,
    /// Random crop after zero padding + horizontal flip (CIFAR).
    CropFlip {
        pad: usize,
    },
    /// Random resized crop + flip (ImageNet).
    RandomResizedCrop {
        min_scale: f32,
    },
}

impl AugmentKind {
    fn augment(self) -> Augment {
        match self {
            AugmentKind::None => Augment::None,
            AugmentKind::CropFlip { pad } => Augment::CropFlip { pad },
            AugmentKind::RandomResizedCrop { min_scale } => {
                Augment::RandomResizedCrop { min_scale }
            }
        }
    }
}

/// Everything that defines a training run (stored in its checkpoint, so `--resume` needs only
/// the directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub schedule: ScheduleKind,
    pub warmup_epochs: f32,
    pub weight_decay: f32,
    pub decay_rule: DecayRule,
    pub label_smoothing: f32,
    /// Clip the global gradient norm to this value.
    pub clip_grad_norm: Option<f32>,
    pub augment: AugmentKind,
    /// Cutout square side in pixels (0: off); see [`LoaderConfig::cutout`].
    #[serde(default)]
    pub cutout: usize,
    pub seed: u64,
    /// Stop after this many steps in total (quick runs, benchmarks).
    pub max_steps: Option<u64>,
    /// Train only the classifier; BatchNorm stays in eval mode.
    pub freeze_body: bool,
    /// Progressive resizing: the first epochs at lower resolutions (stages in order), the rest
    /// at the model's own. Evaluation and every saved model use the model's resolution.
    #[serde(default)]
    pub progressive: Vec<ResolutionStage>,
}

/// Epochs up to `until_epoch` (1-based, inclusive) that are not in an earlier stage train at
/// `resolution` × `resolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionStage {
    pub resolution: usize,
    pub until_epoch: usize,
}

impl TrainConfig {
    /// The training resolution of epoch `epoch` (0-based) of a model at `full`.
    pub fn resolution_at(&self, epoch: usize, full: usize) -> usize {
        self.progressive
            .iter()
            .find(|s| epoch < s.until_epoch)
            .map_or(full, |s| s.resolution)
    }
}

/// One epoch's figures (a line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    pub test_top5: Option<f64>,
    pub lr: f64,
    pub images_per_sec: f64,
    pub train_seconds: f64,
    pub steps: u64,
}

/// Where a run stands: the next step to take.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Position {
    /// Epochs fully done.
    pub epoch: usize,
    /// Steps done in the current epoch.
    pub step_in_epoch: usize,
    pub global_step: u64,
    /// Running sums of the current epoch (to finish its metrics after a resume).
    pub loss_sum: f64,
    pub correct: u64,
    pub seen: u64,
    pub seconds: f64,
}

/// What [`Trainer::run`] reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        loss: f64,
        acc: f64,
        images_per_sec: f64,
    },
    Evaluating {
        epoch: usize,
    },
    Epoch(&'a EpochMetrics),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    /// Stopped by the caller's flag (Ctrl-C); a checkpoint was written.
    Interrupted,
    /// `max_steps` reached.
    StepLimit,
}

/// Loss, top-1 and top-5 accuracy and the confusion matrix on a data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalResult {
    pub images: usize,
    pub loss: f64,
    pub top1: f64,
    pub top5: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

/// Evaluates `model` (inference form) on every image of `loader`'s data set, in order.
pub fn evaluate(k: &Kernels, model: &crate::MobileNet, loader: &Loader) -> Result<EvalResult> {
    evaluate_with(k, model, loader, false)
}

/// Mirrors each image of an NHWC batch left to right, in place.
pub fn flip_horizontal(x: &mut [f32], w: usize, c: usize) {
    for row in x.chunks_exact_mut(w * c) {
        for i in 0..w / 2 {
            let j = w - 1 - i;
            for ch in 0..c {
                row.swap(i * c + ch, j * c + ch);
            }
        }
    }
}

/// [`evaluate`], with test-time augmentation when `flip` is set: each image's logits are the
/// mean of the logits of the image and of its mirror image.
pub fn evaluate_with(
    k: &Kernels,
    model: &crate::MobileNet,
    loader: &Loader,
    flip: bool,
) -> Result<EvalResult> {
    let classes = model.config().classes;
    let [h, w, c] = model.input_hwc();
    let mut out = EvalResult {
        images: 0,
        loss: 0.0,
        top1: 0.0,
        top5: 0.0,
        confusion: vec![vec![0; classes]; classes],
    };
    let (mut c1, mut c5) = (0usize, 0usize);
    for b in loader.epoch(0, 0) {
        let mut x = crate::Tensor::from_vec([b.n, h, w, c], b.x);
        let mut logits = model.forward_with(k, &x, None)?;
        if flip {
            // The batch is mirrored in place for the second pass: no copy.
            flip_horizontal(&mut x.data, w, c);
            let lm = model.forward_with(k, &x, None)?;
            for (a, b) in logits.iter_mut().zip(lm.iter()) {
                *a = 0.5 * (*a + *b);
            }
        }
        let s = softmax_cross_entropy(&logits, &b.labels, classes, 0.0, None);
        out.loss += s.loss * b.n as f64;
        c1 += s.correct;
        c5 += s.correct5;
        for (row, &y) in logits.chunks_exact(classes).zip(&b.labels) {
            let pred = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |m, (i, &v)| if v > m.1 { (i, v) } else { m },
                )
                .0;
            if (y as usize) < classes {
                out.confusion[y as usize][pred] += 1;
            }
        }
        out.images += b.n;
    }
    let n = out.images.max(1) as f64;
    out.loss /= n;
    out.top1 = c1 as f64 / n;
    out.top5 = c5 as f64 / n;
    Ok(out)
}

const CHECKPOINT: &str = "checkpoint.safetensors";
const STATE_KEY: &str = "mobilenet.train";

/// Checkpoint metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    format: String,
    model: crate::MobileNetConfig,
    labels: Vec<String>,
    train: TrainConfig,
    position: Position,
    optimizer_steps: u64,
    metrics: Vec<EpochMetrics>,
}

/// A training run.
pub struct Trainer {
    pub net: TrainNet,
    pub opt: Optimizer,
    pub cfg: TrainConfig,
    pub pos: Position,
    pub history: Vec<EpochMetrics>,
    train: Loader,
    test: Option<Loader>,
    out: PathBuf,
    schedule: Schedule,
    /// The model's own resolution (what is evaluated and saved); the network may be training
    /// at a lower one ([`TrainConfig::progressive`]).
    full_resolution: usize,
}

impl Trainer {
    /// A new run of `net` on `train` (and `test`), writing into `out`.
    pub fn new(
        net: TrainNet,
        cfg: TrainConfig,
        train: Arc<Dataset>,
        test: Option<Arc<Dataset>>,
        out: &Path,
    ) -> Result<Trainer> {
        let opt = Optimizer::new(cfg.optimizer, cfg.weight_decay, cfg.decay_rule);
        Trainer::assemble(net, opt, cfg, Position::default(), vec![], train, test, out)
    }

    fn assemble(
        net: TrainNet,
        opt: Optimizer,
        cfg: TrainConfig,
        pos: Position,
        history: Vec<EpochMetrics>,
        train: Arc<Dataset>,
        test: Option<Arc<Dataset>>,
        out: &Path,
    ) -> Result<Trainer> {
        if cfg.batch_size == 0 || cfg.epochs == 0 {
            return Err(Error::Config(
                "batch size and epochs must be at least 1".into(),
            ));
        }
        let [h, w, _] = net.input_hwc();
        let norm = ChannelNorm::from(net.config().normalization);
        let classes = net.config().classes;
        if classes == 0 {
            return Err(Error::Config(
                "the model has no classifier: give it one of the data set's classes first \
                 (`TrainNet::replace_classifier`, or `--classes N` on the command line)"
                    .into(),
            ));
        }
        if let Some(bad) = train.labels.iter().find(|&&l| l as usize >= classes) {
            return Err(Error::Dataset {
                path: train.root.clone(),
                what: format!("label {bad} for a model of {classes} classes"),
            });
        }
        let loader = |d: Arc<Dataset>, augment: Augment, cutout: usize, shuffle: bool| {
            Loader::new(
                d,
                LoaderConfig {
                    batch_size: cfg.batch_size,
                    out_size: (h, w),
                    augment,
                    cutout,
                    norm,
                    shuffle,
                    drop_last: false,
                    seed: cfg.seed,
                },
            )
        };
        if let Some(bad) = cfg
            .progressive
            .windows(2)
            .find(|w| w[1].until_epoch <= w[0].until_epoch)
        {
            return Err(Error::Config(format!(
                "progressive resizing: stage ending at epoch {} follows one ending at {}",
                bad[1].until_epoch, bad[0].until_epoch
            )));
        }
        let full_resolution = net.config().resolution;
        let train_loader = loader(train, cfg.augment.augment(), cfg.cutout, true)?;
        let test = test
            .map(|d| loader(d, Augment::None, 0, false))
            .transpose()?;
        let spe = train_loader.batches_per_epoch() as u64;
        let schedule = Schedule {
            kind: cfg.schedule,
            lr: cfg.lr,
            warmup_steps: (cfg.warmup_epochs as f64 * spe as f64).round() as u64,
            total_steps: spe * cfg.epochs as u64,
            steps_per_epoch: spe,
        };
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        // What a run killed in the middle of a write left behind (never under a final name).
        native::remove_stale_temporaries(out);
        Ok(Trainer {
            net,
            opt,
            cfg,
            pos,
            history,
            train: train_loader,
            test,
            out: out.to_path_buf(),
            schedule,
            full_resolution,
        })
    }

    /// Rebuilds the network and the training loader at `resolution` when the network is at
    /// another one; the parameters, BatchNorm statistics and optimizer state carry over.
    fn train_at(&mut self, resolution: usize) -> Result<()> {
        if self.net.config().resolution == resolution {
            return Ok(());
        }
        let mut ckpt = self.net.to_checkpoint();
        ckpt.config.resolution = resolution;
        self.net = TrainNet::from_checkpoint(&ckpt, &self.out)?;
        let [h, w, _] = self.net.input_hwc();
        let mut lc = self.train.config().clone();
        lc.out_size = (h, w);
        self.train = Loader::new(self.train.dataset().clone(), lc)?;
        Ok(())
    }

    /// The network's parameters as a checkpoint of the model at its own resolution.
    fn checkpoint(&self) -> Checkpoint {
        let mut ckpt = self.net.to_checkpoint();
        ckpt.config.resolution = self.full_resolution;
        ckpt
    }

    /// Continues the run whose checkpoint is in `dir`, writing on into `out`; `epochs`, when
    /// given, replaces the total number of epochs.
    pub fn resume(
        dir: &Path,
        out: &Path,
        epochs: Option<usize>,
        train: Arc<Dataset>,
        test: Option<Arc<Dataset>>,
    ) -> Result<Trainer> {
        let path = dir.join(CHECKPOINT);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let (state, tensors) = read_checkpoint(&bytes, &path)?;
        let mut weights = Weights::new();
        let mut slots: HashMap<String, Vec<f32>> = HashMap::new();
        for (name, p) in tensors.iter() {
            if let Some(rest) = name.strip_prefix("opt.") {
                slots.insert(rest.to_string(), p.data.clone());
            } else {
                weights.insert(name, p.clone());
            }
        }
        let ckpt = Checkpoint {
            config: state.model.clone(),
            weights,
            labels: state.labels.clone(),
        };
        let mut net = TrainNet::from_checkpoint(&ckpt, &path)?;
        let mut cfg = state.train.clone();
        if let Some(e) = epochs {
            cfg.epochs = e;
        }
        let mut opt = Optimizer::new(cfg.optimizer, cfg.weight_decay, cfg.decay_rule);
        opt.steps = state.optimizer_steps;
        if state.optimizer_steps > 0 {
            let mut lens = Vec::new();
            net.visit_params(|_, _, _, v, _| lens.push(v.len()));
            let n_slots = slots.keys().filter(|k| k.ends_with(".0")).count();
            let mut state_t = Vec::new();
            for s in 0..n_slots {
                let mut per = Vec::new();
                for (i, &len) in lens.iter().enumerate() {
                    let v = slots.remove(&format!("{s}.{i}")).ok_or_else(|| {
                        Error::corrupt(&path, format!("optimizer state {s}.{i} is missing"))
                    })?;
                    if v.len() != len {
                        return Err(Error::corrupt(
                            &path,
                            format!(
                                "optimizer state {s}.{i} has {} values, the parameter {len}",
                                v.len()
                            ),
                        ));
                    }
                    per.push(v);
                }
                state_t.push(per);
            }
            opt.state = state_t;
        }
        Trainer::assemble(
            net,
            opt,
            cfg,
            state.position,
            state.metrics,
            train,
            test,
            out,
        )
    }

    pub fn out_dir(&self) -> &Path {
        &self.out
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.train.batches_per_epoch()
    }

    /// Trains until the configured epochs are done, `stop` is set, or `max_steps` is reached.
    pub fn run(
        &mut self,
        k: &Kernels,
        stop: &AtomicBool,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<Outcome> {
        if !self.history.is_empty() {
            // A run stopped between its checkpoint and these files (a kill after the last
            // epoch's checkpoint leaves nothing else to rewrite them) gets them back from the
            // checkpoint's list.
            self.write_history()?;
        }
        let classes = self.net.config().classes;
        let spe = self.train.batches_per_epoch();
        let mut dlogits = Vec::new();
        while self.pos.epoch < self.cfg.epochs {
            let epoch = self.pos.epoch;
            self.train_at(self.cfg.resolution_at(epoch, self.full_resolution))?;
            let mut t_mark = Instant::now();
            let mut outcome = None;
            for b in self.train.epoch(epoch as u64, self.pos.step_in_epoch) {
                if stop.load(Ordering::Relaxed) {
                    outcome = Some(Outcome::Interrupted);
                    break;
                }
                if self
                    .cfg
                    .max_steps
                    .is_some_and(|m| self.pos.global_step >= m)
                {
                    outcome = Some(Outcome::StepLimit);
                    break;
                }
                let lr = self.schedule.lr(self.pos.global_step);
                let mode = if self.cfg.freeze_body {
                    Mode::Eval
                } else {
                    Mode::Train
                };
                let logits = self.net.forward(k, &b.x, b.n, mode)?;
                dlogits.resize(logits.len(), 0.0);
                let s = softmax_cross_entropy(
                    logits,
                    &b.labels,
                    classes,
                    self.cfg.label_smoothing,
                    Some(&mut dlogits),
                );
                if !s.loss.is_finite() {
                    return Err(Error::Diverged {
                        epoch: epoch + 1,
                        step: self.pos.step_in_epoch + 1,
                        loss: s.loss,
                    });
                }
                if self.cfg.freeze_body {
                    self.net.backward_classifier(&dlogits)?;
                } else {
                    self.net.backward(k, &b.x, &dlogits)?;
                }
                let mut scale = 1.0;
                if let Some(max) = self.cfg.clip_grad_norm {
                    let norm = grad_norm(&mut self.net);
                    if norm > max as f64 {
                        scale = (max as f64 / (norm + 1e-6)) as f32;
                    }
                }
                self.opt.train_body = !self.cfg.freeze_body;
                self.opt.step(&mut self.net, lr, scale);
                let now = Instant::now();
                self.pos.seconds += (now - t_mark).as_secs_f64();
                t_mark = now;
                self.pos.step_in_epoch += 1;
                self.pos.global_step += 1;
                self.pos.loss_sum += s.loss * b.n as f64;
                self.pos.correct += s.correct as u64;
                self.pos.seen += b.n as u64;
                on(Event::Step {
                    epoch,
                    step: self.pos.step_in_epoch,
                    steps: spe,
                    loss: self.pos.loss_sum / self.pos.seen as f64,
                    acc: self.pos.correct as f64 / self.pos.seen as f64,
                    images_per_sec: self.pos.seen as f64 / self.pos.seconds.max(1e-9),
                });
            }
            match outcome {
                Some(Outcome::Interrupted) => {
                    self.save_checkpoint()?;
                    return Ok(Outcome::Interrupted);
                }
                Some(Outcome::StepLimit) if self.pos.seen == 0 => {
                    self.save_checkpoint()?;
                    return Ok(Outcome::StepLimit);
                }
                _ => {}
            }
            on(Event::Evaluating { epoch });
            self.finish_epoch(k)?;
            on(Event::Epoch(self.history.last().expect("just pushed")));
            if outcome == Some(Outcome::StepLimit) {
                return Ok(Outcome::StepLimit);
            }
        }
        Ok(Outcome::Finished)
    }

    /// Evaluates, records the epoch's metrics and writes every output file.
    fn finish_epoch(&mut self, k: &Kernels) -> Result<()> {
        let ckpt = self.checkpoint();
        let (test_loss, test_acc, test_top5) = match &self.test {
            Some(loader) => {
                let model = crate::MobileNet::new(&ckpt, &self.out)?;
                let r = evaluate(k, &model, loader)?;
                (Some(r.loss), Some(r.top1), Some(r.top5))
            }
            None => (None, None, None),
        };
        let p = self.pos;
        let seen = p.seen.max(1) as f64;
        let m = EpochMetrics {
            epoch: p.epoch + 1,
            train_loss: p.loss_sum / seen,
            train_acc: p.correct as f64 / seen,
            test_loss,
            test_acc,
            test_top5,
            lr: self.schedule.lr(p.global_step.saturating_sub(1)) as f64,
            images_per_sec: p.seen as f64 / p.seconds.max(1e-9),
            train_seconds: p.seconds,
            steps: p.global_step,
        };
        self.history.push(m);
        self.pos = Position {
            epoch: p.epoch + 1,
            global_step: p.global_step,
            ..Position::default()
        };
        native::save(&ckpt, &self.out.join("model.json"), Some("mobilenet train"))?;
        self.save_checkpoint()?;
        self.write_history()
    }

    /// Writes `metrics.jsonl` and `curves.png` from the epochs finished so far (the
    /// checkpoint holds the same list).
    fn write_history(&self) -> Result<()> {
        let mut jsonl = String::new();
        for m in &self.history {
            jsonl.push_str(&serde_json::to_string(m).expect("metrics serialize"));
            jsonl.push('\n');
        }
        native::write_atomic(&self.out.join("metrics.jsonl"), jsonl.as_bytes())?;
        let rows: Vec<PlotRow> = self
            .history
            .iter()
            .map(|m| PlotRow {
                epoch: m.epoch,
                train_loss: m.train_loss,
                train_acc: m.train_acc,
                test_loss: m.test_loss,
                test_acc: m.test_acc,
            })
            .collect();
        let title = format!(
            "MobileNet v1 {} alpha {}",
            self.net.config().variant.name(),
            self.net.config().width
        );
        plot_curves(&rows, &title, &self.out.join("curves.png"))
    }

    /// Writes `checkpoint.safetensors` atomically.
    pub fn save_checkpoint(&mut self) -> Result<()> {
        let ckpt = self.checkpoint();
        let mut tensors = ckpt.weights.clone();
        for (s, per) in self.opt.state.iter().enumerate() {
            for (i, v) in per.iter().enumerate() {
                tensors.insert(format!("opt.{s}.{i}"), Param::new(vec![v.len()], v.clone()));
            }
        }
        let state = State {
            format: "mobilenet-train-checkpoint/1".into(),
            model: ckpt.config,
            labels: ckpt.labels,
            train: self.cfg.clone(),
            position: self.pos,
            optimizer_steps: self.opt.steps,
            metrics: self.history.clone(),
        };
        let path = self.out.join(CHECKPOINT);
        let bytes = write_checkpoint(&tensors, &state, &path)?;
        native::write_atomic(&path, &bytes)
    }
}

fn write_checkpoint(w: &Weights, state: &State, path: &Path) -> Result<Vec<u8>> {
    let json = serde_json::to_string(state).expect("state serializes");
    native::serialize(
        w,
        Some(HashMap::from([(STATE_KEY.to_string(), json)])),
        path,
    )
}

fn read_checkpoint(bytes: &[u8], path: &Path) -> Result<(State, Weights)> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
        Error::corrupt(
            path,
            format!("not a training checkpoint (truncated or corrupt): {e}"),
        )
    })?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(STATE_KEY))
        .ok_or_else(|| Error::corrupt(path, "not a training checkpoint: no training state"))?;
    let state: State = serde_json::from_str(json)
        .map_err(|e| Error::corrupt(path, format!("training state is unreadable: {e}")))?;
    let weights = native::weights_from_bytes(bytes, path)?;
    Ok((state, weights))
}
