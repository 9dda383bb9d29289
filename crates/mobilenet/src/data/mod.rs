//! Training data: a labelled image set decoded once into memory, per-sample augmentation, and
//! batches of normalized network input prepared ahead on a background thread.
//!
//! ```text
//! folder.rs     train/<class>/*.jpg image folders (ImageNet style)
//! cifar_bin.rs  the CIFAR-10 binary distribution (data_batch_N.bin, test_batch.bin)
//! augment.rs    ChannelNorm, Augment, one sample's crop window and its rendering
//! loader.rs     LoaderConfig, Batch, Loader (shuffle, resume, prefetch)
//! ```
//!
//! Everything random is drawn from [`crate::rng::Rng`] streams keyed by the seed, the epoch and
//! the sample, so a seed names its batches bit for bit, however many threads prepared them.

mod augment;
mod cifar_bin;
mod folder;
mod loader;

use std::path::{Path, PathBuf};

pub use augment::{render, Augment, ChannelNorm, Normalizer, Scratch, Window};
pub use cifar_bin::CLASSES as CIFAR10_CLASSES;
pub use loader::{Batch, Epoch, Loader, LoaderConfig};

use crate::error::{Error, Result};

/// Which half of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// The folder name of this split in an image-folder data set.
    pub fn dir_name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Decoded images kept in memory as `u8` HWC RGB, all of one size (`h`, `w`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// `len() * h * w * 3` bytes, image after image, each row-major HWC RGB.
    pub images: Vec<u8>,
    /// One label per image, `< classes.len()`.
    pub labels: Vec<u32>,
    pub h: usize,
    pub w: usize,
    /// Class names, label `i` is `classes[i]`: sorted folder names for image folders, the
    /// CIFAR-10 names (from `batches.meta.txt` when present) for the binary files.
    pub classes: Vec<String>,
    /// Where it came from (for messages).
    pub root: PathBuf,
}

pub(crate) fn dataset_error(path: impl Into<PathBuf>, what: impl Into<String>) -> Error {
    Error::Dataset {
        path: path.into(),
        what: what.into(),
    }
}

impl Dataset {
    /// Opens split `split` of the data set at `root`, which holds either the CIFAR-10 binary
    /// files (directly or in `cifar-10-batches-bin/`) or `train/` and `test/` image folders
    /// (`train/<class>/*.{jpg,jpeg,png,bmp,webp}`). The kind is told from what is there.
    ///
    /// `size`: `Some((h, w))` resizes every image to that size at load (triangle filter, as
    /// [`crate::image`] does); `None` keeps the native size and requires every image to have it.
    /// The test split of an image-folder set must have the same class folders as its train split.
    pub fn open(root: &Path, split: Split, size: Option<(usize, usize)>) -> Result<Dataset> {
        check_size(size)?;
        if let Some(dir) = cifar_bin::find(root) {
            return cifar_bin::open(&dir, split, size);
        }
        let train = root.join(Split::Train.dir_name());
        let wanted = root.join(split.dir_name());
        if !wanted.is_dir() {
            let what = if train.is_dir() || root.join(Split::Test.dir_name()).is_dir() {
                format!("has no `{}/` folder", split.dir_name())
            } else {
                "is neither a CIFAR-10 binary folder (data_batch_1.bin … data_batch_5.bin, \
                 test_batch.bin) nor an image folder set with `train/` and `test/` (a folder \
                 whose subfolders are the classes opens with Dataset::open_folder)"
                    .to_string()
            };
            return Err(dataset_error(root, what));
        }
        let data = folder::open(&wanted, size)?;
        if split == Split::Test && train.is_dir() {
            let train_classes = folder::class_names(&train)?;
            if train_classes != data.classes {
                return Err(dataset_error(
                    &wanted,
                    format!(
                        "class folders {} differ from train's {}",
                        folder::describe(&data.classes),
                        folder::describe(&train_classes)
                    ),
                ));
            }
        }
        Ok(data)
    }

    /// Reads an image folder whose subfolders are the classes (`dir/<class>/*.jpg`). Classes
    /// are sorted by name and files by name within a class; files whose extension is not an
    /// image's (`jpg`, `jpeg`, `png`, `bmp`, `webp`, any case) and hidden entries are skipped.
    pub fn open_folder(dir: &Path, size: Option<(usize, usize)>) -> Result<Dataset> {
        check_size(size)?;
        folder::open(dir, size)
    }

