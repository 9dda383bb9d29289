//! The numpy `.npy` format (version 1.0) for float32 matrices: a streaming writer, so that the
//! embeddings of a large folder never sit in memory at once, and a reader for files it (or
//! numpy) wrote.
//!
//! Layout: the magic `\x93NUMPY`, version 1.0, a little-endian u16 header length, an ASCII
//! Python dict `{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }` padded with spaces
//! and a newline so the data starts at a multiple of 64 bytes, then N·D little-endian f32 in
//! row-major order. The writer reserves a header of fixed size, streams the rows into a
//! temporary file beside the target, rewrites the header with the final row count, and renames
//! the file into place, so a crash never leaves a half-written `.npy` under the final name.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";
/// Magic, version, length and dict: the data starts here (a multiple of 64).
const HEADER_BYTES: usize = 128;

/// The 128-byte version-1.0 header of a C-order float32 array of `shape`.
pub fn header(shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    let room = HEADER_BYTES - MAGIC.len() - 4;
    debug_assert!(dict.len() < room, "shape too long for the fixed header");
    while dict.len() < room - 1 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = Vec::with_capacity(HEADER_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(room as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes an (N, D) float32 matrix row by row; N is known only at [`NpyWriter::finish`].
#[derive(Debug)]
pub struct NpyWriter {
    file: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    cols: usize,
    rows: usize,
}

impl NpyWriter {
    /// Starts `path` (written under a temporary name until [`Self::finish`]) for rows of `cols`
    /// values.
    pub fn create(path: &Path, cols: usize) -> Result<NpyWriter> {
        let tmp = temp_beside(path);
        let mut file = BufWriter::new(File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
        file.write_all(&header(&[0, cols]))
            .map_err(|e| Error::io(&tmp, e))?;
        Ok(NpyWriter {
            file,
            tmp,
            path: path.into(),
            cols,
            rows: 0,
        })
    }

    /// Appends one row; its length must be `cols`.
    pub fn write_row(&mut self, row: &[f32]) -> Result<()> {
        if row.len() != self.cols {
            return Err(Error::Config(format!(
                "{}: a row of {} values in a matrix of {} columns",
                self.path.display(),
                row.len(),
                self.cols
            )));
        }
        let mut bytes = Vec::with_capacity(4 * row.len());
        for v in row {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.file
            .write_all(&bytes)
            .map_err(|e| Error::io(&self.tmp, e))?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Writes the final header, syncs and renames the file into place; returns the row count.
    pub fn finish(mut self) -> Result<usize> {
        let rows = self.rows;
        let (tmp, path) = (self.tmp.clone(), self.path.clone());
        let result = (|| -> std::io::Result<()> {
            self.file.flush()?;
            let f = self.file.get_mut();
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&header(&[rows, self.cols]))?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&path, e)
        })?;
        Ok(rows)
    }
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new(""));
    dir.join(format!(".{name}.tmp{}", std::process::id()))
}

/// Reads a C-order little-endian float32 `.npy` file (version 1, 2 or 3): its shape and data.
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_f32(&bytes, path)
}

/// [`read_f32`] on bytes in memory; `path` names them in errors.
pub fn parse_f32(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bad = |what: String| Error::corrupt(path, what);
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!(".npy version {v} is not 1, 2 or 3"))),
    };
    let dict = bytes
        .get(start..start.saturating_add(len))
        .and_then(|d| std::str::from_utf8(d).ok())
        .ok_or_else(|| bad("truncated or non-text .npy header".into()))?;
    let field = |key: &str| -> Option<&str> {
        let at = dict.find(&format!("'{key}':"))? + key.len() + 3;
        Some(dict[at..].trim_start())
    };
    let descr = field("descr").ok_or_else(|| bad("header has no 'descr'".into()))?;
    if !(descr.starts_with("'<f4'") || descr.starts_with("'float32'")) {
        return Err(bad(format!(
            "dtype {} is not little-endian float32 ('<f4')",
            descr.split(',').next().unwrap_or(descr)
        )));
    }
    if field("fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad("Fortran-order arrays are not supported".into()));
    }
    let shape_text = field("shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("header has no 'shape'".into()))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad(format!("shape entry `{s}`"))))
        .collect::<Result<_>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let data = &bytes[start + len..];
    if Some(data.len()) != count.checked_mul(4) {
        return Err(bad(format!(
            "shape {shape:?} needs {count} float32 values, the file holds {} bytes of data",
            data.len()
        )));
    }
    let values = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((shape, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_128_bytes_and_parses_back() {
        let h = header(&[3, 1024]);
        assert_eq!(h.len(), HEADER_BYTES);
        assert_eq!(*h.last().unwrap(), b'\n');
        let mut file = h.clone();
        for v in 0..3 * 1024 {
            file.extend_from_slice(&(v as f32).to_le_bytes());
        }
        let (shape, data) = parse_f32(&file, Path::new("x.npy")).unwrap();
        assert_eq!(shape, vec![3, 1024]);
        assert_eq!(data[1025], 1025.0);
    }

    #[test]
    fn the_writer_streams_rows_and_renames_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        let mut w = NpyWriter::create(&path, 2).unwrap();
        w.write_row(&[1.0, 2.0]).unwrap();
        assert!(!path.exists(), "visible before finish");
        w.write_row(&[3.0, -4.5]).unwrap();
        assert!(w.write_row(&[1.0]).is_err());
        assert_eq!(w.finish().unwrap(), 2);
        let (shape, data) = read_f32(&path).unwrap();
        assert_eq!((shape, data), (vec![2, 2], vec![1.0, 2.0, 3.0, -4.5]));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left"
        );
    }

    #[test]
    fn truncated_data_is_an_error_naming_the_file() {
        let mut file = header(&[2, 2]);
        file.extend_from_slice(&[0; 12]);
        let err = parse_f32(&file, Path::new("short.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("short.npy") && err.contains("holds 12 bytes"),
            "{err}"
        );
    }
}
