//! Run-time kernel selection: one table of function pointers, filled with the reference kernels
//! and then overwritten by each instruction set the CPU runs. Built once, read on every call.
//!
//! `MOBILENET_ISA=reference|avx2|avx512` picks a table for the whole process (tests, benches,
//! bisecting a numerical difference). It never installs code the CPU cannot run
//! ([`Kernels::for_isa`] returns `None`): [`Kernels::best`] cannot fail, so it falls back to the
//! best available table when the variable names no ISA or one the CPU lacks, and callers that
//! can report errors check [`env_isa`] first (the CLI does; so do the tests' kernel tables).

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use crate::gemm::MatMut;
use crate::geometry::{Clamp, ConvArgs, DwArgs};
use crate::packed::PackedWeights;
use crate::qdepthwise::QDepthwise;
use crate::qpacked::QPointwise;
use crate::reference;
use crate::reference::batch_norm::{BnBackward, BnStats};

/// An instruction set with a kernel table of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Scalar loop nests; runs everywhere.
    Reference,
    /// x86-64 AVX2 + FMA (8 lanes).
    Avx2,
    /// x86-64 AVX-512F (16 lanes).
    Avx512,
}

impl Isa {
    /// Every ISA this crate knows, weakest first.
    pub const ALL: [Isa; 3] = [Isa::Reference, Isa::Avx2, Isa::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Reference => "reference",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    pub fn from_name(s: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(s))
    }

    /// f32 lanes of one vector register.
    pub fn lanes(self) -> usize {
        match self {
            Isa::Reference => 1,
            Isa::Avx2 => 8,
            Isa::Avx512 => 16,
        }
    }

    /// Whether this CPU can run the ISA's kernels.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Reference => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => crate::x86_64::has_avx2_fma(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => crate::x86_64::has_avx512(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The ISAs this CPU runs, weakest first (always starts with `Reference`).
    pub fn available() -> Vec<Isa> {
        Isa::ALL
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// The strongest ISA this CPU runs.
    pub fn detect() -> Isa {
        *Isa::available()
            .last()
            .expect("reference is always available")
    }
}

/// Why an ISA name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsaError {
    /// The name is none of [`Isa::ALL`].
    Unknown(String),
    /// This CPU does not run it.
    Unsupported(Isa),
}

