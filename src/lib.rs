//! # zeropoint
//!
//! Integer-arithmetic-only quantized inference kernels: the linear quantization
//! `r = S·(q − Z)`, and u8/i8 GEMM / GEMV with zero points, i32 bias and a fused output
//! stage, done on every CPU with results identical bit for bit. Engines link it as their
//! quantized backend: caller-owned buffers, prepacked weights, work ranges for their own
//! threads, and a descriptive [`Error`] for every bad input.
//!
//! ```
//! use zeropoint::*;
//! // Weights: 3 output channels × K = 4, per-channel symmetric i8.
//! let w: [i8; 12] = [1, -2, 3, -4, 5, 6, -7, 8, 127, -128, 0, 1];
//! let packed = PackedWeights::pack(Matrix::new(&w, 3, 4), WeightLayout::NxK, PerChannel::Tensor(0))?;
//! // Activations: 2 rows of u8 with zero point 128.
//! let a: [u8; 8] = [128, 129, 130, 131, 0, 255, 128, 128];
//! let mut y = [0i32; 6];
//! gemm(Matrix::new(&a, 2, 4), 128u8, &packed, &OutputStage::i32(), MatrixMut::new(&mut y, 2, 3))?;
//! assert_eq!(y[0], 0 * 1 + 1 * -2 + 2 * 3 + 3 * -4);
//! # Ok::<(), zeropoint::Error>(())
//! ```
//!
//! ## Semantics
//! SPEC.md in the repository is normative; the scalar reference in
//! `zeropoint_kernels::scalar` is its executable form. In short:
//! - **Parameters**: `scale` finite and > 0; zero point within the storage type.
//!   [`QuantParams::from_range`] (asymmetric, 0.0 exact), [`QuantParams::symmetric`]
//!   ([`SymmetricRange::Restricted`] `[−127, 127]` or [`SymmetricRange::Full`]
//!   `[−128, 127]`), per-tensor / per-axis / per-block [`Granularity`].
//! - **Quantize** (ONNX QuantizeLinear): `saturate(round_half_even(x / scale) + zp)`, a
//!   true division; ±inf saturate; NaN gives `zp`. **Dequantize**: `f32(q − zp) · scale`.
//! - **Dynamic quantization**: ONNX DynamicQuantizeLinear (u8) and a per-row variant for
//!   u8/i8 ([`DynamicMode`]).
//! - **GEMM**: `C[i][j] = Σ_k (A[i][k] − za)(B[k][j] − zb[j])` in wrapping i32, A u8/i8,
//!   B i8/u8 (K×N or N×K), `zb` per tensor or per column. GEMV is M = 1.
//! - **Output stages** ([`OutputStage`]): i32; + i32 bias (wrapping); requantize to u8/i8
//!   by [`Requantization::Fp32`], [`Requantization::DoubleRounding`] (gemmlowp) or
//!   [`Requantization::SingleRounding`] (ruy), per tensor or per channel, + zero point,
//!   clamp; or f32 `f32(acc)·scale + bias` (two roundings, no FMA).
//!   [`quantize_multiplier`] turns a real multiplier into `(m0, shift)`.
//! - **Layers** ([`layers`]): [`Linear`] and [`Conv2d`] (NHWC; stride, padding, dilation,
//!   groups, depthwise) built from f32 weights, with integer-only static forwards
//!   ([`StaticQuant`]: i32 bias at `S_W·S_X`, multiplier `S_W·S_X/S_Y`, fused ReLU) and a
//!   dynamic f32 forward for `Linear`; convolutions over any range of output pixels
//!   ([`Conv2d::forward_range`], for an engine's own threads); quantized add
//!   ([`Engine::add`]: ONNX QLinearAdd with numpy broadcasting) and pooling
//!   ([`Engine::global_avg_pool`], [`Engine::max_pool`]) on per-ISA kernels; and
//!   calibration observers ([`MinMaxObserver`], [`MovingAverageMinMaxObserver`]).
//! - Results are identical on every ISA and for every split of the work.
//!
//! ## Crate features
//! - `cli` (default): the `zeropoint` binary (report, conformance replay) and the
//!   [`conformance`] module; pulls in `serde_json`. Engines may turn it off.
//! - `rayon`: `gemm_par`, a convenience parallel GEMM on rayon's global pool, and
//!   `Conv2d::forward_par` / `forward_par_with_stage` likewise.
//!
//! ## Safety
//! The public API is safe: every shape, stride, length and parameter is validated
//! before a kernel runs, and errors are returned before anything is written. The
//! kernels crate underneath is `unsafe` and trusts this layer; each `unsafe` block names
//! the check that discharges it.
//!
//! ## Dispatch
//! [`Engine`] holds one kernel table per operation. [`Engine::global`] picks the best for
//! this CPU on first use (standard-library feature detection, cached), capped by the
//! `ZEROPOINT_ISA` environment variable (`scalar`, `avx2`, `avx512bw`, `avx512vnni`,
//! `neon`, `dotprod`, `i8mm`); [`Engine::with_isa`] does the same explicitly. Asking for
//! an ISA the CPU lacks is [`Error::IsaUnavailable`]. [`variants`] lists every compiled
//! kernel and whether it can run here. The free functions use [`Engine::global`]; packed
//! weights remember their kernel, and running them with another is
//! [`Error::LayoutMismatch`].
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod dispatch;
mod error;
mod gemm;
pub mod layers;
mod matrix;
mod params;
mod quant;
mod stage;

#[cfg(feature = "cli")]
pub mod conformance;

pub use dispatch::{best_isa, detected_isas, variants, Engine, OpKind, Variant};
pub use error::{Error, Result};
#[cfg(feature = "rayon")]
pub use gemm::gemm_par;
pub use gemm::{gemm, gemm_range, PackedWeights, WeightLayout};
pub use layers::{
    Activation, Conv2d, Conv2dGeometry, Linear, MinMaxObserver, MovingAverageMinMaxObserver, Nhwc,
    RequantScheme, StaticQuant, WeightQuantization,
};
pub use matrix::{Matrix, MatrixMut};
pub use params::{
    check_multiplier, multiplier_to_real, quantize_multiplier, Granularity, QType, QuantParams,
    SymmetricRange,
};
pub use quant::{
    dequantize, dynamic_quantize_linear, dynamic_quantize_rows, quantize, requantize, DynamicMode,
};
pub use stage::{OutType, Output, OutputStage, PerChannel, Requantization};
pub use zeropoint_kernels::{Isa, QuantizedMultiplier};

/// The kernels crate, for tests, benches and fuzzers that reach below the safe API.
pub use zeropoint_kernels as kernels;
