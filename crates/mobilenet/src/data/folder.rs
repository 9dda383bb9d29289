//! Image folders: `dir/<class>/<file>.{jpg,jpeg,png,bmp,webp}`, decoded once, in parallel.

use std::fs;
use std::path::{Path, PathBuf};

use image::{imageops::FilterType, RgbImage};
use rayon::prelude::*;

use super::{dataset_error, Dataset};
use crate::error::{Error, Result};

/// File extensions read as images (compared without regard to case).
pub(crate) const EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "bmp", "webp"];

struct Entry {
    name: std::ffi::OsString,
    path: PathBuf,
    is_dir: bool,
}

/// The entries of `dir` that are not hidden (name starting with `.`), sorted by name. Symbolic
/// links are followed.
fn entries(dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let path = e.path();
        let meta = fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        out.push(Entry {
            name,
            is_dir: meta.is_dir(),
            path,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The class folders of `dir`, sorted by name.
fn class_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let all = entries(dir)?;
    let mut classes = Vec::new();
    for e in all.iter().filter(|e| e.is_dir) {
        let name = e.name.to_str().ok_or_else(|| {
            dataset_error(&e.path, "class folder name is not valid UTF-8".to_string())
        })?;
        classes.push((name.to_string(), e.path.clone()));
    }
    if classes.is_empty() {
        let loose = all
            .iter()
            .filter(|e| !e.is_dir && is_image(&e.path))
            .count();
        let what = if loose > 0 {
            format!(
                "has {loose} images but no class folders: images go in {}/<class>/",
                dir.display()
            )
        } else {
            "has no class folders and no images (expected <class>/*.jpg)".to_string()
        };
        return Err(dataset_error(dir, what));
    }
    Ok(classes)
}

/// The class names of image folder `dir`, as [`open`] would label them.
pub(crate) fn class_names(dir: &Path) -> Result<Vec<String>> {
    Ok(class_dirs(dir)?.into_iter().map(|(n, _)| n).collect())
}

/// A short list of names for messages.
pub(crate) fn describe(names: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s += &format!(", … ({} in all)", names.len());
    }
    format!("[{s}]")
}

pub(crate) fn open(dir: &Path, size: Option<(usize, usize)>) -> Result<Dataset> {
    let classes = class_dirs(dir)?;
    let mut files: Vec<(PathBuf, u32)> = Vec::new();
    let mut empty = None;
    for (label, (_, class_dir)) in classes.iter().enumerate() {
        let before = files.len();
        for e in entries(class_dir)? {
            if !e.is_dir && is_image(&e.path) {
                files.push((e.path, label as u32));
            }
        }
        if files.len() == before && empty.is_none() {
            empty = Some(class_dir.clone());
        }
    }
    if files.is_empty() {
        return Err(dataset_error(
            dir,
            format!(
                "no images ({}) in any of its {} class folders",
                EXTENSIONS.join(", "),
                classes.len()
            ),
        ));
    }
    if let Some(class_dir) = empty {
        return Err(dataset_error(
            class_dir,
            format!("class folder has no images ({})", EXTENSIONS.join(", ")),
        ));
    }

    // Native size: the first image's, which every other image must match.
    let (h, w) = match size {
        Some(s) => s,
        None => {
            let first = crate::image::load_rgb(&files[0].0)?;
            (first.height() as usize, first.width() as usize)
        }
    };
    let per = h * w * 3;
    let total = files
        .len()
        .checked_mul(per)
        .ok_or_else(|| dataset_error(dir, "too many pixels to hold in memory"))?;
    let mut images = vec![0u8; total];
    images
        .par_chunks_mut(per)
        .zip(files.par_iter())
        .try_for_each(|(out, (path, _))| {
            let img = crate::image::load_rgb(path)?;
            let got = (img.height() as usize, img.width() as usize);
            if got == (h, w) {
                out.copy_from_slice(img.as_raw());
            } else if size.is_some() {
                out.copy_from_slice(resize(&img, h, w).as_raw());
            } else {
                return Err(dataset_error(
                    path,
                    format!(
                        "image is {}×{} (h×w) but {} is {h}×{w}: all images must share one \
                         size unless a size to resize to is given",
                        got.0,
                        got.1,
                        files[0].0.display()
                    ),
                ));
            }
            Ok(())
        })?;

    Ok(Dataset {
        images,
        labels: files.iter().map(|&(_, l)| l).collect(),
        h,
        w,
        classes: classes.into_iter().map(|(n, _)| n).collect(),
        root: dir.to_path_buf(),
    })
}

/// Resizes to `h × w` with the triangle (bilinear, widened when shrinking) filter of
/// [`crate::image::resize`].
pub(crate) fn resize(img: &RgbImage, h: usize, w: usize) -> RgbImage {
    image::imageops::resize(img, w as u32, h as u32, FilterType::Triangle)
}
