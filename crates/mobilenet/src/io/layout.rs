//! Layout transforms between other frameworks' weight layouts and ours. Pure functions.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ohwi_hwio_round_trip() {
        let data: Vec<f32> = (0..2 * 9 * 3).map(|i| i as f32).collect();
        let hwio = ohwi_to_hwio(2, 27, &data);
        // element (o=1, h=0, w=0, i=2) sits at OHWI index 1*27 + 2 and HWIO index 2*2 + 1.
        assert_eq!(hwio[2 * 2 + 1], data[27 + 2]);
        assert_eq!(hwio_to_ohwi(27, 2, &hwio), data);
    }
}
