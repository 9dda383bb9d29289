//! Photos in, network input out (`files`: which files to read; `batches`: decoding ahead of
//! the network): decode (JPEG, PNG, BMP, WebP), optionally crop the centre,
//! resize the whole image to the model's input size (bilinear, with the filter widened when
//! shrinking, as PIL and TensorFlow's antialiased resize do), and normalize as the model was
//! trained. An image already at the input size is used unchanged.
//!
//! Decoding hostile files: every failure is an [`Error::Image`] naming the file, with the
//! decoder's message made one plain line (no Rust debug formatting, no quoted escapes). A
//! decoder that panics (`png` 0.18 does on a PLTE chunk whose length is not a multiple of 3;
//! such chunks are also rejected before decoding) is caught at this boundary and reported the
//! same way, so one bad image never takes down a batch. While a decoder runs, its thread's
//! panic messages are not printed: the first decode installs a panic hook that stays silent for
//! those and passes every other panic to the hook that was there before.

use std::path::Path;

pub mod batches;
pub mod files;

use image::{imageops::FilterType, RgbImage};

use crate::config::Normalization;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// How to turn a photo into one network input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    /// Output height = width.
    pub size: usize,
    /// Keep only the central fraction (0, 1] of each side before resizing (TF `central_crop`).
    pub center_crop: Option<f32>,
    pub normalization: Normalization,
}

/// Decodes an image file into 8-bit RGB. The format is taken from the content, not the name.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_rgb(&bytes, path)
}

/// Decodes image bytes into 8-bit RGB; `path` is for error messages.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let fail = |reason: String| Error::Image {
        path: path.into(),
        reason: plain(&reason),
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    match reader.format() {
        None => {
            return Err(fail(
                "unknown format (JPEG, PNG, BMP and WebP are supported)".into(),
            ))
        }
        Some(image::ImageFormat::Png) => check_png_palette(bytes).map_err(fail)?,
        Some(_) => {}
    }
    let mut reader = reader;
    reader.limits({
        let mut l = image::Limits::default();
        l.max_image_width = Some(1 << 15);
        l.max_image_height = Some(1 << 15);
        l
    });
    let img = without_panics(|| reader.decode().map(|img| img.to_rgb8()))
        .map_err(|panic| fail(format!("the decoder failed ({panic})")))?
        .map_err(|e| fail(e.to_string()))?;
    Ok(img)
}

