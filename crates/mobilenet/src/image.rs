//! Photos in, network input out: decode (JPEG, PNG, BMP, WebP), optionally crop the centre,
//! resize the whole image to the model's input size (bilinear, with the filter widened when
//! shrinking, as PIL and TensorFlow's antialiased resize do), and normalize as the model was
//! trained. An image already at the input size is used unchanged.

use std::path::Path;

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
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image {
            path: path.into(),
            reason: e.to_string(),
        })?;
    if reader.format().is_none() {
        return Err(Error::Image {
            path: path.into(),
            reason: "unknown format (JPEG, PNG, BMP and WebP are supported)".into(),
        });
    }
    let mut reader = reader;
    reader.limits({
        let mut l = image::Limits::default();
        l.max_image_width = Some(1 << 15);
        l.max_image_height = Some(1 << 15);
        l
    });
    let img = reader.decode().map_err(|e| Error::Image {
        path: path.into(),
        reason: e.to_string(),
    })?;
    Ok(img.to_rgb8())
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

/// `(x - mean) / std` per channel value, into a (1, S, S, 3) tensor.
pub fn normalize(img: &RgbImage, n: Normalization) -> Tensor {
    let (w, h) = img.dimensions();
    let data = img
        .as_raw()
        .iter()
        .map(|&v| (v as f32 - n.mean) / n.std)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_at_the_input_size_is_used_unchanged() {
        let img = RgbImage::from_fn(4, 4, |x, y| image::Rgb([(x * 10) as u8, (y * 10) as u8, 7]));
        let p = Preprocess {
            size: 4,
            center_crop: None,
            normalization: Normalization {
                mean: 0.0,
                std: 1.0,
            },
        };
        assert_eq!(resize(&img, &p), img);
        let t = normalize(&img, Normalization::TF);
        assert_eq!(t.shape, [1, 4, 4, 3]);
        assert_eq!(t.data[3], (10.0 - 127.5) / 127.5); // pixel (x=1, y=0), red
    }

    #[test]
    fn garbage_bytes_name_the_file() {
        let err = decode_rgb(b"definitely not an image", Path::new("photo.jpg")).unwrap_err();
        assert!(err.to_string().contains("photo.jpg"), "{err}");
    }
}
