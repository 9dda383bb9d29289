//! `mobilenet train`: resolve the flags into a training run, show progress, report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use mobilenet::data::{Dataset, Split};
use mobilenet::train::{
    AugmentKind, DecayRule, Event, OptimizerKind, Outcome, ResolutionStage, ScheduleKind,
    TrainConfig, TrainNet, Trainer,
};
use mobilenet::MobileNetConfig;

use crate::args::{AugmentArg, OptimizerArg, ScheduleArg, TrainArgs, TrainVariantArg};

static STOP: AtomicBool = AtomicBool::new(false);

fn open(
    root: &Path,
    split: Split,
    size: Option<(usize, usize)>,
    limit: Option<usize>,
) -> Result<Arc<Dataset>> {
    let d = Dataset::open(root, split, size)?;
    Ok(Arc::new(match limit {
        Some(n) if n < d.len() => d.subset(n),
        _ => d,
    }))
}

fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let optimizer = match a.optimizer {
        OptimizerArg::Sgd => OptimizerKind::Sgd {
            momentum: a.momentum,
            nesterov: a.nesterov,
        },
        OptimizerArg::Rmsprop => OptimizerKind::RmsProp {
            decay: a.rmsprop_decay,
            momentum: a.momentum,
            eps: a.eps.unwrap_or(1.0),
        },
        OptimizerArg::Adamw => OptimizerKind::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: a.eps.unwrap_or(1e-8),
        },
    };
    let schedule = match a.schedule {
        ScheduleArg::Constant => ScheduleKind::Constant,
        ScheduleArg::Cosine => ScheduleKind::Cosine,
        ScheduleArg::OneCycle => ScheduleKind::OneCycle,
        ScheduleArg::Step => ScheduleKind::Step {
            every: a.decay_every.unwrap_or(30.0),
            gamma: a.decay_gamma.unwrap_or(0.1),
        },
        ScheduleArg::Exponential => ScheduleKind::Exponential {
            every: a.decay_every.unwrap_or(2.5),
            gamma: a.decay_gamma.unwrap_or(0.94),
        },
    };
    let augment = match a.augment.unwrap_or(match a.variant {
        TrainVariantArg::Cifar => AugmentArg::CropFlip,
        TrainVariantArg::Imagenet => AugmentArg::ResizedCrop,
    }) {
        AugmentArg::CropFlip => AugmentKind::CropFlip { pad: 4 },
        AugmentArg::ResizedCrop => AugmentKind::RandomResizedCrop { min_scale: 0.08 },
        AugmentArg::None => AugmentKind::None,
    };
    if !(a.lr.is_finite() && a.lr > 0.0) {
        bail!("--lr {}: must be a positive number", a.lr);
    }
    if !(0.0..1.0).contains(&a.label_smoothing) {
        bail!("--label-smoothing {}: must be in [0, 1)", a.label_smoothing);
    }
    let progressive = match &a.progressive_resize {
        Some(spec) => parse_stages(spec)?,
        None => vec![],
    };
    Ok(TrainConfig {
        epochs: a.epochs.unwrap_or(30),
        batch_size: a.batch_size,
        optimizer,
        lr: a.lr,
        schedule,
        warmup_epochs: a.warmup_epochs,
        weight_decay: a.weight_decay,
        decay_rule: if a.decay_all {
            DecayRule::All
        } else {
            DecayRule::Paper
        },
        label_smoothing: a.label_smoothing,
        clip_grad_norm: a.clip_grad_norm,
        augment,
        cutout: a.cutout,
        seed: a.seed,
        max_steps: a.max_steps,
        freeze_body: a.freeze_body,
        progressive,
    })
}

/// `R:E[,R:E…]` → stages, each ending after the one before.
fn parse_stages(spec: &str) -> Result<Vec<ResolutionStage>> {
    let mut stages: Vec<ResolutionStage> = Vec::new();
    for part in spec.split(',') {
        let stage = part
            .split_once(':')
            .and_then(|(r, e)| Some((r.trim().parse().ok()?, e.trim().parse().ok()?)))
            .map(|(resolution, until_epoch)| ResolutionStage {
                resolution,
                until_epoch,
            });
        let Some(stage) = stage else {
            bail!("--progressive-resize {spec}: `{part}` is not RESOLUTION:EPOCH");
        };
        if stage.resolution < 16 || stage.until_epoch == 0 {
            bail!("--progressive-resize {spec}: `{part}` needs a resolution ≥ 16 and an epoch ≥ 1");
        }
        if stages
            .last()
            .is_some_and(|s| s.until_epoch >= stage.until_epoch)
        {
            bail!("--progressive-resize {spec}: stages must end at increasing epochs");
        }
        stages.push(stage);
    }
    Ok(stages)
}

