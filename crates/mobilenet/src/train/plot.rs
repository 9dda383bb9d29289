//! Training curves as a PNG: loss per epoch on the left, accuracy per epoch on the right.
//!
//! Drawn pixel by pixel into an [`RgbImage`] with a built-in 5 × 7 bitmap font, so it needs no
//! system fonts and no dependency beyond the `image` crate's PNG encoder: it renders the same on
//! any machine, CI included. Characters outside printable ASCII are drawn as a hollow box.
//! The font's glyphs were drawn for this file.

use std::path::Path;

use ::image::{ImageFormat, Rgb, RgbImage};

use crate::{Error, Result};

/// One epoch's numbers. Accuracies are fractions (0..=1) or percentages (0..=100): if any
/// accuracy exceeds 1 the panel's axis runs 0..100, otherwise 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
}

/// Width of the PNG [`plot_curves`] writes, in pixels.
pub const WIDTH: u32 = 1200;
/// Height of the PNG [`plot_curves`] writes, in pixels.
pub const HEIGHT: u32 = 500;

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([30, 30, 30]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const FRAME: Rgb<u8> = Rgb([160, 160, 160]);
const TRAIN: Rgb<u8> = Rgb([31, 119, 180]);
const TEST: Rgb<u8> = Rgb([230, 110, 0]);

/// The plot areas (inside the axes) of the two panels: left, top, right, bottom.
const LOSS_AREA: Rect = Rect {
    left: 84,
    top: 76,
    right: 580,
    bottom: 436,
};
const ACC_AREA: Rect = Rect {
    left: 684,
    top: 76,
    right: 1180,
    bottom: 436,
};

/// Writes a 1200 × 500 PNG of the curves in `rows`: left panel loss (train and, where present,
/// test) per epoch, right panel accuracy, each with axes, tick labels, grid and legend, under
/// `title`. Non-finite values are left out; test points are joined only between consecutive rows
/// that have them. Empty `rows` give empty axes. The file is written to a temporary file in the
/// same folder and renamed over `path`, so a reader never sees half a PNG.
pub fn plot_curves(rows: &[PlotRow], title: &str, path: &Path) -> Result<()> {
    let img = render(rows, title);
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    crate::io::native::write_atomic(path, &png)
}

fn render(rows: &[PlotRow], title: &str) -> RgbImage {
    let mut img = RgbImage::from_pixel(WIDTH, HEIGHT, BACKGROUND);
    let mut canvas = Canvas { img: &mut img };

    // Title: scale 3 if it fits, else 2, else cut with "..".
    let title: Vec<char> = title.chars().collect();
    let (scale, text) = fit_title(&title, WIDTH as i64 - 40);
    let w = text_width(text.len(), scale);
    canvas.text(&text, (WIDTH as i64 - w) / 2, 12, scale, INK);

    let epochs: Vec<f64> = rows.iter().map(|r| r.epoch as f64).collect();
    let train_loss: Vec<Option<f64>> = rows.iter().map(|r| Some(r.train_loss)).collect();
    let test_loss: Vec<Option<f64>> = rows.iter().map(|r| r.test_loss).collect();
    let train_acc: Vec<Option<f64>> = rows.iter().map(|r| Some(r.train_acc)).collect();
    let test_acc: Vec<Option<f64>> = rows.iter().map(|r| r.test_acc).collect();
    let has_test = rows
        .iter()
        .any(|r| finite(r.test_loss).is_some() || finite(r.test_acc).is_some());

    let x_axis = epoch_axis(&epochs);

    let loss_values: Vec<f64> = train_loss
        .iter()
        .chain(&test_loss)
        .filter_map(|v| finite(*v))
        .collect();
    let loss_axis = value_axis(&loss_values);
    let percent = train_acc
        .iter()
        .chain(&test_acc)
        .filter_map(|v| finite(*v))
        .any(|v| v > 1.0 + 1e-9);
    let acc_axis = if percent {
        Axis::fixed(0.0, 100.0, 20.0)
    } else {
        Axis::fixed(0.0, 1.0, 0.2)
    };

    let panels = [
        (
            LOSS_AREA,
            "loss",
            loss_axis,
            [&train_loss, &test_loss],
            true,
        ),
        (
            ACC_AREA,
            if percent { "accuracy (%)" } else { "accuracy" },
            acc_axis,
            [&train_acc, &test_acc],
            false,
        ),
    ];
    for (area, name, y_axis, [train, test], legend_top) in panels {
        canvas.panel(area, name, &x_axis, &y_axis);
        let plot = Plot {
            area,
            x: &x_axis,
            y: &y_axis,
        };
        canvas.series(&plot, &epochs, test, TEST);
        canvas.series(&plot, &epochs, train, TRAIN);
        canvas.legend(area, has_test, legend_top);
    }
    img
}

fn fit_title(title: &[char], max_width: i64) -> (i64, Vec<char>) {
    for scale in [3, 2] {
        if text_width(title.len(), scale) <= max_width {
            return (scale, title.to_vec());
        }
    }
    let keep = (max_width / 12).max(3) as usize - 2;
    let mut cut: Vec<char> = title[..keep.min(title.len())].to_vec();
    cut.extend(['.', '.']);
    (2, cut)
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    left: i64,
    top: i64,
    right: i64,
    bottom: i64,
}

/// An axis: its data range and tick positions.
#[derive(Debug, Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    decimals: usize,
}

