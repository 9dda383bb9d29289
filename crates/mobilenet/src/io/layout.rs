//! Layout transforms between other frameworks' weight layouts and ours. Pure functions.

use super::names::{TfLayout, TorchLayout};

/// Transposes a row-major (rows, cols) matrix into (cols, rows).
pub fn transpose(rows: usize, cols: usize, data: &[f32]) -> Vec<f32> {
    assert_eq!(data.len(), rows * cols, "transpose: len");
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// OHWI (TFLite CONV_2D, (Cout, KH, KW, Cin)) → HWIO (ours, (KH, KW, Cin, Cout)).
pub fn ohwi_to_hwio(o: usize, hwi: usize, data: &[f32]) -> Vec<f32> {
    transpose(o, hwi, data)
}

/// HWIO → OHWI, the inverse of [`ohwi_to_hwio`].
pub fn hwio_to_ohwi(hwi: usize, o: usize, data: &[f32]) -> Vec<f32> {
    transpose(hwi, o, data)
}

/// TFLite 1×1 CONV_2D (Cout, 1, 1, Cin) or FULLY_CONNECTED (Cout, Cin) → ours (Cin, Cout).
pub fn oi_to_io(o: usize, i: usize, data: &[f32]) -> Vec<f32> {
    transpose(o, i, data)
}

/// Ours (Cin, Cout) → TFLite (Cout, Cin), the inverse of [`oi_to_io`].
pub fn io_to_oi(i: usize, o: usize, data: &[f32]) -> Vec<f32> {
    transpose(i, o, data)
}

/// OIHW (ONNX and PyTorch convolutions, (Cout, Cin, KH, KW)) → HWIO (ours, (KH, KW, Cin, Cout)).
pub fn oihw_to_hwio(o: usize, i: usize, kh: usize, kw: usize, data: &[f32]) -> Vec<f32> {
    // (O, I·KH·KW) → (I·KH·KW, O) is (I, KH, KW, O); then move I inside the kernel window.
    let ihwo = transpose(o, i * kh * kw, data);
    let mut out = vec![0.0; data.len()];
    for ci in 0..i {
        for k in 0..kh * kw {
            let src = (ci * kh * kw + k) * o;
            let dst = (k * i + ci) * o;
            out[dst..dst + o].copy_from_slice(&ihwo[src..src + o]);
        }
    }
    out
}

/// HWIO → OIHW, the inverse of [`oihw_to_hwio`].
pub fn hwio_to_oihw(kh: usize, kw: usize, i: usize, o: usize, data: &[f32]) -> Vec<f32> {
    assert_eq!(data.len(), kh * kw * i * o, "hwio_to_oihw: len");
    let mut ihwo = vec![0.0; data.len()];
    for ci in 0..i {
        for k in 0..kh * kw {
            let src = (k * i + ci) * o;
            let dst = (ci * kh * kw + k) * o;
            ihwo[dst..dst + o].copy_from_slice(&data[src..src + o]);
        }
    }
    transpose(i * kh * kw, o, &ihwo)
}

/// ONNX / PyTorch depthwise kernel (C, 1, KH, KW) → ours (KH, KW, C).
pub fn c1hw_to_hwc(c: usize, khw: usize, data: &[f32]) -> Vec<f32> {
    transpose(c, khw, data)
}

/// Ours (KH, KW, C) → ONNX / PyTorch depthwise (C, 1, KH, KW), the inverse of [`c1hw_to_hwc`].
pub fn hwc_to_c1hw(khw: usize, c: usize, data: &[f32]) -> Vec<f32> {
    transpose(khw, c, data)
}

/// Shape of a TFLite DEPTHWISE_CONV_2D kernel (1, KH, KW, C) in ours (KH, KW, C). The bytes are
/// the same (the unit axis is outermost), so only the shape changes. `None` if not that form.
pub fn tflite_depthwise_shape(shape: &[usize]) -> Option<Vec<usize>> {
    match *shape {
        [1, kh, kw, c] => Some(vec![kh, kw, c]),
        _ => None,
    }
}

/// Ours (KH, KW, C) → TFLite depthwise (1, KH, KW, C), the inverse of [`tflite_depthwise_shape`].
pub fn depthwise_to_tflite_shape(shape: &[usize]) -> Option<Vec<usize>> {
    match *shape {
        [kh, kw, c] => Some(vec![1, kh, kw, c]),
        _ => None,
    }
}

/// Shape of a TF-Slim tensor in ours. TF stores HWIO like us, so the bytes never move: a
/// depthwise kernel (KH, KW, C, 1) loses its trailing unit axis and a 1×1 kernel
/// (1, 1, Cin, Cout) its two leading ones. `None` if the shape is not of the stated form.
pub fn tf_slim_shape(layout: TfLayout, shape: &[usize]) -> Option<Vec<usize>> {
    match (layout, shape) {
        (TfLayout::Same, s) => Some(s.to_vec()),
        (TfLayout::Depthwise, &[kh, kw, c, 1]) => Some(vec![kh, kw, c]),
        (TfLayout::Conv1x1, &[1, 1, i, o]) => Some(vec![i, o]),
        _ => None,
    }
}

/// Ours → TF-Slim shape, the inverse of [`tf_slim_shape`].
pub fn to_tf_slim_shape(layout: TfLayout, shape: &[usize]) -> Option<Vec<usize>> {
    match (layout, shape) {
        (TfLayout::Same, s) => Some(s.to_vec()),
        (TfLayout::Depthwise, &[kh, kw, c]) => Some(vec![kh, kw, c, 1]),
        (TfLayout::Conv1x1, &[i, o]) => Some(vec![1, 1, i, o]),
        _ => None,
    }
}

/// Shape in ours of a PyTorch tensor of shape `shape` in `layout`; `None` if not of that form.
pub fn torch_shape_to_ours(layout: TorchLayout, shape: &[usize]) -> Option<Vec<usize>> {
    match (layout, shape) {
        (TorchLayout::Conv, &[o, i, kh, kw]) => Some(vec![kh, kw, i, o]),
        (TorchLayout::Depthwise, &[c, 1, kh, kw]) => Some(vec![kh, kw, c]),
        (TorchLayout::Pointwise, &[o, i, 1, 1]) | (TorchLayout::Linear, &[o, i]) => {
            Some(vec![i, o])
        }
        (TorchLayout::Vector, &[c]) => Some(vec![c]),
        _ => None,
    }
}

/// PyTorch shape of our tensor of shape `shape` in `layout`; the inverse of
/// [`torch_shape_to_ours`].
pub fn ours_shape_to_torch(layout: TorchLayout, shape: &[usize]) -> Option<Vec<usize>> {
    match (layout, shape) {
        (TorchLayout::Conv, &[kh, kw, i, o]) => Some(vec![o, i, kh, kw]),
        (TorchLayout::Depthwise, &[kh, kw, c]) => Some(vec![c, 1, kh, kw]),
        (TorchLayout::Pointwise, &[i, o]) => Some(vec![o, i, 1, 1]),
        (TorchLayout::Linear, &[i, o]) => Some(vec![o, i]),
        (TorchLayout::Vector, &[c]) => Some(vec![c]),
        _ => None,
    }
}

/// A PyTorch tensor (shape, row-major data) in our layout; `None` if the shape is not of the
/// layout's form.
pub fn torch_to_ours(
    layout: TorchLayout,
    shape: &[usize],
    data: &[f32],
) -> Option<(Vec<usize>, Vec<f32>)> {
    let ours = torch_shape_to_ours(layout, shape)?;
    let data = match (layout, shape) {
        (TorchLayout::Conv, &[o, i, kh, kw]) => oihw_to_hwio(o, i, kh, kw, data),
        (TorchLayout::Depthwise, &[c, _, kh, kw]) => c1hw_to_hwc(c, kh * kw, data),
        (TorchLayout::Pointwise | TorchLayout::Linear, &[o, i, ..]) => oi_to_io(o, i, data),
        _ => data.to_vec(),
    };
    Some((ours, data))
}

/// Our tensor in PyTorch's layout; the inverse of [`torch_to_ours`].
pub fn ours_to_torch(
    layout: TorchLayout,
    shape: &[usize],
    data: &[f32],
) -> Option<(Vec<usize>, Vec<f32>)> {
    let theirs = ours_shape_to_torch(layout, shape)?;
    let data = match (layout, shape) {
        (TorchLayout::Conv, &[kh, kw, i, o]) => hwio_to_oihw(kh, kw, i, o, data),
        (TorchLayout::Depthwise, &[kh, kw, c]) => hwc_to_c1hw(kh * kw, c, data),
        (TorchLayout::Pointwise | TorchLayout::Linear, &[i, o]) => io_to_oi(i, o, data),
        _ => data.to_vec(),
    };
    Some((theirs, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_layouts_round_trip_and_place_elements() {
        let seq = |n: usize| (0..n).map(|v| v as f32).collect::<Vec<_>>();
        let cases: [(TorchLayout, Vec<usize>); 5] = [
            (TorchLayout::Conv, vec![4, 3, 3, 3]),
            (TorchLayout::Depthwise, vec![5, 1, 3, 3]),
            (TorchLayout::Pointwise, vec![6, 4, 1, 1]),
            (TorchLayout::Linear, vec![10, 7]),
            (TorchLayout::Vector, vec![9]),
        ];
        for (layout, shape) in cases {
            let data = seq(shape.iter().product());
            let (ours, d) = torch_to_ours(layout, &shape, &data).unwrap();
            let (back, b) = ours_to_torch(layout, &ours, &d).unwrap();
            assert_eq!((back, b), (shape.clone(), data.clone()), "{layout:?}");
        }
        // Element placement: PyTorch w[o][i][y][x] is our w[y][x][i][o].
        let (o, i) = (4, 3);
        let data = seq(o * i * 9);
        let (_, d) = torch_to_ours(TorchLayout::Conv, &[o, i, 3, 3], &data).unwrap();
        let (oo, ii, y, x) = (2, 1, 0, 2);
        assert_eq!(
            d[((y * 3 + x) * i + ii) * o + oo],
            data[((oo * i + ii) * 3 + y) * 3 + x]
        );
        // Depthwise w[c][0][y][x] is our w[y][x][c]; pointwise w[o][i] is our w[i][o].
        let data = seq(5 * 9);
        let (_, d) = torch_to_ours(TorchLayout::Depthwise, &[5, 1, 3, 3], &data).unwrap();
        assert_eq!(d[(3 + 2) * 5 + 4], data[4 * 9 + 3 + 2]);
        let data = seq(24);
        let (_, d) = torch_to_ours(TorchLayout::Pointwise, &[6, 4, 1, 1], &data).unwrap();
        assert_eq!(d[3 * 6 + 5], data[5 * 4 + 3]);
        assert!(torch_to_ours(TorchLayout::Depthwise, &[5, 2, 3, 3], &seq(90)).is_none());
        assert!(torch_to_ours(TorchLayout::Pointwise, &[6, 4, 3, 3], &seq(216)).is_none());
    }

    #[test]
    fn ohwi_hwio_round_trip() {
        let data: Vec<f32> = (0..2 * 9 * 3).map(|i| i as f32).collect();
        let hwio = ohwi_to_hwio(2, 27, &data);
        // element (o=1, h=0, w=0, i=2) sits at OHWI index 1*27 + 2 and HWIO index 2*2 + 1.
        assert_eq!(hwio[2 * 2 + 1], data[27 + 2]);
        assert_eq!(hwio_to_ohwi(27, 2, &hwio), data);
    }

    #[test]
    fn oihw_hwio_round_trip() {
        let (o, i, kh, kw) = (4, 3, 3, 2);
        let data: Vec<f32> = (0..o * i * kh * kw).map(|v| v as f32).collect();
        let hwio = oihw_to_hwio(o, i, kh, kw, &data);
        // element (o=3, i=1, h=2, w=1) sits at OIHW ((3·3 + 1)·3 + 2)·2 + 1 and at HWIO
        // ((2·2 + 1)·3 + 1)·4 + 3.
        assert_eq!(
            hwio[((2 * 2 + 1) * 3 + 1) * 4 + 3],
            data[((3 * 3 + 1) * 3 + 2) * 2 + 1]
        );
        assert_eq!(hwio_to_oihw(kh, kw, i, o, &hwio), data);
    }

    #[test]
    fn depthwise_c1hw_round_trip() {
        let data: Vec<f32> = (0..5 * 9).map(|v| v as f32).collect();
        let hwc = c1hw_to_hwc(5, 9, &data);
        // channel 4, tap 7.
        assert_eq!(hwc[7 * 5 + 4], data[4 * 9 + 7]);
        assert_eq!(hwc_to_c1hw(9, 5, &hwc), data);
    }

    #[test]
    fn oi_io_round_trip() {
        // FC / 1×1 conv: (Cout = 3, Cin = 4).
        let data: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let io = oi_to_io(3, 4, &data);
        // element (o=2, i=1) sits at OI index 2*4 + 1 and IO index 1*3 + 2.
        assert_eq!(io[3 + 2], data[2 * 4 + 1]);
        assert_eq!(io_to_oi(4, 3, &io), data);
    }

    #[test]
    fn depthwise_shapes_round_trip() {
        assert_eq!(tflite_depthwise_shape(&[1, 3, 3, 8]), Some(vec![3, 3, 8]));
        assert_eq!(tflite_depthwise_shape(&[2, 3, 3, 8]), None);
        assert_eq!(
            depthwise_to_tflite_shape(&[3, 3, 8]),
            Some(vec![1, 3, 3, 8])
        );
        assert_eq!(depthwise_to_tflite_shape(&[3, 3, 8, 1]), None);
    }

    #[test]
    fn tf_slim_shapes_round_trip() {
        let cases: [(TfLayout, &[usize], &[usize]); 4] = [
            (TfLayout::Same, &[3, 3, 3, 32], &[3, 3, 3, 32]),
            (TfLayout::Same, &[32], &[32]),
            (TfLayout::Depthwise, &[3, 3, 32, 1], &[3, 3, 32]),
            (TfLayout::Conv1x1, &[1, 1, 32, 64], &[32, 64]),
        ];
        for (layout, tf, ours) in cases {
            assert_eq!(tf_slim_shape(layout, tf).as_deref(), Some(ours));
            assert_eq!(to_tf_slim_shape(layout, ours).as_deref(), Some(tf));
        }
        assert_eq!(tf_slim_shape(TfLayout::Depthwise, &[3, 3, 32, 2]), None);
        assert_eq!(tf_slim_shape(TfLayout::Conv1x1, &[3, 3, 32, 64]), None);
    }
}
