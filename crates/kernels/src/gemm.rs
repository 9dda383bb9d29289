//! The one wrapper around the GEMM crate (`gemm` 0.19, built with `x86-v4` so its AVX-512
//! kernels are compiled in and picked at run time).
//!
//! The crate computes `dst := alpha·dst + beta·lhs·rhs` (alpha/beta reversed from BLAS) with
//! `(m, n, k)` sizes and `(col_stride, row_stride)` pairs. Everything here is row-major.

use std::marker::PhantomData;

/// A read-only view of a matrix with unit column stride: element (i, j) is at
/// `ptr + i·row_stride + j`. Built from a slice (bounds checked once), split into sub-views.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    ptr: *const f32,
    rows: usize,
    cols: usize,
    row_stride: usize,
    _borrow: PhantomData<&'a [f32]>,
}

// SAFETY: a MatRef is a shared borrow of f32s, like `&[f32]`, which is Send and Sync.
unsafe impl Send for MatRef<'_> {}
// SAFETY: as above.
unsafe impl Sync for MatRef<'_> {}

impl<'a> MatRef<'a> {
    /// The row-major (rows, cols) matrix in `s`.
    pub fn new(s: &'a [f32], rows: usize, cols: usize) -> MatRef<'a> {
        assert_eq!(s.len(), rows * cols, "MatRef: slice len");
        MatRef {
            ptr: s.as_ptr(),
            rows,
            cols,
            row_stride: cols,
            _borrow: PhantomData,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Columns `[from, to)` (same rows).
    pub fn cols_range(self, from: usize, to: usize) -> MatRef<'a> {
        assert!(from <= to && to <= self.cols, "MatRef: cols {from}..{to}");
        MatRef {
            // SAFETY: `from <= cols`, so the offset stays within (or one past) row 0's elements.
            ptr: unsafe { self.ptr.add(from) },
            cols: to - from,
            ..self
        }
    }

    /// Rows `[from, to)` (same columns).
    pub fn rows_range(self, from: usize, to: usize) -> MatRef<'a> {
        assert!(from <= to && to <= self.rows, "MatRef: rows {from}..{to}");
        MatRef {
            // SAFETY: row `from <= rows` starts inside (or one past) the viewed elements.
            ptr: unsafe { self.ptr.add(from * self.row_stride) },
            rows: to - from,
            ..self
        }
    }
}

/// A mutable view of a matrix with unit column stride, like [`MatRef`]. Splitting gives
/// disjoint views that may be written from different threads (column blocks of one matrix are
/// interleaved in memory, which `&mut [f32]` cannot express).
#[derive(Debug)]
pub struct MatMut<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    row_stride: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

// SAFETY: a MatMut is an exclusive borrow of the f32s it views (views from `split_*` never
// overlap), like `&mut [f32]`, which is Send.
unsafe impl Send for MatMut<'_> {}

impl<'a> MatMut<'a> {
    /// The row-major (rows, cols) matrix in `s`.
    pub fn new(s: &'a mut [f32], rows: usize, cols: usize) -> MatMut<'a> {
        assert_eq!(s.len(), rows * cols, "MatMut: slice len");
        MatMut {
            ptr: s.as_mut_ptr(),
            rows,
            cols,
            row_stride: cols,
            _borrow: PhantomData,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Splits into columns `[0, at)` and `[at, cols)`.
    pub fn split_cols(self, at: usize) -> (MatMut<'a>, MatMut<'a>) {
        assert!(
            at <= self.cols,
            "MatMut: split at column {at} of {}",
            self.cols
        );
        let right = MatMut {
            // SAFETY: `at <= cols`: inside (or one past) row 0's elements.
            ptr: unsafe { self.ptr.add(at) },
            cols: self.cols - at,
            ..self
        };
        (MatMut { cols: at, ..self }, right)
    }

    /// Splits into rows `[0, at)` and `[at, rows)`.
    pub fn split_rows(self, at: usize) -> (MatMut<'a>, MatMut<'a>) {
        assert!(
            at <= self.rows,
            "MatMut: split at row {at} of {}",
            self.rows
        );
        let bottom = MatMut {
            // SAFETY: `at <= rows`: row `at` starts inside (or one past) the viewed elements.
            ptr: unsafe { self.ptr.add(at * self.row_stride) },
            rows: self.rows - at,
            ..self
        };
        (MatMut { rows: at, ..self }, bottom)
    }

    /// A shorter-lived view of the same elements (to pass on without giving this one up).
    pub fn reborrow(&mut self) -> MatMut<'_> {
        MatMut {
            ptr: self.ptr,
            rows: self.rows,
            cols: self.cols,
            row_stride: self.row_stride,
            _borrow: PhantomData,
        }
    }

    /// Row `i` of the view, `cols` elements.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        assert!(i < self.rows, "MatMut: row {i} of {}", self.rows);
        // SAFETY: row i of the view is `cols` elements of the borrowed matrix that no other
        // view addresses; the returned borrow is tied to `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.row_stride), self.cols) }
    }
}

/// Single-threaded `c = a · b` on row-major matrices: a: (M, K), b: (K, N), c: (M, N).
/// With `accumulate`, `c += a · b`.
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) {
    sgemm_view(
        MatRef::new(a, m, k),
        MatRef::new(b, k, n),
        MatMut::new(c, m, n),
        accumulate,
    );
}

/// Single-threaded `c = a · b` on strided views: a: (M, K), b: (K, N), c: (M, N).
/// With `accumulate`, `c += a · b`. Used with column blocks of `b` and `c` to split a short,
/// wide product over threads.
pub fn sgemm_view(a: MatRef<'_>, b: MatRef<'_>, mut c: MatMut<'_>, accumulate: bool) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    assert_eq!(a.rows, m, "sgemm: a rows");
    assert_eq!(b.rows, k, "sgemm: b rows");
    assert_eq!(b.cols, n, "sgemm: b cols");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c.row_mut(i).fill(0.0);
            }
        }
        return;
    }
    // SAFETY: each view was built from a slice holding all its (rows, cols) elements at the
    // recorded row stride with unit column stride (checked in `new`, preserved by splitting),
    // so every access gemm makes is in bounds; `c` is an exclusive borrow and cannot alias
    // `a` or `b`.
    unsafe {
        gemm::gemm(
            /* m = */ m,
            /* n = */ n,
            /* k = */ k,
            /* dst = */ c.ptr,
            /* dst_cs = */ 1,
            /* dst_rs = */ c.row_stride as isize,
            /* read_dst = */ accumulate,
            /* lhs = */ a.ptr,
            /* lhs_cs = */ 1,
            /* lhs_rs = */ a.row_stride as isize,
            /* rhs = */ b.ptr,
            /* rhs_cs = */ 1,
            /* rhs_rs = */ b.row_stride as isize,
            /* alpha = */ 1.0,
            /* beta = */ 1.0,
            /* conj_dst = */ false,
            /* conj_lhs = */ false,
            /* conj_rhs = */ false,
            gemm::Parallelism::None,
        );
    }
}

