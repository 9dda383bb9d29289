//! One sample's augmentation: a crop [`Window`] drawn from the sample's random stream, then
//! [`render`]ed into normalized `f32` network input (resampled when the window is not the
//! output size, mirrored when the window says so).

use crate::config::Normalization;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Per-channel input normalization: `x = (pixel - mean[c]) / std[c]`, pixel in `0..=255`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelNorm {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ChannelNorm {
    /// The same mean and standard deviation for every channel.
    pub fn scalar(mean: f32, std: f32) -> Self {
        ChannelNorm {
            mean: [mean; 3],
            std: [std; 3],
        }
    }

    /// The CIFAR-10 training set's channel statistics (×255 for pixels in 0..=255).
    pub const CIFAR10: ChannelNorm = ChannelNorm {
        mean: [0.4914 * 255.0, 0.4822 * 255.0, 0.4465 * 255.0],
        std: [0.2470 * 255.0, 0.2435 * 255.0, 0.2616 * 255.0],
    };

    /// The ImageNet statistics torchvision models use (×255).
    pub const IMAGENET: ChannelNorm = ChannelNorm {
        mean: Normalization::IMAGENET.mean,
        std: Normalization::IMAGENET.std,
    };

    /// `(v - mean[c]) / std[c]`.
    #[inline]
    pub fn apply(&self, v: f32, c: usize) -> f32 {
        (v - self.mean[c]) / self.std[c]
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.mean.iter().all(|m| m.is_finite())
            && self.std.iter().all(|s| s.is_finite() && *s > 0.0)
        {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "normalization mean {:?} std {:?}: means must be finite and stds finite and > 0",
                self.mean, self.std
            )))
        }
    }

    /// The normalized value of every byte for every channel, for rendering.
    pub fn normalizer(&self) -> Normalizer {
        let mut lut = [[0f32; 256]; 3];
        for (c, row) in lut.iter_mut().enumerate() {
            for (v, x) in row.iter_mut().enumerate() {
                *x = self.apply(v as f32, c);
            }
        }
        Normalizer { norm: *self, lut }
    }
}

impl From<Normalization> for ChannelNorm {
    fn from(n: Normalization) -> Self {
        ChannelNorm {
            mean: n.mean,
            std: n.std,
        }
    }
}

/// A [`ChannelNorm`] with its table of normalized byte values.
#[derive(Debug, Clone)]
pub struct Normalizer {
    norm: ChannelNorm,
    lut: [[f32; 256]; 3],
}

impl Normalizer {
    pub fn norm(&self) -> &ChannelNorm {
        &self.norm
    }

    /// The normalized value of byte `v` in channel `c`.
    #[inline]
    pub fn byte(&self, v: u8, c: usize) -> f32 {
        self.lut[c][v as usize]
    }
}

/// How each training or evaluation sample is cropped before it is resized to the output size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Augment {
    /// Evaluation: the whole image, resized to the output size if it differs.
    None,
    /// CIFAR style: pad `pad` black pixels on each side (black before normalization, as
    /// torchvision's `RandomCrop(padding=…)` pads the PIL image), crop a random window of the
    /// image's size, mirror left–right with probability 1/2.
    CropFlip { pad: usize },
    /// ImageNet style (torchvision `RandomResizedCrop`): a window of area `[min_scale, 1]` of
    /// the image and aspect ratio in `[3/4, 4/3]` (log-uniform), after 10 failed draws the
    /// central crop of the nearest allowed ratio; then mirror with probability 1/2.
    RandomResizedCrop { min_scale: f32 },
    /// Evaluation: the central `fraction` of each side.
    CenterCrop { fraction: f32 },
}

/// Largest padding [`Augment::CropFlip`] accepts.
const MAX_PAD: usize = 1 << 15;

impl Augment {
    pub(crate) fn validate(&self) -> Result<()> {
        match *self {
            Augment::None => Ok(()),
            Augment::CropFlip { pad } if pad <= MAX_PAD => Ok(()),
            Augment::CropFlip { pad } => Err(Error::Config(format!(
                "crop padding {pad} is over {MAX_PAD}"
            ))),
            Augment::RandomResizedCrop { min_scale: f } | Augment::CenterCrop { fraction: f }
                if f > 0.0 && f <= 1.0 =>
            {
                Ok(())
            }
            Augment::RandomResizedCrop { min_scale } => Err(Error::Config(format!(
                "random-resized-crop minimum scale {min_scale} is outside (0, 1]"
            ))),
            Augment::CenterCrop { fraction } => Err(Error::Config(format!(
                "center crop fraction {fraction} is outside (0, 1]"
            ))),
        }
    }