/// The network to train: `--init` (any model we import) or fresh weights.
fn network(a: &TrainArgs, train: &Dataset) -> Result<TrainNet> {
    let classes = a.classes.unwrap_or(train.classes.len());
    let labels = if classes == train.classes.len() {
        train.classes.clone()
    } else {
        vec![]
    };
    if let Some(init) = &a.init {
        let mut ckpt = mobilenet::io::load(init)?;
        if let Some(r) = a.resolution {
            ckpt.config.resolution = r;
        }
        let mut net = TrainNet::from_checkpoint(&ckpt, init)?;
        if net.config().classes != classes || a.classes.is_some() {
            net.replace_classifier(classes, labels, a.seed);
        }
        return Ok(net);
    }
    let mut c = match a.variant {
        TrainVariantArg::Cifar => MobileNetConfig::cifar(),
        TrainVariantArg::Imagenet => MobileNetConfig::v1(1.0, 224, classes),
    };
    c.width = a.alpha;
    c.classes = classes;
    if let Some(r) = a.resolution {
        c.resolution = r;
    }
    Ok(TrainNet::init(&c, labels, a.seed)?)
}

pub fn run(a: TrainArgs) -> Result<ExitCode> {
    let kernels = super::select_isa(a.isa.as_deref())?;
    let data = a
        .data
        .clone()
        .context("--data DIR is required (a folder with train/ and test/, or CIFAR-10 binaries)")?;
    let out: PathBuf = match (&a.out, &a.resume) {
        (Some(o), _) => o.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => bail!("--out DIR is required (or --resume DIR)"),
    };
    // ImageNet-style training keeps images a little larger than the input, for the crops.
    let load_size = match a.variant {
        TrainVariantArg::Imagenet if a.init.is_none() => {
            let r = a.resolution.unwrap_or(224) * 8 / 7;
            Some((r, r))
        }
        _ => None,
    };
    let train = open(&data, Split::Train, load_size, a.limit_train)?;
    let test = open(&data, Split::Test, load_size, a.limit_test)?;
    let mut trainer = match &a.resume {
        Some(dir) => {
            let mut t = Trainer::resume(dir, &out, a.epochs, train.clone(), Some(test.clone()))?;
            // --max-steps limits one invocation; a resumed run takes this command's value.
            t.cfg.max_steps = a.max_steps;
            t
        }
        None => {
            let net = network(&a, &train)?;
            Trainer::new(
                net,
                train_config(&a)?,
                train.clone(),
                Some(test.clone()),
                &out,
            )?
        }
    };
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
    let show = !a.quiet && std::io::stderr().is_terminal();
    let spe = trainer.steps_per_epoch() as u64;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(spe),
        if show {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let epochs = trainer.cfg.epochs;
    let quiet = a.quiet;
    let outcome = mobilenet::with_threads(a.threads, || {
        trainer.run(kernels, &STOP, &mut |e| match e {
            Event::Step {
                epoch,
                step,
                loss,
                acc,
                images_per_sec,
                ..
            } => {
                bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
                bar.set_position(step as u64);
                bar.set_message(format!(
                    "loss {loss:.4} acc {:.2}% {images_per_sec:.0} img/s",
                    acc * 100.0
                ));
            }
            Event::Evaluating { .. } => bar.set_message("evaluating"),
            Event::Epoch(m) => {
                bar.reset();
                let line = format!(
                    "epoch {:>3}/{epochs}  train loss {:.4} acc {:.2}%  test loss {} acc {}  {:.0} img/s  {:.0} s",
                    m.epoch,
                    m.train_loss,
                    m.train_acc * 100.0,
                    m.test_loss.map_or("-".into(), |v| format!("{v:.4}")),
                    m.test_acc.map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
                    m.images_per_sec,
                    m.train_seconds
                );
                if show {
                    bar.println(line);
                } else if !quiet {
                    eprintln!("{line}");
                }
            }
        })
    })??;
    bar.finish_and_clear();
    let dir = trainer.out_dir().display().to_string();
    match outcome {
        Outcome::Interrupted => {
            eprintln!("interrupted: checkpoint saved; continue with --resume {dir}")
        }
        Outcome::StepLimit if !quiet => {
            eprintln!("stopped at --max-steps; model in {dir}/model.json")
        }
        Outcome::Finished if !quiet => eprintln!("done: model in {dir}/model.json"),
        _ => {}
    }
    Ok(if outcome == Outcome::Interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