impl Axis {
    fn fixed(lo: f64, hi: f64, step: f64) -> Axis {
        Axis {
            lo,
            hi,
            ticks: ticks(lo, hi, step),
            decimals: decimals(step),
        }
    }
}

/// 1, 2 or 5 times a power of ten, about `span / target`.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn decimals(step: f64) -> usize {
    if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    }
}

/// Epoch axis: integer ticks spanning the epochs (one epoch e is shown on e - 1 ..= e + 1).
fn epoch_axis(epochs: &[f64]) -> Axis {
    let (mut lo, mut hi) = min_max(epochs.iter().copied()).unwrap_or((0.0, 1.0));
    if hi - lo < 1.0 {
        lo = (lo - 1.0).max(0.0);
        hi = lo + 2.0;
    }
    let step = nice_step(hi - lo, 8.0).max(1.0).round();
    Axis {
        lo,
        hi,
        ticks: ticks(lo, hi, step),
        decimals: 0,
    }
}

/// Value axis: the data range widened to whole ticks, about 5 of them.
fn value_axis(values: &[f64]) -> Axis {
    let (mut lo, mut hi) = min_max(values.iter().copied()).unwrap_or((0.0, 1.0));
    if hi - lo < 1e-12 * hi.abs().max(1.0) {
        let pad = (hi.abs() * 0.1).max(0.1);
        lo -= pad;
        hi += pad;
    }
    let step = nice_step(hi - lo, 5.0);
    let lo = (lo / step + 1e-9).floor() * step;
    let hi = (hi / step - 1e-9).ceil() * step;
    Axis {
        lo,
        hi,
        ticks: ticks(lo, hi, step),
        decimals: decimals(step),
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A panel's mapping from data to pixels. Data points keep 8 px clear of the axes.
struct Plot<'a> {
    area: Rect,
    x: &'a Axis,
    y: &'a Axis,
}

const INSET: f64 = 8.0;

impl Plot<'_> {
    fn px(&self, x: f64) -> f64 {
        let (l, r) = (
            self.area.left as f64 + INSET,
            self.area.right as f64 - INSET,
        );
        l + (x - self.x.lo) / (self.x.hi - self.x.lo) * (r - l)
    }

    fn py(&self, y: f64) -> f64 {
        let (t, b) = (self.area.top as f64, self.area.bottom as f64);
        b - (y - self.y.lo) / (self.y.hi - self.y.lo) * (b - t)
    }
}

struct Canvas<'a> {
    img: &'a mut RgbImage,
}