    /// Whether [`Augment::window`] draws from its generator.
    pub fn is_random(&self) -> bool {
        matches!(
            self,
            Augment::CropFlip { .. } | Augment::RandomResizedCrop { .. }
        )
    }

    /// Draws the window of one `h × w` image (both ≥ 1). For `CropFlip` the draws are: row
    /// offset, column offset, flip; for `RandomResizedCrop`: (scale, log-ratio, then row and
    /// column offset on success) up to 10 times, then flip.
    pub fn window(&self, h: usize, w: usize, rng: &mut Rng) -> Window {
        match *self {
            Augment::None => Window::full(h, w),
            Augment::CropFlip { pad } => {
                let dy = rng.below(2 * pad + 1) as i64;
                let dx = rng.below(2 * pad + 1) as i64;
                Window {
                    top: dy - pad as i64,
                    left: dx - pad as i64,
                    height: h,
                    width: w,
                    flip: rng.flip(),
                }
            }
            Augment::RandomResizedCrop { min_scale } => {
                let mut win = random_resized(h, w, min_scale as f64, rng);
                win.flip = rng.flip();
                win
            }
            Augment::CenterCrop { fraction } => {
                let side = |n: usize| ((n as f32 * fraction).round() as usize).clamp(1, n);
                let (ch, cw) = (side(h), side(w));
                Window {
                    top: ((h - ch) / 2) as i64,
                    left: ((w - cw) / 2) as i64,
                    height: ch,
                    width: cw,
                    flip: false,
                }
            }
        }
    }
}

fn random_resized(h: usize, w: usize, min_scale: f64, rng: &mut Rng) -> Window {
    const RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);
    let area = (h * w) as f64;
    let (lr0, lr1) = (RATIO.0.ln(), RATIO.1.ln());
    for _ in 0..10 {
        let target = area * (min_scale + (1.0 - min_scale) * rng.uniform_f64());
        let ratio = (lr0 + (lr1 - lr0) * rng.uniform_f64()).exp();
        let cw = (target * ratio).sqrt().round() as usize;
        let ch = (target / ratio).sqrt().round() as usize;
        if (1..=w).contains(&cw) && (1..=h).contains(&ch) {
            let top = rng.below(h - ch + 1) as i64;
            let left = rng.below(w - cw + 1) as i64;
            return Window {
                top,
                left,
                height: ch,
                width: cw,
                flip: false,
            };
        }
    }
    // Central crop at the nearest allowed aspect ratio.
    let in_ratio = w as f64 / h as f64;
    let (ch, cw) = if in_ratio < RATIO.0 {
        (((w as f64 / RATIO.0).round() as usize).clamp(1, h), w)
    } else if in_ratio > RATIO.1 {
        (h, ((h as f64 * RATIO.1).round() as usize).clamp(1, w))
    } else {
        (h, w)
    };
    Window {
        top: ((h - ch) / 2) as i64,
        left: ((w - cw) / 2) as i64,
        height: ch,
        width: cw,
        flip: false,
    }
}

/// Where one sample's pixels come from: the `height × width` window of the source image whose
/// top-left corner is at row `top`, column `left`. Parts of the window outside the image (only
/// padded crops have them) are black. The window is resampled to the output size (when the
/// sizes differ), then mirrored left–right if `flip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub top: i64,
    pub left: i64,
    pub height: usize,
    pub width: usize,
    pub flip: bool,
}

impl Window {
    /// The whole `h × w` image, not mirrored.
    pub fn full(h: usize, w: usize) -> Window {
        Window {
            top: 0,
            left: 0,
            height: h,
            width: w,
            flip: false,
        }
    }
}

/// One output coordinate's resampling taps: source offsets `first..first + weights.len()`
/// within the window, weights in `Scratch` from `at`.
#[derive(Debug, Clone, Copy)]
struct Taps {
    first: usize,
    at: usize,
    len: usize,
}

