//! From the paths a user names to the image files to read: directories are walked
//! recursively in sorted order, taking the files whose content (not name) is an image format we
//! decode; the rest are counted as skipped. A file named explicitly is always taken, so that a
//! non-image named on purpose is still reported as an error when it is decoded.
//!
//! Symbolic links are followed, each directory is entered once (by its canonical path), so a
//! link loop cannot make the walk run forever.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The outcome of [`collect`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFiles {
    /// Files to read, in the order given, each directory's in sorted order.
    pub files: Vec<PathBuf>,
    /// Files inside directories whose content is not an image we read.
    pub skipped: Vec<PathBuf>,
}

/// Expands `paths`: files as they are, directories into their image files (recursively,
/// sorted by name). A directory that cannot be listed is an [`Error::Io`] naming it.
pub fn collect(paths: &[PathBuf]) -> Result<ImageFiles> {
    let mut out = ImageFiles::default();
    let mut seen = HashSet::new();
    for path in paths {
        // A named path that is not a directory is taken as it is, even if it does not exist:
        // reading it reports the error, naming it, without stopping the other images.
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut out, &mut seen)?,
            _ => out.files.push(path.clone()),
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut ImageFiles, seen: &mut HashSet<PathBuf>) -> Result<()> {
    let real = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    if !seen.insert(real) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    entries.sort();
    for path in entries {
        // A dangling link or a file removed meanwhile is skipped like any non-image.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, out, seen)?,
            Ok(m) if m.is_file() && is_image(&path) => out.files.push(path),
            _ => out.skipped.push(path),
        }
    }
    Ok(())
}

/// Whether the file starts like a JPEG, PNG, BMP or WebP image (the formats we decode).
pub fn is_image(path: &Path) -> bool {
    let mut head = [0u8; 12];
    let n = std::fs::File::open(path)
        .and_then(|mut f| {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            Ok(n)
        })
        .unwrap_or(0);
    is_image_bytes(&head[..n])
}

/// [`is_image`] on a file's first bytes (12 are enough).
pub fn is_image_bytes(head: &[u8]) -> bool {
    use image::ImageFormat::*;
    matches!(image::guess_format(head), Ok(Jpeg | Png | Bmp | WebP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide() {
        assert!(is_image_bytes(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(is_image_bytes(b"\x89PNG\r\n\x1a\n"));
        assert!(is_image_bytes(b"RIFF\0\0\0\0WEBP"));
        assert!(!is_image_bytes(b"GIF89a"));
        assert!(!is_image_bytes(b"hello world"));
        assert!(!is_image_bytes(b""));
    }

    #[cfg(unix)]
    #[test]
    fn a_link_loop_is_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x.png"), b"\x89PNG\r\n\x1a\n").unwrap();
        std::fs::write(sub.join("y.txt"), b"text").unwrap();
        std::os::unix::fs::symlink(dir.path(), sub.join("up")).unwrap();
        std::os::unix::fs::symlink(sub.join("gone"), sub.join("dangling")).unwrap();
        let found = collect(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(found.files, vec![sub.join("x.png")]);
        assert_eq!(found.skipped, vec![sub.join("dangling"), sub.join("y.txt")]);
        // A named path is taken as it is, existing or not.
        let missing = dir.path().join("missing.jpg");
        assert_eq!(
            collect(std::slice::from_ref(&missing)).unwrap().files,
            vec![missing]
        );
    }
}
