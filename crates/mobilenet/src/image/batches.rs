//! Decoding ahead of the network: a background thread decodes and resizes the next batches of
//! images on its own thread pool while the caller runs the current batch, so a folder of many
//! images is bound by the network rather than by the decoder. At most [`AHEAD`] batches wait
//! decoded; dropping the iterator stops the thread.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use rayon::prelude::*;

use super::{load_input, Preprocess};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Decoded batches that may wait for the consumer.
pub const AHEAD: usize = 2;

/// One image of a batch: its path and its network input (1, S, S, 3), or why it failed.
#[derive(Debug)]
pub struct Decoded {
    pub path: PathBuf,
    pub input: Result<Tensor>,
}

/// The batches of [`decode_ahead`], in file order.
#[derive(Debug)]
pub struct DecodeAhead {
    rx: Option<Receiver<Vec<Decoded>>>,
    worker: Option<JoinHandle<()>>,
}

/// Starts decoding `files` in batches of `batch` on a pool of `threads` threads (0 = all
/// cores). A file that cannot be read or decoded is a `Decoded` holding its error; the others
/// in its batch are unaffected.
pub fn decode_ahead(
    files: Vec<PathBuf>,
    pre: Preprocess,
    batch: usize,
    threads: usize,
) -> Result<DecodeAhead> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("decode-{i}"))
        .build()
        .map_err(|e| Error::Config(format!("cannot start {threads} decoder threads: {e}")))?;
    let (tx, rx) = sync_channel(AHEAD);
    let batch = batch.max(1);
    let worker = std::thread::Builder::new()
        .name("decode-ahead".into())
        .spawn(move || {
            for paths in files.chunks(batch) {
                let decoded: Vec<Decoded> = pool.install(|| {
                    paths
                        .par_iter()
                        .map(|p| Decoded {
                            path: p.clone(),
                            input: load_input(p, &pre),
                        })
                        .collect()
                });
                if tx.send(decoded).is_err() {
                    break; // the consumer is gone
                }
            }
        })
        .map_err(|e| Error::Config(format!("cannot start the decoder thread: {e}")))?;
    Ok(DecodeAhead {
        rx: Some(rx),
        worker: Some(worker),
    })
}

impl Iterator for DecodeAhead {
    type Item = Vec<Decoded>;

    fn next(&mut self) -> Option<Vec<Decoded>> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for DecodeAhead {
    fn drop(&mut self) {
        // Closing the channel first makes the worker's next send fail, so the join is short.
        self.rx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
