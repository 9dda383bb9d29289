//! Printing helpers: stdout writes that report a closed pipe as an error (so `main` can treat
//! it as success) instead of panicking like `println!`.

use std::io::Write;

use anyhow::Result;

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