/// Rejects a PNG whose PLTE chunk is not 1 to 256 RGB entries (the `png` crate panics on a
/// length that is not a multiple of 3). Walks the chunks up to IDAT; anything else malformed is
/// left to the decoder.
fn check_png_palette(bytes: &[u8]) -> std::result::Result<(), String> {
    let mut pos = 8; // the signature
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        match &head[4..8] {
            b"PLTE" if len == 0 || !len.is_multiple_of(3) || len > 3 * 256 => {
                return Err(format!(
                    "PNG palette (PLTE chunk) of {len} bytes is not 1 to 256 RGB entries"
                ))
            }
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    Ok(())
}

thread_local! {
    /// Set while this thread runs a decoder under [`without_panics`].
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err(message)`; the panic is not printed.
fn without_panics<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.with(|d| d.get()) {
                previous(info)
            }
        }));
    });
    let was = DECODING.with(|d| d.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    DECODING.with(|d| d.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// A decoder's message as one plain line: `ChunkType { type: IHDR, … }` becomes `IHDR`, a
/// debug-quoted string (`"bad marker\n"`) loses its quotes and escapes, and line breaks and
/// runs of white space become single spaces.
fn plain(msg: &str) -> String {
    let mut s = msg.to_string();
    while let Some(at) = s.find("ChunkType { type: ") {
        let name_at = at + "ChunkType { type: ".len();
        let Some(end) = s[at..].find('}').map(|e| at + e + 1) else {
            break;
        };
        let name: String = s[name_at..end]
            .chars()
            .take_while(|&c| c != ',' && c != ' ')
            .collect();
        s.replace_range(at..end, &name);
    }
    if let (Some(first), true) = (s.find('"'), s.ends_with('"')) {
        if first + 1 < s.len() {
            let inner = unescape(&s[first + 1..s.len() - 1]);
            s = format!("{}{inner}", &s[..first]);
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Undoes Rust's `{:?}` escapes of a string (`\n`, `\t`, `\"`, `\\`, `\'`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'r' | 't') => out.push(' '),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Crops and resizes `img` to `p.size` × `p.size` RGB pixels (no normalization).
pub fn resize(img: &RgbImage, p: &Preprocess) -> RgbImage {
    let s = p.size as u32;
    let crop = p.center_crop.filter(|&f| f < 1.0).map(|f| {
        let (w, h) = img.dimensions();
        let (cw, ch) = (
            ((w as f32 * f).round() as u32).max(1),
            ((h as f32 * f).round() as u32).max(1),
        );
        image::imageops::crop_imm(img, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image()
    });
    let view = crop.as_ref().unwrap_or(img);
    if view.dimensions() == (s, s) {
        return view.clone();
    }
    image::imageops::resize(view, s, s, FilterType::Triangle)
}

/// `(x - mean[c]) / std[c]` for each value of channel `c`, into a (1, S, S, 3) tensor.
pub fn normalize(img: &RgbImage, n: Normalization) -> Tensor {
    let (w, h) = img.dimensions();
    let data = img
        .as_raw()
        .iter()
        .enumerate()
        .map(|(i, &v)| n.apply(v as f32, i % 3))
        .collect();
    Tensor::from_vec([1, h as usize, w as usize, 3], data)
}

/// Loads one photo as a network input (1, S, S, 3).
pub fn load_input(path: &Path, p: &Preprocess) -> Result<Tensor> {
    if let Some(f) = p.center_crop {
        if !(f > 0.0 && f <= 1.0) {
            return Err(Error::Config(format!(
                "center crop fraction {f} is outside (0, 1]"
            )));
        }
    }
    let img = load_rgb(path)?;
    Ok(normalize(&resize(&img, p), p.normalization))
}

/// The hostile images the integration tests use (issue 5).
#[cfg(test)]
#[path = "../../tests/common/images.rs"]
mod test_images;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_at_the_input_size_is_used_unchanged() {
        let img = RgbImage::from_fn(4, 4, |x, y| image::Rgb([(x * 10) as u8, (y * 10) as u8, 7]));
        let p = Preprocess {
            size: 4,
            center_crop: None,
            normalization: Normalization::uniform(0.0, 1.0),
        };
        assert_eq!(resize(&img, &p), img);
        let t = normalize(&img, Normalization::TF);
        assert_eq!(t.shape, [1, 4, 4, 3]);
        assert_eq!(t.data[3], (10.0 - 127.5) / 127.5); // pixel (x=1, y=0), red
    }

    use test_images as images;

    #[test]
    fn a_decoder_panic_is_caught_and_not_printed() {
        // The PNG that `check_png_palette` rejects, given to the decoder anyway: `png` 0.18.1
        // panics on it. (Whether the panic was printed shows in the CLI test's stderr.)
        let png = images::png_with_short_palette();
        let panic = without_panics(|| image::load_from_memory(&png).map(|_| ()))
            .expect_err("png no longer panics on a short PLTE: find another panicking input");
        assert!(panic.contains("out of range"), "{panic}");
        assert_eq!(without_panics(|| 7), Ok(7));
        // Other threads' panics still reach the previous hook; this thread's flag is reset.
        assert!(!DECODING.with(|d| d.get()));
    }

    #[test]
    fn decoder_messages_lose_their_debug_formatting() {
        assert_eq!(
            plain("Chunk length wrong: ChunkType { type: IHDR, critical: true, private: false, reserved: false, safecopy: false }"),
            "Chunk length wrong: IHDR"
        );
        assert_eq!(
            plain("Format error decoding Jpeg: \"Found a marker with invalid length:1\\n\""),
            "Format error decoding Jpeg: Found a marker with invalid length:1"
        );
        assert_eq!(plain("two\nlines  and\tspaces"), "two lines and spaces");
    }

    #[test]
    fn garbage_bytes_name_the_file() {
        let err = decode_rgb(b"definitely not an image", Path::new("photo.jpg")).unwrap_err();
        assert!(err.to_string().contains("photo.jpg"), "{err}");
    }
}