/// Buffers [`render`] reuses from sample to sample (one per thread).
#[derive(Debug, Default)]
pub struct Scratch {
    x: Vec<Taps>,
    y: Vec<Taps>,
    wx: Vec<f32>,
    wy: Vec<f32>,
    rows: Vec<f32>,
}

/// Triangle-filter taps from a window side of `n` to `m` outputs, widened when shrinking (as
/// PIL's bilinear resize): taps outside the window are left out and the rest renormalized.
fn taps(n: usize, m: usize, out: &mut Vec<Taps>, weights: &mut Vec<f32>) {
    out.clear();
    weights.clear();
    let scale = n as f64 / m as f64;
    let support = scale.max(1.0);
    for o in 0..m {
        let center = (o as f64 + 0.5) * scale;
        let lo = (center - support).floor().max(0.0) as usize;
        let hi = ((center + support).ceil() as usize).min(n);
        let at = weights.len();
        let mut first = None;
        let mut sum = 0.0;
        for i in lo..hi {
            let t = ((i as f64 + 0.5 - center) / support).abs();
            let wgt = 1.0 - t;
            if wgt > 0.0 {
                first.get_or_insert(i);
                weights.push(wgt as f32);
                sum += wgt;
            }
        }
        let len = weights.len() - at;
        for x in &mut weights[at..] {
            *x = (*x as f64 / sum) as f32;
        }
        out.push(Taps {
            first: first.unwrap_or(0),
            at,
            len,
        });
    }
}

/// The columns `0..width` of a window at `left` that lie inside an image `w` wide.
fn inside(left: i64, width: usize, w: usize) -> (usize, usize) {
    let lo = (-left).clamp(0, width as i64) as usize;
    let hi = (w as i64 - left).clamp(lo as i64, width as i64) as usize;
    (lo, hi)
}

