//! Printing helpers: stdout writes that report a closed pipe as an error (so `main` can treat
//! it as success) instead of panicking like `println!`, and the `--output FILE` sink.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cmd::images::Progress;

pub fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// One compact JSON value and a newline.
pub fn json_line(v: &impl serde::Serialize) -> Result<()> {
    let mut s = serde_json::to_string(v)?;
    s.push('\n');
    print(&s)
}

/// Where results go: stdout, or a file given with `--output` (written as the results come, so
/// an interrupted run keeps what it had).
pub enum Sink {
    Stdout,
    File { path: PathBuf, w: BufWriter<File> },
}

impl Sink {
    pub fn new(path: Option<&Path>) -> Result<Sink> {
        Ok(match path {
            None => Sink::Stdout,
            Some(p) => Sink::File {
                path: p.into(),
                w: BufWriter::new(
                    File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
                ),
            },
        })
    }

    /// Writes `s`; on stdout, with the progress bar (if any) cleared meanwhile.
    pub fn write(&mut self, s: &str, progress: Option<&Progress>) -> Result<()> {
        match self {
            Sink::Stdout => match progress {
                Some(p) => p.suspend(|| print(s)),
                None => print(s),
            },
            Sink::File { path, w } => w
                .write_all(s.as_bytes())
                .with_context(|| format!("writing {}", path.display())),
        }
    }

    pub fn finish(self) -> Result<()> {
        if let Sink::File { path, mut w } = self {
            w.flush()
                .and_then(|()| w.get_ref().sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// 568740352 → "568,740,352".
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