impl fmt::Display for IsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsaError::Unknown(name) => {
                let known: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
                write!(
                    f,
                    "unknown instruction set `{name}` (known: {})",
                    known.join(", ")
                )
            }
            IsaError::Unsupported(isa) => {
                let have: Vec<&str> = Isa::available().iter().map(|i| i.name()).collect();
                write!(
                    f,
                    "this CPU does not run {isa} (it runs: {})",
                    have.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for IsaError {}

impl Isa {
    /// The ISA called `name`, if this CPU runs it.
    pub fn parse_supported(name: &str) -> Result<Isa, IsaError> {
        let isa = Isa::from_name(name.trim()).ok_or_else(|| IsaError::Unknown(name.into()))?;
        if isa.is_supported() {
            Ok(isa)
        } else {
            Err(IsaError::Unsupported(isa))
        }
    }
}

/// The ISA that `MOBILENET_ISA` asks for: `Ok(None)` if it is unset or empty.
pub fn env_isa() -> Result<Option<Isa>, IsaError> {
    match std::env::var("MOBILENET_ISA") {
        Ok(name) if !name.trim().is_empty() => Isa::parse_supported(&name).map(Some),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(name)) => {
            Err(IsaError::Unknown(name.to_string_lossy().into_owned()))
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Depthwise 3×3 convolution of one image, output rows `rows` only.
/// `x: (H, W, C)`, `w: (3, 3, C)`, `b: (C)`, `y: (rows.len(), OW, C)`; `y = clamp(conv(x) + b)`.
pub type DwConv3x3Fn = fn(
    args: &DwArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
);

/// Dense 3×3 convolution of one image, output rows `rows` only.
/// `x: (H, W, Cin)`, `w: (3, 3, Cin, Cout)` (HWIO), `b: (Cout)`, `y: (rows.len(), OW, Cout)`.
pub type Conv3x3Fn = fn(
    args: &ConvArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
);

/// In place `y[i, j] = clamp(y[i, j] + b[j])` over `y: (M, N)`, `b: (N)`: the GEMM epilogue.
pub type BiasClampFn = fn(y: &mut [f32], b: &[f32], clamp: Clamp);

/// Mean over the spatial positions of one image: `x: (HW, C)` → `y: (C)`.
pub type GlobalAvgPoolFn = fn(x: &[f32], c: usize, y: &mut [f32]);

/// Pointwise convolution / fully connected layer on packed weights, output columns of weight
/// panels `panels` only: x: (M, K), w: (K, N) packed, b: (N), y: (M, cols) with
/// `cols = w.cols(panels)`; `y = clamp(x · w + b)`. M is `y.rows()`.
pub type PointwisePackedFn =
    fn(x: &[f32], w: &PackedWeights, b: &[f32], clamp: Clamp, panels: Range<usize>, y: MatMut<'_>);

/// Input gradient of the depthwise 3×3 convolution of one image, input rows `rows` only:
/// dy: (OH, OW, C), w: (3, 3, C), dx: (rows.len(), W, C) overwritten.
pub type DwBackwardInputFn =
    fn(args: &DwArgs, dy: &[f32], w: &[f32], rows: Range<usize>, dx: &mut [f32]);

/// Filter gradient of the depthwise 3×3 convolution of one image over output rows `rows`,
/// accumulated: x: (H, W, C), dy: (OH, OW, C), dw: (3, 3, C).
pub type DwBackwardFilterFn =
    fn(args: &DwArgs, x: &[f32], dy: &[f32], rows: Range<usize>, dw: &mut [f32]);

/// BatchNorm statistics: per-channel shifted sums over x: (M, C), accumulated in f64.
pub type BnSumsFn = fn(x: &[f32], shift: &[f32], sum: &mut [f64], sumsq: &mut [f64]);

/// `y = clamp(x·scale + shift)` per channel over x, y: (M, C) (BatchNorm forward epilogue).
pub type ScaleShiftClampFn =
    fn(x: &[f32], scale: &[f32], shift: &[f32], clamp: Clamp, y: &mut [f32]);

/// BatchNorm + clamp backward, first pass: accumulates dβ and dγ over rows of (M, C).
pub type BnActBackwardSumsFn = fn(
    da: &[f32],
    z: &[f32],
    stats: BnStats<'_>,
    clamp: Clamp,
    dbeta: &mut [f64],
    dgamma: &mut [f64],
);

/// BatchNorm + clamp backward, second pass: da → dz in place over (M, C).
pub type BnActBackwardApplyFn =
    fn(d: &mut [f32], z: &[f32], stats: BnStats<'_>, coef: BnBackward<'_>, clamp: Clamp);

/// Quantized pointwise / fully connected: x: (M, K) u8, y: (M, N) u8; writes the columns of
/// weight panels `panels` only.
pub type Q8PointwiseFn = fn(x: &[u8], p: &QPointwise, panels: Range<usize>, y: &mut [u8]);

/// Quantized depthwise 3×3, output rows `rows` of one image: x: (H, W, C) u8,
/// y: (rows.len(), OW, C) u8.
pub type Q8DwConv3x3Fn =
    fn(args: &DwArgs, x: &[u8], p: &QDepthwise, rows: Range<usize>, y: &mut [u8]);

/// A float tensor to uint8: `clamp(zp + round(x / scale), 0, 255)`, halves away from zero
/// (TFLite's input quantization; NaN gives `zp`).
pub type Q8QuantizeFn = fn(x: &[f32], scale: f32, zp: i32, y: &mut [u8]);

/// The uint8-activation / int8-weight datatype's entries (XNNPACK's per-datatype config).
#[derive(Clone, Copy)]
pub struct Q8Kernels {
    /// The instruction set of the GEMM: `avx512-vnni` where the CPU has VNNI (within the
    /// AVX-512 level), `avx2-vnni` (256-bit `vpdpbusd`) on AVX2 CPUs with AVX-VNNI, `avx2`
    /// (`vpmaddwd` / `vpmaddubsw`) on other AVX2 CPUs, else `reference`.
    pub name: &'static str,
    /// Whether `pointwise` runs a layer on `vpmaddubsw` where its weights allow it
    /// (`QPointwise::byte_pairs_exact`): the AVX2 GEMM does; VNNI needs no such path.
    pub byte_pairs: bool,
    pub pointwise: Q8PointwiseFn,
    pub dwconv3x3: Q8DwConv3x3Fn,
    pub quantize: Q8QuantizeFn,
}

impl Q8Kernels {
    pub fn reference() -> Q8Kernels {
        Q8Kernels {
            name: "reference",
            byte_pairs: false,
            pointwise: reference::q8::pointwise,
            dwconv3x3: reference::q8::dwconv3x3_rows,
            quantize: reference::q8::quantize,
        }
    }
}

/// The kernel table. Every entry is a safe function: ISA-specific entries are installed only
/// after their CPU features were detected. The flat entries are the f32 datatype's; `q8`
/// holds the quantized one.
#[derive(Clone, Copy)]
pub struct Kernels {
    pub isa: Isa,
    pub q8: Q8Kernels,
    pub dwconv3x3: DwConv3x3Fn,
    pub conv3x3: Conv3x3Fn,
    pub bias_clamp: BiasClampFn,
    pub global_avg_pool: GlobalAvgPoolFn,
    pub pointwise_packed: PointwisePackedFn,
    pub dwconv3x3_backward_input: DwBackwardInputFn,
    pub dwconv3x3_backward_filter: DwBackwardFilterFn,
    pub bn_sums: BnSumsFn,
    pub scale_shift_clamp: ScaleShiftClampFn,
    pub bn_act_backward_sums: BnActBackwardSumsFn,
    pub bn_act_backward_apply: BnActBackwardApplyFn,
}

impl fmt::Debug for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernels")
            .field("isa", &self.isa)
            .finish_non_exhaustive()
    }
}

impl Kernels {
    /// The scalar reference table.
    pub fn reference() -> Kernels {
        Kernels {
            isa: Isa::Reference,
            q8: Q8Kernels::reference(),
            dwconv3x3: reference::dwconv3x3::forward,
            conv3x3: reference::conv3x3::forward,
            bias_clamp: reference::elementwise::bias_clamp,
            global_avg_pool: reference::pool::global_avg_pool,
            pointwise_packed: reference::pointwise::pointwise_packed,
            dwconv3x3_backward_input: reference::dwconv3x3::backward_input,
            dwconv3x3_backward_filter: reference::dwconv3x3::backward_filter,
            bn_sums: reference::batch_norm::sums,
            scale_shift_clamp: reference::batch_norm::scale_shift_clamp,
            bn_act_backward_sums: reference::batch_norm::act_backward_sums,
            bn_act_backward_apply: reference::batch_norm::act_backward_apply,
        }
    }

    /// The table for `isa`, or `None` if this CPU cannot run it.
    pub fn for_isa(isa: Isa) -> Option<Kernels> {
        if !isa.is_supported() {
            return None;
        }
        let mut k = Kernels::reference();
        #[cfg(target_arch = "x86_64")]
        crate::x86_64::register(&mut k, isa);
        k.isa = isa;
        Some(k)
    }

    /// The table for `isa` without the optional extensions its CPU adds to it (today:
    /// AVX-VNNI in the AVX2 int8 GEMM), or None where that is the same table or the CPU cannot
    /// run `isa`: tests run it beside [`Self::for_isa`] so that a CPU with the extension also
    /// tests the code without it.
    pub fn for_isa_baseline(isa: Isa) -> Option<Kernels> {
        #[cfg(target_arch = "x86_64")]
        if isa == Isa::Avx2 && crate::x86_64::has_avx_vnni() {
            let mut k = Kernels::for_isa(isa)?;
            crate::x86_64::avx2_without_avx_vnni(&mut k);
            return Some(k);
        }
        let _ = isa;
        None
    }

    /// The best table for this CPU, honouring `MOBILENET_ISA` when it names a supported ISA
    /// (see [`env_isa`] for the error when it does not).
    pub fn best() -> Kernels {
        let isa = env_isa().ok().flatten().unwrap_or_else(Isa::detect);
        Kernels::for_isa(isa).expect("a detected ISA is supported")
    }
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

/// The process-wide kernel table, chosen on first use.
pub fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(Kernels::best)
}

/// Fixes the process-wide table to `isa` before first use (the CLI's `--isa`).
/// Returns the ISA in force afterwards: `isa` if it was supported and nothing had been chosen
/// yet, otherwise whatever was already chosen or detected.
pub fn select_isa(isa: Isa) -> Isa {
    if let Some(k) = Kernels::for_isa(isa) {
        let _ = KERNELS.set(k);
    }
    kernels().isa
}