impl Canvas<'_> {
    fn put(&mut self, x: i64, y: i64, c: Rgb<u8>) {
        if x >= 0 && y >= 0 && x < self.img.width() as i64 && y < self.img.height() as i64 {
            self.img.put_pixel(x as u32, y as u32, c);
        }
    }

    fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb<u8>) {
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.put(x, y, c);
            }
        }
    }

    /// A line `t` pixels thick (a t × t square stamped along it).
    fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, t: i64, c: Rgb<u8>) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as i64;
        for i in 0..=steps {
            let f = i as f64 / steps as f64;
            let x = (x0 + (x1 - x0) * f).round() as i64 - t / 2;
            let y = (y0 + (y1 - y0) * f).round() as i64 - t / 2;
            self.fill(x, y, x + t - 1, y + t - 1, c);
        }
    }

    fn text(&mut self, s: &[char], x: i64, y: i64, scale: i64, c: Rgb<u8>) {
        for (i, &ch) in s.iter().enumerate() {
            let rows = glyph(ch);
            let ox = x + i as i64 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let px = ox + col * scale;
                        let py = y + r as i64 * scale;
                        self.fill(px, py, px + scale - 1, py + scale - 1, c);
                    }
                }
            }
        }
    }

    fn str(&mut self, s: &str, x: i64, y: i64, scale: i64, c: Rgb<u8>) {
        let chars: Vec<char> = s.chars().collect();
        self.text(&chars, x, y, scale, c);
    }

    /// Grid, frame, ticks, tick labels, panel name and the x axis's name.
    fn panel(&mut self, a: Rect, name: &str, x: &Axis, y: &Axis) {
        let plot = Plot { area: a, x, y };
        for &v in &y.ticks {
            let py = plot.py(v).round() as i64;
            self.fill(a.left + 1, py, a.right - 1, py, GRID);
            self.fill(a.left - 6, py, a.left, py, INK);
            let label = format!("{v:.*}", y.decimals);
            let w = text_width(label.chars().count(), 2);
            self.str(&label, a.left - 10 - w, py - 7, 2, INK);
        }
        for &v in &x.ticks {
            let px = plot.px(v).round() as i64;
            self.fill(px, a.bottom, px, a.bottom + 6, INK);
            let label = format!("{v:.0}");
            let w = text_width(label.chars().count(), 2);
            self.str(&label, px - w / 2, a.bottom + 12, 2, INK);
        }
        // Frame: axes in ink on the left and bottom, light on top and right.
        self.fill(a.left, a.top, a.right, a.top, FRAME);
        self.fill(a.right, a.top, a.right, a.bottom, FRAME);
        self.fill(a.left - 1, a.top, a.left, a.bottom, INK);
        self.fill(a.left, a.bottom, a.right, a.bottom + 1, INK);

        let w = text_width(name.chars().count(), 2);
        self.str(name, (a.left + a.right) / 2 - w / 2, a.top - 24, 2, INK);
        let w = text_width(5, 2);
        self.str(
            "epoch",
            (a.left + a.right) / 2 - w / 2,
            a.bottom + 36,
            2,
            INK,
        );
    }

    /// A curve: segments between consecutive finite points, a square marker at each.
    fn series(&mut self, plot: &Plot, xs: &[f64], ys: &[Option<f64>], c: Rgb<u8>) {
        let points: Vec<Option<(f64, f64)>> = xs
            .iter()
            .zip(ys)
            .map(|(&x, &y)| finite(y).map(|y| (plot.px(x), plot.py(y))))
            .collect();
        for pair in points.windows(2) {
            if let [Some((x0, y0)), Some((x1, y1))] = *pair {
                self.line(x0, y0, x1, y1, 2, c);
            }
        }
        let marker = if xs.len() > 60 { 1 } else { 3 };
        for &(x, y) in points.iter().flatten() {
            let (x, y) = (x.round() as i64, y.round() as i64);
            self.fill(x - marker, y - marker, x + marker, y + marker, c);
        }
    }

    /// "train" (and "test") keys in a white box, top right (loss) or bottom right (accuracy),
    /// where the curves usually are not.
    fn legend(&mut self, a: Rect, has_test: bool, top: bool) {
        let entries: &[(&str, Rgb<u8>)] = if has_test {
            &[("train", TRAIN), ("test", TEST)]
        } else {
            &[("train", TRAIN)]
        };
        let r = legend_rect(a, entries.len(), top);
        let (x0, y0, w, h) = (r.left, r.top, r.right - r.left, r.bottom - r.top);
        self.fill(x0, y0, x0 + w, y0 + h, BACKGROUND);
        self.fill(x0, y0, x0 + w, y0, FRAME);
        self.fill(x0, y0 + h, x0 + w, y0 + h, FRAME);
        self.fill(x0, y0, x0, y0 + h, FRAME);
        self.fill(x0 + w, y0, x0 + w, y0 + h, FRAME);
        for (i, &(label, c)) in entries.iter().enumerate() {
            let cy = y0 + 17 + 22 * i as i64;
            self.fill(x0 + 10, cy - 1, x0 + 40, cy, c);
            self.fill(x0 + 22, cy - 3, x0 + 28, cy + 3, c);
            self.str(label, x0 + 52, cy - 7, 2, INK);
        }
    }
}

