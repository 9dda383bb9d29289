//! Batches: the epoch's order, each sample augmented from its own random stream, and a
//! background thread that prepares the next batches while the caller trains on this one.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rayon::prelude::*;

use super::augment::{render, Augment, ChannelNorm, Normalizer, Scratch};
use super::Dataset;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Batches prepared ahead of the one the caller holds.
const PREFETCH: usize = 2;

/// How a [`Loader`] turns a [`Dataset`] into batches.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// Network input (h, w); when it differs from the data set's size (or the crop's), the crop
    /// is resized to it bilinearly.
    pub out_size: (usize, usize),
    pub augment: Augment,
    /// Cutout (DeVries & Taylor 2017): after the augmentation, a `cutout × cutout` square
    /// centred on a uniformly drawn pixel (clipped at the borders) is set to 0, the normalized
    /// mean. 0 turns it off.
    pub cutout: usize,
    pub norm: ChannelNorm,
    /// A new order each epoch (else data set order).
    pub shuffle: bool,
    /// Leave out the last batch when it would be short.
    pub drop_last: bool,
    pub seed: u64,
}

/// One batch of network input.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `(n, out_h, out_w, 3)` NHWC, normalized.
    pub x: Vec<f32>,
    pub labels: Vec<u32>,
    /// The data set index of each sample.
    pub indices: Vec<usize>,
    pub n: usize,
}

struct Shared {
    data: Arc<Dataset>,
    cfg: LoaderConfig,
    norm: Normalizer,
    /// The last epoch's order, so that [`Loader::batch`] does not redraw it for every batch.
    last_order: Mutex<Option<(u64, Arc<Vec<usize>>)>>,
}

/// Batches of a data set, epoch after epoch, reproducible from the seed.
#[derive(Clone)]
pub struct Loader {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("images", &self.shared.data.len())
            .field("cfg", &self.shared.cfg)
            .finish()
    }
}

impl Loader {
    /// Checks the configuration against the data set.
    pub fn new(data: Arc<Dataset>, cfg: LoaderConfig) -> Result<Loader> {
        if cfg.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        let (oh, ow) = cfg.out_size;
        if oh == 0 || ow == 0 || oh > 1 << 15 || ow > 1 << 15 {
            return Err(Error::Config(format!(
                "input size {oh}×{ow} is outside 1..=32768 per side"
            )));
        }
        if (oh * ow * 3).checked_mul(cfg.batch_size).is_none() {
            return Err(Error::Config(format!(
                "a batch of {} at {oh}×{ow} is too large",
                cfg.batch_size
            )));
        }
        cfg.augment.validate()?;
        if cfg.cutout > oh.max(ow) {
            return Err(Error::Config(format!(
                "cutout {} is larger than the {oh}×{ow} input",
                cfg.cutout
            )));
        }
        cfg.norm.validate()?;
        if !data.is_empty() && data.h * data.w == 0 {
            return Err(Error::Config("data set images have no pixels".into()));
        }
        let norm = cfg.norm.normalizer();
        Ok(Loader {
            shared: Arc::new(Shared {
                data,
                cfg,
                norm,
                last_order: Mutex::new(None),
            }),
        })
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.shared.cfg
    }

    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.shared.data
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.shared.batches_per_epoch()
    }

    /// The data set indices in the order epoch `epoch` visits them: a permutation drawn from
    /// `Rng::stream(seed, &[epoch])` when shuffling, else `0..len`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        self.shared.order(epoch).to_vec()
    }

    /// Batch `index` of epoch `epoch`, filled on the calling thread's rayon pool. An index past
    /// the epoch's last batch gives an empty batch (`n == 0`).
    pub fn batch(&self, epoch: u64, index: usize) -> Batch {
        self.shared.fill(&self.shared.order(epoch), epoch, index)
    }

    /// The batches of `epoch` from batch `start` on (to resume mid-epoch), prepared ahead on a
    /// background thread that splits each batch over as many rayon threads as the calling
    /// context has. Dropping the iterator stops the thread (after the batch it is filling).
    pub fn epoch(&self, epoch: u64, start: usize) -> Epoch {
        let nb = self.batches_per_epoch();
        let remaining = nb.saturating_sub(start);
        if remaining == 0 {
            return Epoch {
                mode: Mode::Done,
                remaining: 0,
            };
        }
        let shared = Arc::clone(&self.shared);
        let threads = rayon::current_num_threads();
        let (tx, rx) = sync_channel(PREFETCH);
        let spawned = std::thread::Builder::new()
            .name("mobilenet-loader".into())
            .spawn(move || {
                let order = shared.order(epoch);
                let produce = || {
                    for b in start..nb {
                        if tx.send(shared.fill(&order, epoch, b)).is_err() {
                            return; // the iterator was dropped
                        }
                    }
                };
                match rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("mobilenet-loader-{i}"))
                    .build()
                {
                    Ok(pool) => pool.install(produce),
                    Err(_) => produce(),
                }
            });
        let mode = match spawned {
            Ok(handle) => Mode::Background {
                rx: Some(rx),
                handle: Some(handle),
            },
            // No thread to be had: fill each batch when it is asked for.
            Err(_) => Mode::Inline {
                shared: Arc::clone(&self.shared),
                order: self.order(epoch),
                epoch,
                next: start,
            },
        };
        Epoch { mode, remaining }
    }
}

