//! Geometry of a 3×3 convolution: input size, stride and explicit padding, and the output size
//! that follows. Also the clamp epilogue that every kernel applies to its output.
//!
//! Padding is explicit `(top, left, bottom, right)`: PyTorch pads 1 on every side; TensorFlow
//! "SAME" pads `max(0, (out-1)·s + 3 - in)` in total with the odd pixel at the bottom/right, so
//! at stride 2 on an even input it pads bottom/right only.

use std::ops::Range;

/// Zero padding on each side of the input, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding4 {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Padding4 {
    /// The same padding on every side (PyTorch `padding=p`).
    pub const fn symmetric(p: usize) -> Self {
        Padding4 {
            top: p,
            left: p,
            bottom: p,
            right: p,
        }
    }

    /// TensorFlow "SAME" padding for a 3×3 kernel: output is `ceil(in / stride)`; the total
    /// padding is split with the extra pixel at the bottom/right.
    pub fn tf_same(in_h: usize, in_w: usize, stride: usize) -> Self {
        let total = |n: usize| {
            let out = n.div_ceil(stride);
            // Saturating: an empty input (n = 0, which `validate` rejects) must not underflow.
            (out.saturating_sub(1) * stride + 3).saturating_sub(n)
        };
        let (th, tw) = (total(in_h), total(in_w));
        Padding4 {
            top: th / 2,
            left: tw / 2,
            bottom: th - th / 2,
            right: tw - tw / 2,
        }
    }
}

/// Spatial geometry of one 3×3 convolution (kernel size is fixed at 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub in_h: usize,
    pub in_w: usize,
    pub stride: usize,
    pub pad: Padding4,
}

impl Conv2dGeometry {
    pub const K: usize = 3;

    pub fn out_h(&self) -> usize {
        (self.in_h + self.pad.top + self.pad.bottom - Self::K) / self.stride + 1
    }

    pub fn out_w(&self) -> usize {
        (self.in_w + self.pad.left + self.pad.right - Self::K) / self.stride + 1
    }

    /// The output columns whose three horizontal taps all lie inside the image (an empty range
    /// at `ox_lo` when there are none): kernels run these without border checks.
    pub fn interior_cols(&self) -> Range<usize> {
        let ow = self.out_w();
        let lo = self.pad.left.div_ceil(self.stride).min(ow);
        let hi = match (self.in_w + self.pad.left).checked_sub(Self::K) {
            Some(span) => (span / self.stride + 1).min(ow).max(lo),
            None => lo,
        };
        lo..hi
    }

    /// Checks the preconditions every kernel relies on.
    pub fn validate(&self) {
        assert!(self.stride >= 1, "conv geometry: stride must be >= 1");
        assert!(
            self.in_h + self.pad.top + self.pad.bottom >= Self::K
                && self.in_w + self.pad.left + self.pad.right >= Self::K,
            "conv geometry: padded input {}x{} smaller than the 3x3 kernel",
            self.in_h,
            self.in_w
        );
        assert!(
            self.pad.top < Self::K && self.pad.left < Self::K,
            "conv geometry: pad >= 3"
        );
    }
}

/// Depthwise 3×3 convolution over `c` channels (one filter per channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DwArgs {
    pub geom: Conv2dGeometry,
    pub c: usize,
}

/// Dense 3×3 convolution `cin → cout` (the stem, and the full-convolution variant's blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvArgs {
    pub geom: Conv2dGeometry,
    pub cin: usize,
    pub cout: usize,
}

impl DwArgs {
    /// Asserts the slice lengths every `dwconv3x3` kernel relies on:
    /// x: (H, W, C), w: (3, 3, C), b: (C), y: (rows.len(), OW, C).
    pub fn check(&self, x: usize, w: usize, b: usize, rows: &Range<usize>, y: usize) {
        check_slices(
            "dwconv3x3",
            &self.geom,
            [self.c, 9 * self.c, self.c],
            [x, w, b],
            rows,
            y,
        );
    }
}

impl ConvArgs {
    /// Asserts the slice lengths every `conv3x3` kernel relies on:
    /// x: (H, W, Cin), w: (3, 3, Cin, Cout), b: (Cout), y: (rows.len(), OW, Cout).
    pub fn check(&self, x: usize, w: usize, b: usize, rows: &Range<usize>, y: usize) {
        let want = [self.cin, 9 * self.cin * self.cout, self.cout];
        check_slices("conv3x3", &self.geom, want, [x, w, b], rows, y);
    }
}

impl DwArgs {
    /// Asserts the slice lengths of `dwconv3x3` input-gradient kernels:
    /// dy: (OH, OW, C), w: (3, 3, C), dx: (rows.len(), W, C).
    pub fn check_backward_input(&self, dy: usize, w: usize, rows: &Range<usize>, dx: usize) {
        check_backward(
            "dwconv3x3 backward_input",
            &self.geom,
            [self.c, 9 * self.c, self.c],
            [dy, w],
            rows,
            dx,
        );
    }

    /// Asserts the slice lengths of `dwconv3x3` filter-gradient kernels:
    /// x: (H, W, C), dy: (OH, OW, C), output rows `rows`, dw: (3, 3, C).
    pub fn check_backward_filter(&self, x: usize, dy: usize, rows: &Range<usize>, dw: usize) {
        check_filter(
            "dwconv3x3 backward_filter",
            &self.geom,
            [self.c, 9 * self.c, self.c],
            [x, dy],
            rows,
            dw,
        );
    }
}