fn legend_rect(a: Rect, entries: usize, top: bool) -> Rect {
    let (w, h) = (120, 12 + 22 * entries as i64);
    let left = a.right - 12 - w;
    let top = if top { a.top + 12 } else { a.bottom - 12 - h };
    Rect {
        left,
        top,
        right: left + w,
        bottom: top + h,
    }
}

fn text_width(chars: usize, scale: i64) -> i64 {
    if chars == 0 {
        0
    } else {
        chars as i64 * 6 * scale - scale
    }
}

/// 5 × 7 glyphs for printable ASCII (' ' ..= '~'); row-major, bit 4 is the leftmost column.
const FONT: [[u8; 7]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // ' '
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04], // !
    [0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00], // "
    [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A], // #
    [0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04], // $
    [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03], // %
    [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D], // &
    [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00], // '
    [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], // (
    [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], // )
    [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00], // *
    [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00], // +
    [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08], // ,
    [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00], // -
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C], // .
    [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00], // /
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], // 0
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E], // 1
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], // 2
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E], // 3
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], // 4
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E], // 5
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], // 6
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08], // 7
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], // 8
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C], // 9
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00], // :
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08], // ;
    [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02], // <
    [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00], // =
    [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08], // >
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04], // ?
    [0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E], // @
    [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11], // A
    [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E], // B
    [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], // C
    [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C], // D
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], // E
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10], // F
    [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], // G
    [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], // H
    [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], // I
    [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C], // J
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], // K
    [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F], // L
    [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], // M
    [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11], // N
    [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], // O
    [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10], // P
    [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], // Q
    [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11], // R
    [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], // S
    [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], // T
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], // U
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04], // V
    [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], // W
    [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11], // X
    [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], // Y
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F], // Z
    [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E], // [
    [0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00], // backslash
    [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E], // ]
    [0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00], // ^
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F], // _
    [0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00], // `
    [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F], // a
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E], // b
    [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E], // c
    [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F], // d
    [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E], // e
    [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08], // f
    [0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E], // g
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11], // h
    [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E], // i
    [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C], // j
    [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12], // k
    [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], // l
    [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11], // m
    [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11], // n
    [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E], // o
    [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10], // p
    [0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01], // q
    [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10], // r
    [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E], // s
    [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06], // t
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D], // u
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04], // v
    [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A], // w
    [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11], // x
    [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E], // y
    [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F], // z
    [0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02], // {
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], // |
    [0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08], // }
    [0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00], // ~
];

/// Letters with descenders, 9 rows: the baseline is under row 6 as for every glyph.
const DESCENDERS: [(char, [u8; 9]); 5] = [
    ('g', [0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E]),
    ('j', [0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C]),
    ('p', [0x00, 0x00, 0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10]),
    ('q', [0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01]),
    ('y', [0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E]),
];

const UNKNOWN: [u8; 7] = [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F];