/// Renders `win` of the `h × w` HWC RGB image `src` into `out`, `out_h × out_w × 3` normalized
/// values (HWC). A window of the output size is copied pixel for pixel; any other is resampled
/// with the triangle filter (values stay fractional, not rounded to bytes).
pub fn render(
    src: &[u8],
    (h, w): (usize, usize),
    win: &Window,
    norm: &Normalizer,
    out: &mut [f32],
    (out_h, out_w): (usize, usize),
    scratch: &mut Scratch,
) {
    debug_assert_eq!(src.len(), h * w * 3);
    debug_assert_eq!(out.len(), out_h * out_w * 3);
    let black = [norm.byte(0, 0), norm.byte(0, 1), norm.byte(0, 2)];
    if (win.height, win.width) == (out_h, out_w) {
        let (lo, hi) = inside(win.left, out_w, w);
        for (oy, row) in out.chunks_exact_mut(out_w * 3).enumerate() {
            let sy = win.top + oy as i64;
            // Fill black, then overwrite the window's columns that lie in the image. Window
            // column `c` lands at output column `c`, or `out_w - 1 - c` when mirrored.
            for px in row.chunks_exact_mut(3) {
                px.copy_from_slice(&black);
            }
            if sy < 0 || sy >= h as i64 || lo == hi {
                continue;
            }
            let start = (sy as usize * w) * 3 + ((win.left + lo as i64) as usize) * 3;
            let from = &src[start..start + (hi - lo) * 3];
            if win.flip {
                let dst = &mut row[(out_w - hi) * 3..(out_w - lo) * 3];
                for (d, s) in dst.chunks_exact_mut(3).rev().zip(from.chunks_exact(3)) {
                    d[0] = norm.byte(s[0], 0);
                    d[1] = norm.byte(s[1], 1);
                    d[2] = norm.byte(s[2], 2);
                }
            } else {
                let dst = &mut row[lo * 3..hi * 3];
                for (d, s) in dst.chunks_exact_mut(3).zip(from.chunks_exact(3)) {
                    d[0] = norm.byte(s[0], 0);
                    d[1] = norm.byte(s[1], 1);
                    d[2] = norm.byte(s[2], 2);
                }
            }
        }
        return;
    }

    // Separable resampling: rows of the window to `out_w` columns, then columns to `out_h`.
    let Scratch { x, y, wx, wy, rows } = scratch;
    taps(win.width, out_w, x, wx);
    taps(win.height, out_h, y, wy);
    rows.clear();
    rows.resize(win.height * out_w * 3, 0.0);
    for (r, row) in rows.chunks_exact_mut(out_w * 3).enumerate() {
        let sy = win.top + r as i64;
        if sy < 0 || sy >= h as i64 {
            continue; // black: zeros before normalization
        }
        let line = &src[sy as usize * w * 3..(sy as usize + 1) * w * 3];
        for (t, px) in x.iter().zip(row.chunks_exact_mut(3)) {
            let mut acc = [0f32; 3];
            for (k, &wgt) in wx[t.at..t.at + t.len].iter().enumerate() {
                let sx = win.left + (t.first + k) as i64;
                if sx >= 0 && sx < w as i64 {
                    let s = &line[sx as usize * 3..sx as usize * 3 + 3];
                    acc[0] += wgt * s[0] as f32;
                    acc[1] += wgt * s[1] as f32;
                    acc[2] += wgt * s[2] as f32;
                }
            }
            px.copy_from_slice(&acc);
        }
    }
    let n = norm.norm();
    for (t, orow) in y.iter().zip(out.chunks_exact_mut(out_w * 3)) {
        for ox in 0..out_w {
            let mut acc = [0f32; 3];
            for (k, &wgt) in wy[t.at..t.at + t.len].iter().enumerate() {
                let p = &rows[((t.first + k) * out_w + ox) * 3..][..3];
                acc[0] += wgt * p[0];
                acc[1] += wgt * p[1];
                acc[2] += wgt * p[2];
            }
            let dx = if win.flip { out_w - 1 - ox } else { ox };
            let d = &mut orow[dx * 3..dx * 3 + 3];
            for c in 0..3 {
                d[c] = n.apply(acc[c], c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_are_identity_at_equal_size_and_sum_to_one() {
        let (mut t, mut w) = (Vec::new(), Vec::new());
        taps(5, 5, &mut t, &mut w);
        for (o, tap) in t.iter().enumerate() {
            assert_eq!((tap.first, tap.len), (o, 1));
            assert_eq!(w[tap.at], 1.0);
        }
        for (n, m) in [(32, 96), (96, 32), (7, 3), (3, 7)] {
            taps(n, m, &mut t, &mut w);
            assert_eq!(t.len(), m);
            for tap in &t {
                let s: f32 = w[tap.at..tap.at + tap.len].iter().sum();
                assert!((s - 1.0).abs() < 1e-5, "{n}->{m}: {s}");
                assert!(tap.first + tap.len <= n);
            }
        }
    }

    #[test]
    fn inside_clips_the_window_to_the_image() {
        assert_eq!(inside(0, 4, 4), (0, 4));
        assert_eq!(inside(-2, 4, 4), (2, 4));
        assert_eq!(inside(3, 4, 4), (0, 1));
        assert_eq!(inside(-9, 4, 4), (4, 4));
        assert_eq!(inside(9, 4, 4), (0, 0));
    }

    #[test]
    fn random_resized_windows_fit_and_fall_back_to_the_centre() {
        let mut rng = Rng::new(1);
        for _ in 0..500 {
            let win = Augment::RandomResizedCrop { min_scale: 0.08 }.window(20, 30, &mut rng);
            assert!(win.top >= 0 && win.left >= 0);
            assert!(win.top as usize + win.height <= 20);
            assert!(win.left as usize + win.width <= 30);
            assert!(win.height >= 1 && win.width >= 1);
        }
        // A 1 × 100 strip: no draw of ratio in [3/4, 4/3] fits, so the central 1 × 1 (ratio
        // clamped to 4/3, rounded) is taken.
        let win = random_resized(1, 100, 0.5, &mut rng);
        assert_eq!((win.height, win.width), (1, 1));
        assert_eq!(win.left, 49);
    }

    #[test]
    fn center_crop_keeps_the_middle() {
        let win = Augment::CenterCrop { fraction: 0.5 }.window(10, 8, &mut Rng::new(0));
        assert_eq!(
            win,
            Window {
                top: 2,
                left: 2,
                height: 5,
                width: 4,
                flip: false
            }
        );
    }
}