    /// A data set from decoded pixels (`labels.len()` HWC RGB images of `h × w`).
    pub fn from_raw(
        images: Vec<u8>,
        labels: Vec<u32>,
        (h, w): (usize, usize),
        classes: Vec<String>,
    ) -> Result<Dataset> {
        let per = h
            .checked_mul(w)
            .and_then(|p| p.checked_mul(3))
            .filter(|&p| p > 0)
            .ok_or_else(|| Error::Config(format!("image size {h}×{w} is empty or too large")))?;
        if Some(images.len()) != labels.len().checked_mul(per) {
            return Err(Error::Config(format!(
                "{} pixel bytes do not hold {} images of {h}×{w}×3",
                images.len(),
                labels.len()
            )));
        }
        if let Some(&l) = labels.iter().find(|&&l| l as usize >= classes.len()) {
            return Err(Error::Config(format!(
                "label {l} but only {} classes",
                classes.len()
            )));
        }
        Ok(Dataset {
            images,
            labels,
            h,
            w,
            classes,
            root: PathBuf::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image: `h * w * 3`.
    pub fn image_len(&self) -> usize {
        self.h * self.w * 3
    }

    /// Image `i` as `h × w × 3` bytes. Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Number of images of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// At most `n` images, taken evenly across classes (round robin over the classes, each
    /// class's images in order), kept in their original order; the class names stay. The same
    /// `n` always gives the same subset.
    pub fn subset(&self, n: usize) -> Dataset {
        if n >= self.len() {
            return self.clone();
        }
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.classes.len()];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l as usize].push(i);
        }
        let mut picked = Vec::with_capacity(n);
        let mut round = 0;
        while picked.len() < n {
            for members in &by_class {
                if picked.len() == n {
                    break;
                }
                if let Some(&i) = members.get(round) {
                    picked.push(i);
                }
            }
            round += 1;
        }
        picked.sort_unstable();
        let mut images = Vec::with_capacity(n * self.image_len());
        for &i in &picked {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            images,
            labels: picked.iter().map(|&i| self.labels[i]).collect(),
            h: self.h,
            w: self.w,
            classes: self.classes.clone(),
            root: self.root.clone(),
        }
    }
}

fn check_size(size: Option<(usize, usize)>) -> Result<()> {
    match size {
        Some((h, w)) if h == 0 || w == 0 || h > 1 << 15 || w > 1 << 15 => Err(Error::Config(
            format!("image size {h}×{w} is outside 1..=32768 per side"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(labels: &[u32], classes: usize) -> Dataset {
        let images = labels
            .iter()
            .enumerate()
            .flat_map(|(i, _)| [i as u8; 3])
            .collect();
        let names = (0..classes).map(|c| format!("c{c}")).collect();
        Dataset::from_raw(images, labels.to_vec(), (1, 1), names).unwrap()
    }

    #[test]
    fn subset_takes_classes_in_turn_and_keeps_order() {
        // 6 of class 0, 2 of class 1, 4 of class 2.
        let labels = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2];
        let d = toy(&labels, 3);
        let s = d.subset(7);
        assert_eq!(s.len(), 7);
        // Rounds (c0, c1, c2) twice, then the 7th is c0's third image.
        assert_eq!(s.class_counts(), vec![3, 2, 2]);
        assert_eq!(s.labels, vec![0, 0, 0, 1, 1, 2, 2]);
        // Pixel bytes follow the picked images: the first of each class, in order.
        assert_eq!(s.image(3), &[6, 6, 6]);
        assert_eq!(s.image(5), &[8, 8, 8]);
        assert_eq!(s.classes, d.classes);
        assert_eq!(d.subset(100), d);
        assert!(d.subset(0).is_empty());
    }

    #[test]
    fn from_raw_checks_lengths_and_labels() {
        assert!(Dataset::from_raw(vec![0; 5], vec![0, 0], (1, 1), vec!["a".into()]).is_err());
        assert!(Dataset::from_raw(vec![0; 3], vec![1], (1, 1), vec!["a".into()]).is_err());
        assert!(Dataset::from_raw(vec![], vec![], (0, 1), vec![]).is_err());
    }

    #[test]
    fn bad_sizes_are_config_errors() {
        let e = Dataset::open(Path::new("/nonexistent"), Split::Train, Some((0, 4))).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
    }
}