/// The rows of `c`'s glyph, top first: 7, or 9 for letters with descenders.
fn glyph(c: char) -> &'static [u8] {
    if let Some((_, rows)) = DESCENDERS.iter().find(|(d, _)| *d == c) {
        return rows;
    }
    match c {
        ' '..='~' => &FONT[c as usize - ' ' as usize],
        _ => &UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mobilenet-plot-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn rows(n: usize, with_test: bool) -> Vec<PlotRow> {
        (1..=n)
            .map(|e| {
                let t = e as f64;
                PlotRow {
                    epoch: e,
                    train_loss: 2.3 / (1.0 + 0.3 * t),
                    train_acc: 1.0 - 0.9 / (1.0 + 0.2 * t),
                    test_loss: with_test.then(|| 2.4 / (1.0 + 0.25 * t) + 0.05),
                    test_acc: with_test.then(|| 0.95 - 0.9 / (1.0 + 0.15 * t)),
                }
            })
            .collect()
    }

    /// Pixels of colour `c` strictly inside `a` (not on the frame), outside `skip`.
    fn count(img: &RgbImage, a: Rect, skip: Rect, c: Rgb<u8>) -> usize {
        let mut n = 0;
        for y in a.top + 2..a.bottom - 1 {
            for x in a.left + 2..a.right - 1 {
                let in_skip =
                    x >= skip.left && x <= skip.right && y >= skip.top && y <= skip.bottom;
                if !in_skip && *img.get_pixel(x as u32, y as u32) == c {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn writes_png_with_curves_in_both_panels() {
        let dir = temp_dir("curves");
        for n in [1, 3, 50] {
            for with_test in [false, true] {
                let path = dir.join(format!("curves_{n}_{with_test}.png"));
                let title = format!("CIFAR-10 MobileNet a=0.25, {n} epochs");
                plot_curves(&rows(n, with_test), &title, &path).unwrap();
                let img = ::image::open(&path).unwrap().to_rgb8();
                assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
                for (area, top) in [(LOSS_AREA, true), (ACC_AREA, false)] {
                    // Curve pixels outside the legend: one 7 × 7 marker at least.
                    let legend = legend_rect(area, 1 + with_test as usize, top);
                    let train = count(&img, area, legend, TRAIN);
                    let test = count(&img, area, legend, TEST);
                    assert!(train >= 49, "n {n}: {train} train pixels");
                    if n > 1 {
                        assert!(train > 200, "n {n}: {train} train pixels");
                    }
                    if with_test {
                        assert!(test >= 49, "n {n}: {test} test pixels");
                    } else {
                        assert_eq!(test, 0, "n {n}: test pixels without test values");
                    }
                }
                // No temporary file is left behind.
                let left: Vec<_> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|f| f.ends_with(".tmp"))
                    .collect();
                assert!(left.is_empty(), "{left:?}");
            }
        }
        if std::env::var_os("MOBILENET_KEEP_PLOTS").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn odd_inputs_still_plot() {
        let dir = temp_dir("odd");
        let path = dir.join("odd.png");
        // Empty, non-finite values, percent accuracies, a gap in the test values, a long
        // non-ASCII title: none is an error.
        plot_curves(&[], "", &path).unwrap();
        let mut r = rows(4, true);
        r[1].train_loss = f64::NAN;
        r[2].test_loss = None;
        r[3].test_acc = Some(f64::INFINITY);
        for row in &mut r {
            row.train_acc *= 100.0;
        }
        plot_curves(&r, &"α ".repeat(200), &path).unwrap();
        let img = ::image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritable_path_is_an_io_error() {
        let dir = temp_dir("err");
        let path = dir.join("missing").join("x.png");
        let err = plot_curves(&rows(2, false), "t", &path).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn axes_are_nice() {
        let a = value_axis(&[0.43, 2.31]);
        assert_eq!((a.lo, a.hi), (0.0, 2.5));
        assert_eq!(a.decimals, 1);
        let e = epoch_axis(&[1.0]);
        assert_eq!(
            (e.lo, e.hi, e.ticks.clone()),
            (0.0, 2.0, vec![0.0, 1.0, 2.0])
        );
        let e = epoch_axis(&(1..=50).map(f64::from).collect::<Vec<_>>());
        assert_eq!(e.ticks.first(), Some(&10.0));
        assert_eq!(e.ticks.last(), Some(&50.0));
    }
}
