//! The CIFAR-10 binary distribution: `data_batch_1.bin` … `data_batch_5.bin` (train) and
//! `test_batch.bin` (test), each a run of records of 1 label byte and 3072 pixel bytes stored
//! channel-planar (1024 red, 1024 green, 1024 blue, each 32 × 32 row-major).

use std::fs;
use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;

use super::{dataset_error, Dataset, Split};
use crate::error::{Error, Result};

pub(crate) const SIDE: usize = 32;
pub(crate) const PIXELS: usize = SIDE * SIDE;
pub(crate) const RECORD: usize = 1 + 3 * PIXELS;
pub(crate) const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub(crate) const TEST_FILE: &str = "test_batch.bin";
pub(crate) const SUBFOLDER: &str = "cifar-10-batches-bin";
pub(crate) const META: &str = "batches.meta.txt";

/// The CIFAR-10 class names, in label order.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The folder holding the binary files: `root` or `root/cifar-10-batches-bin`, if either has
/// any of them.
pub(crate) fn find(root: &Path) -> Option<PathBuf> {
    [root.to_path_buf(), root.join(SUBFOLDER)]
        .into_iter()
        .find(|d| {
            TRAIN_FILES
                .iter()
                .chain(std::iter::once(&TEST_FILE))
                .any(|f| d.join(f).is_file())
        })
}

fn class_names(dir: &Path) -> Result<Vec<String>> {
    let meta = dir.join(META);
    if !meta.is_file() {
        return Ok(CLASSES.iter().map(|s| s.to_string()).collect());
    }
    let bytes = fs::read(&meta).map_err(|e| Error::io(&meta, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::corrupt(&meta, "class name list is not UTF-8 text"))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != CLASSES.len() {
        return Err(Error::corrupt(
            &meta,
            format!(
                "lists {} class names; CIFAR-10 has {}",
                names.len(),
                CLASSES.len()
            ),
        ));
    }
    Ok(names)
}

/// Checks one file's records; returns its bytes.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(Error::corrupt(
            path,
            format!(
                "length {} is not a positive multiple of {RECORD} (CIFAR-10 records are 1 label \
                 byte + 3072 pixel bytes): truncated or not a CIFAR-10 batch",
                bytes.len()
            ),
        ));
    }
    if let Some((i, rec)) = bytes
        .chunks_exact(RECORD)
        .enumerate()
        .find(|(_, r)| r[0] as usize >= CLASSES.len())
    {
        return Err(Error::corrupt(
            path,
            format!(
                "record {i} has label {}; CIFAR-10 labels are 0..=9 (is this CIFAR-100?)",
                rec[0]
            ),
        ));
    }
    Ok(bytes)
}

/// Channel-planar record pixels → HWC RGB.
pub(crate) fn planar_to_hwc(planar: &[u8], out: &mut [u8]) {
    let (r, rest) = planar.split_at(PIXELS);
    let (g, b) = rest.split_at(PIXELS);
    for (p, px) in out.chunks_exact_mut(3).enumerate() {
        px[0] = r[p];
        px[1] = g[p];
        px[2] = b[p];
    }
}

pub(crate) fn open(dir: &Path, split: Split, size: Option<(usize, usize)>) -> Result<Dataset> {
    let names: &[&str] = match split {
        Split::Train => &TRAIN_FILES,
        Split::Test => &[TEST_FILE],
    };
    let mut files = Vec::new();
    for name in names {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(dataset_error(
                &path,
                format!(
                    "missing: the CIFAR-10 {} split is {}",
                    split.dir_name(),
                    names.join(", ")
                ),
            ));
        }
        files.push(read_file(&path)?);
    }
    let classes = class_names(dir)?;

    let (h, w) = size.unwrap_or((SIDE, SIDE));
    let per = h * w * 3;
    let records: Vec<&[u8]> = files.iter().flat_map(|f| f.chunks_exact(RECORD)).collect();
    let mut images = vec![0u8; records.len() * per];
    images
        .par_chunks_mut(per)
        .zip(records.par_iter())
        .for_each(|(out, rec)| {
            if (h, w) == (SIDE, SIDE) {
                planar_to_hwc(&rec[1..], out);
            } else {
                let mut native = RgbImage::new(SIDE as u32, SIDE as u32);
                planar_to_hwc(&rec[1..], &mut native);
                out.copy_from_slice(super::folder::resize(&native, h, w).as_raw());
            }
        });

    Ok(Dataset {
        labels: records.iter().map(|r| r[0] as u32).collect(),
        images,
        h,
        w,
        classes,
        root: dir.to_path_buf(),
    })
}