impl Shared {
    fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.data.len(), self.cfg.batch_size);
        if self.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    fn order(&self, epoch: u64) -> Arc<Vec<usize>> {
        // A poisoned lock only means another thread panicked mid-update of a cache.
        let mut last = self.last_order.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((e, order)) = &*last {
            if *e == epoch {
                return Arc::clone(order);
            }
        }
        let n = self.data.len();
        let order = Arc::new(if self.cfg.shuffle {
            Rng::stream(self.cfg.seed, &[epoch]).permutation(n)
        } else {
            (0..n).collect()
        });
        *last = Some((epoch, Arc::clone(&order)));
        order
    }

    fn fill(&self, order: &[usize], epoch: u64, index: usize) -> Batch {
        let (data, cfg) = (&*self.data, &self.cfg);
        let (oh, ow) = cfg.out_size;
        let per = oh * ow * 3;
        let indices: Vec<usize> = if index < self.batches_per_epoch() {
            let from = index * cfg.batch_size;
            order[from..(from + cfg.batch_size).min(order.len())].to_vec()
        } else {
            Vec::new()
        };
        let mut x = vec![0f32; indices.len() * per];
        x.par_chunks_mut(per).zip(indices.par_iter()).for_each_init(
            Scratch::default,
            |scratch, (out, &i)| {
                let mut rng = Rng::stream(cfg.seed, &[epoch, i as u64]);
                let win = cfg.augment.window(data.h, data.w, &mut rng);
                render(
                    data.image(i),
                    (data.h, data.w),
                    &win,
                    &self.norm,
                    out,
                    cfg.out_size,
                    scratch,
                );
                if cfg.cutout > 0 {
                    cut_out(out, cfg.out_size, cfg.cutout, &mut rng);
                }
            },
        );
        Batch {
            labels: indices.iter().map(|&i| data.labels[i]).collect(),
            n: indices.len(),
            indices,
            x,
        }
    }
}

/// Zeroes a `side × side` square of the `(h, w)` HWC RGB sample, centred on a pixel drawn
/// from `rng` (row, then column) and clipped at the borders.
fn cut_out(x: &mut [f32], (h, w): (usize, usize), side: usize, rng: &mut Rng) {
    let cy = rng.below(h);
    let cx = rng.below(w);
    let (y0, y1) = (cy.saturating_sub(side / 2), (cy + side.div_ceil(2)).min(h));
    let (x0, x1) = (cx.saturating_sub(side / 2), (cx + side.div_ceil(2)).min(w));
    for y in y0..y1 {
        x[(y * w + x0) * 3..(y * w + x1) * 3].fill(0.0);
    }
}

enum Mode {
    Background {
        rx: Option<Receiver<Batch>>,
        handle: Option<JoinHandle<()>>,
    },
    Inline {
        shared: Arc<Shared>,
        order: Vec<usize>,
        epoch: u64,
        next: usize,
    },
    Done,
}

/// The batches of one epoch, from [`Loader::epoch`].
pub struct Epoch {
    mode: Mode,
    remaining: usize,
}

impl Iterator for Epoch {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.remaining == 0 {
            return None;
        }
        let batch = match &mut self.mode {
            Mode::Background { rx, handle } => {
                match rx.as_ref().map(|r| r.recv()) {
                    Some(Ok(b)) => Some(b),
                    _ => {
                        // The thread ended early: only a panic does that. Pass it on rather
                        // than end the epoch short without a word.
                        *rx = None;
                        if let Some(Err(panic)) = handle.take().map(|h| h.join()) {
                            std::panic::resume_unwind(panic);
                        }
                        None
                    }
                }
            }
            Mode::Inline {
                shared,
                order,
                epoch,
                next,
            } => {
                let b = shared.fill(order, *epoch, *next);
                *next += 1;
                Some(b)
            }
            Mode::Done => None,
        };
        self.remaining = if batch.is_some() {
            self.remaining - 1
        } else {
            0
        };
        batch
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Epoch {}

impl Drop for Epoch {
    fn drop(&mut self) {
        if let Mode::Background { rx, handle } = &mut self.mode {
            // Closing the channel makes the thread's next send fail, so it returns.
            drop(rx.take());
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}