/// Single-threaded `c = a · bᵀ` (with `accumulate`, `c += a · bᵀ`): a: (M, K), b: (N, K),
/// c: (M, N), all row-major. The input gradient of a pointwise layer, `dX = dY · Wᵀ`.
pub fn sgemm_nt(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    assert_eq!(a.len(), m * k, "sgemm_nt: a len");
    assert_eq!(b.len(), n * k, "sgemm_nt: b len");
    assert_eq!(c.len(), m * n, "sgemm_nt: c len");
    // a is row-major (M, K); bᵀ is b read with row stride 1 and column stride K.
    // SAFETY: the lengths checked above cover every (i, kk) = i·K + kk of a, (kk, j) = j·K + kk
    // of b and (i, j) = i·N + j of c; `c` is an exclusive borrow.
    unsafe {
        raw(
            m,
            n,
            k,
            c.as_mut_ptr(),
            n,
            a.as_ptr(),
            [k as isize, 1],
            b.as_ptr(),
            [1, k as isize],
            accumulate,
        )
    }
}

/// Single-threaded `c = aᵀ · b` (with `accumulate`, `c += aᵀ · b`): a: (K, M), b: (K, N),
/// c: (M, N), all row-major. The weight gradient of a pointwise layer, `dW = Xᵀ · dY`.
pub fn sgemm_tn(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    assert_eq!(a.len(), k * m, "sgemm_tn: a len");
    assert_eq!(b.len(), k * n, "sgemm_tn: b len");
    assert_eq!(c.len(), m * n, "sgemm_tn: c len");
    // SAFETY: as in `sgemm_nt`: aᵀ (i, kk) = kk·M + i, b (kk, j) = kk·N + j, all in bounds.
    unsafe {
        raw(
            m,
            n,
            k,
            c.as_mut_ptr(),
            n,
            a.as_ptr(),
            [1, m as isize],
            b.as_ptr(),
            [n as isize, 1],
            accumulate,
        )
    }
}

/// Single-threaded `c = a[:, cols]ᵀ · b`: a: (K, M) row-major, b: (K, N), c: (cols.len(), N).
/// Rows `cols` of the weight gradient `aᵀ · b`, read in place from `a` (no copy).
pub fn sgemm_tn_cols(
    cols: std::ops::Range<usize>,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) {
    assert!(
        cols.start <= cols.end && cols.end <= m,
        "sgemm_tn_cols: cols"
    );
    assert_eq!(a.len(), k * m, "sgemm_tn_cols: a len");
    assert_eq!(b.len(), k * n, "sgemm_tn_cols: b len");
    let w = cols.len();
    assert_eq!(c.len(), w * n, "sgemm_tn_cols: c len");
    if w == 0 {
        return;
    }
    // SAFETY: element (i, kk) of the view is a[kk·M + cols.start + i] with i < w, kk < K: within
    // a's K·M elements since cols.end <= M; b and c as in `sgemm_tn`.
    unsafe {
        raw(
            w,
            n,
            k,
            c.as_mut_ptr(),
            n,
            a.as_ptr().add(cols.start),
            [1, m as isize],
            b.as_ptr(),
            [n as isize, 1],
            false,
        )
    }
}

/// `c (+)= lhs · rhs` with explicit `[row_stride, col_stride]` for lhs (M, K) and rhs (K, N);
/// c is row-major with row stride `c_rs`.
///
/// # Safety
/// Every element addressed by the sizes and strides must lie in its allocation, and `c` must
/// not alias `lhs` or `rhs`.
unsafe fn raw(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    c_rs: usize,
    lhs: *const f32,
    [lhs_rs, lhs_cs]: [isize; 2],
    rhs: *const f32,
    [rhs_rs, rhs_cs]: [isize; 2],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: row i of c holds n elements (caller's contract).
                unsafe { std::slice::from_raw_parts_mut(c.add(i * c_rs), n) }.fill(0.0);
            }
        }
        return;
    }
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            c_rs as isize,
            accumulate,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