impl ConvArgs {
    /// Asserts the slice lengths of `conv3x3` input-gradient kernels:
    /// dy: (OH, OW, Cout), w: (3, 3, Cin, Cout), dx: (rows.len(), W, Cin).
    pub fn check_backward_input(&self, dy: usize, w: usize, rows: &Range<usize>, dx: usize) {
        let want = [self.cin, 9 * self.cin * self.cout, self.cout];
        check_backward(
            "conv3x3 backward_input",
            &self.geom,
            want,
            [dy, w],
            rows,
            dx,
        );
    }

    /// Asserts the slice lengths of `conv3x3` filter-gradient kernels:
    /// x: (H, W, Cin), dy: (OH, OW, Cout), output rows `rows`, dw: (3, 3, Cin, Cout).
    pub fn check_backward_filter(&self, x: usize, dy: usize, rows: &Range<usize>, dw: usize) {
        let want = [self.cin, 9 * self.cin * self.cout, self.cout];
        check_filter(
            "conv3x3 backward_filter",
            &self.geom,
            want,
            [x, dy],
            rows,
            dw,
        );
    }
}

fn check_backward(
    op: &str,
    g: &Conv2dGeometry,
    [cin, w_len, cout]: [usize; 3],
    [dy, w]: [usize; 2],
    rows: &Range<usize>,
    dx: usize,
) {
    g.validate();
    assert_eq!(dy, g.out_h() * g.out_w() * cout, "{op}: dy len");
    assert_eq!(w, w_len, "{op}: w len");
    assert!(
        rows.start <= rows.end && rows.end <= g.in_h,
        "{op}: rows {rows:?} beyond {} input rows",
        g.in_h
    );
    assert_eq!(dx, rows.len() * g.in_w * cin, "{op}: dx len");
}

fn check_filter(
    op: &str,
    g: &Conv2dGeometry,
    [cin, w_len, cout]: [usize; 3],
    [x, dy]: [usize; 2],
    rows: &Range<usize>,
    dw: usize,
) {
    g.validate();
    assert_eq!(x, g.in_h * g.in_w * cin, "{op}: x len");
    assert_eq!(dy, g.out_h() * g.out_w() * cout, "{op}: dy len");
    assert!(
        rows.start <= rows.end && rows.end <= g.out_h(),
        "{op}: rows {rows:?} beyond {} output rows",
        g.out_h()
    );
    assert_eq!(dw, w_len, "{op}: dw len");
}

/// `[cin, w, cout]`: input channels, weight length and output channels the kernel expects.
fn check_slices(
    op: &str,
    g: &Conv2dGeometry,
    [cin, w_len, cout]: [usize; 3],
    [x, w, b]: [usize; 3],
    rows: &Range<usize>,
    y: usize,
) {
    g.validate();
    let (oh, ow) = (g.out_h(), g.out_w());
    assert_eq!(x, g.in_h * g.in_w * cin, "{op}: x len");
    assert_eq!(w, w_len, "{op}: w len");
    assert_eq!(b, cout, "{op}: b len");
    assert!(
        rows.start <= rows.end && rows.end <= oh,
        "{op}: rows {rows:?} beyond {oh} output rows"
    );
    assert_eq!(y, rows.len() * ow * cout, "{op}: y len");
}

/// Output clamp fused into a kernel: `y = min(max(y, lo), hi)`.
/// ReLU is `[0, +inf)`, ReLU6 `[0, 6]`, no activation `(-inf, +inf)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clamp {
    pub lo: f32,
    pub hi: f32,
}

impl Clamp {
    pub const NONE: Clamp = Clamp {
        lo: f32::NEG_INFINITY,
        hi: f32::INFINITY,
    };
    pub const RELU: Clamp = Clamp {
        lo: 0.0,
        hi: f32::INFINITY,
    };
    pub const RELU6: Clamp = Clamp { lo: 0.0, hi: 6.0 };

    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        v.max(self.lo).min(self.hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_same_pads_bottom_right_only_at_stride_2_on_even_input() {
        assert_eq!(
            Padding4::tf_same(224, 224, 2),
            Padding4 {
                top: 0,
                left: 0,
                bottom: 1,
                right: 1
            }
        );
        assert_eq!(Padding4::tf_same(7, 7, 2), Padding4::symmetric(1));
        assert_eq!(Padding4::tf_same(14, 14, 1), Padding4::symmetric(1));
    }

    #[test]
    fn output_sizes_match_table_1() {
        let g = Conv2dGeometry {
            in_h: 224,
            in_w: 224,
            stride: 2,
            pad: Padding4::symmetric(1),
        };
        assert_eq!((g.out_h(), g.out_w()), (112, 112));
        let g = Conv2dGeometry {
            in_h: 224,
            in_w: 224,
            stride: 2,
            pad: Padding4::tf_same(224, 224, 2),
        };
        assert_eq!((g.out_h(), g.out_w()), (112, 112));
        let g = Conv2dGeometry {
            in_h: 7,
            in_w: 7,
            stride: 1,
            pad: Padding4::symmetric(1),
        };
        assert_eq!(g.out_h(), 7);
    }
}
