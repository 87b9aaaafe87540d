//! # zeropoint-kernels
//!
//! The kernels behind [`zeropoint`](https://docs.rs/zeropoint): the scalar reference
//! (the executable specification, `scalar/`) and, in one folder per instruction set, the
//! SIMD variants that must equal it bit for bit. This crate is `no_std`, takes raw
//! pointers and trusts its caller: use the safe crate `zeropoint`, which validates every
//! argument once and dispatches to the best table for the CPU.
//!
//! ## Layout
//! - `scalar/` — `requant.rs` (rounding, fixed-point multipliers, requantization),
//!   `quant.rs` (element-wise quantize / dequantize / requantize tables), `ops.rs`
//!   (the quantized add and pooling: [`OpsKernels`], in `scalar/`, `avx2/`,
//!   `avx512bw/` and `neon/`),
//!   `gemm.rs` (packing + microkernel), `reference.rs` (GEMM written as its definition),
//!   `depthwise.rs` (the depthwise definition and the scalar depthwise kernel).
//! - `depthwise.rs` — the packed weight layouts of the depthwise kernels (`i16`, `c4x64`,
//!   `c4x16`) and their packers, shared by the kernels that read them.
//! - one folder per ISA later (`x86_64/avx2/`, `x86_64/avx512vnni/`, `aarch64/neon/`, …)
//!   with the same file names, so that `avx2/gemm.rs` reads beside `dotprod/gemm.rs`.
//! - `testing/` (feature `testing`) — the one harness every variant is tested with.
//!
//! ## Naming grammar
//! A microkernel is named by its path and a suffix `gemm_<a><b>_<MR>x<NR>c<KR>`:
//! `<a><b>` the canonical operand types it multiplies (`u8i8`: A as u8, B as i8), `MR` rows
//! and `NR` columns of the output tile it computes per call, `KR` the number of
//! consecutive K values packed together per column (the depth of one dot-product
//! instruction: 1 for scalar, 4 for `vpdpbusd`/`sdot`, 8 for `smmla`). For example
//! `scalar::gemm_u8i8_4x8c1`, later `x86_64::avx512vnni::gemm_u8i8_8x16c4`. Each kernel
//! carries this string as [`GemmKernel::name`], used in test output and benchmark ids.
//!
//! A depthwise kernel is named `<path>::depthwise` (one per ISA folder that has one);
//! the packed layout it reads is [`DepthwiseKernel::layout`]: `i16` (scalar, AVX2,
//! AVX-512BW, NEON), `c4x64` (AVX-512 VNNI, `vpdpbusd`) or `c4x16` (dotprod, `sdot`),
//! described in [`depthwise`].
//!
//! ## Canonical operands
//! Every GEMM runs as u8 × i8 with i32 zero points. An i8 A is read as `A ^ 0x80`
//! (= `A + 128` as u8) with `za + 128`; a u8 B is packed as `B ^ 0x80` (= `B − 128` as i8)
//! with `zb − 128`. Both rewrites leave every `(A − za)` and `(B − zb)` unchanged, so the
//! result is identical. The accumulation is then decomposed (all in wrapping i32, which is
//! exact in Z/2^32):
//!
//! ```text
//! Σ_k (a − za)(b − zb[j]) = Σ_k a·b − zb[j]·Σ_k a − za·Σ_k b + K·za·zb[j]
//!                         = dot − zb[j]·rowsum[i] + za·(K·zb[j] − colsum[j])
//! ```
//! `colsum` and `K·zb − colsum` are computed when packing; `rowsum` only when some
//! `zb[j] ≠ 0`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(any(test, feature = "std"))]
extern crate std;

/// Stamps out the dispatch from a run-time tile height `m` and A's signedness to the
/// const-generic tile functions: `tile_dispatch!(tile_m, args, m, xor; 1, 2, …, MR)`
/// calls `tile_m::<M, XOR>(args)` for `m == M` (the last height also takes any larger
/// `m`, which the driver never passes).
macro_rules! tile_dispatch {
    ($f:ident, $args:expr, $m:expr, $xor:expr; $($h:literal),+) => {{
        let (m, xor) = ($m, $xor);
        tile_dispatch!(@arms $f, $args, m, xor; $($h),+)
    }};
    (@arms $f:ident, $args:expr, $m:ident, $xor:ident; $h:literal) => {
        if $xor { $f::<$h, true>($args) } else { $f::<$h, false>($args) }
    };
    (@arms $f:ident, $args:expr, $m:ident, $xor:ident; $h:literal, $($rest:literal),+) => {
        if $m == $h {
            if $xor { $f::<$h, true>($args) } else { $f::<$h, false>($args) }
        } else {
            tile_dispatch!(@arms $f, $args, $m, $xor; $($rest),+)
        }
    };
}

pub mod depthwise;
mod isa;
mod stage;
mod table;

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(target_arch = "aarch64")]
pub mod aarch64;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use isa::Isa;
pub use scalar::requant::{QuantizedMultiplier, Scheme, SHIFT_RANGE};
pub use stage::{DstType, OutputStage};
pub use table::{
    run_gemm, APack, AddArgs, DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs,
    ElementwiseKernels, GemmCall, GemmKernel, Indirect, OpsKernels, PackAArgs, PackAMode, PackArgs,
    TileArgs, TileBatch, TileSession,
};

/// Every compiled GEMM kernel of this build, best first within each architecture.
/// Availability on the running CPU is decided by the safe crate.
pub const GEMM_KERNELS: &[&GemmKernel] = &[
    #[cfg(target_arch = "x86_64")]
    &x86_64::amx::GEMM,
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx512vnni::GEMM,
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx512bw::GEMM,
    #[cfg(target_arch = "x86_64")]
    &x86_64::avxvnni::GEMM,
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx2::GEMM,
    #[cfg(target_arch = "aarch64")]
    &aarch64::i8mm::GEMM,
    #[cfg(target_arch = "aarch64")]
    &aarch64::dotprod::GEMM,
    #[cfg(target_arch = "aarch64")]
    &aarch64::neon::GEMM,
    &scalar::GEMM,
];

/// Every compiled element-wise kernel table of this build.
pub const ELEMENTWISE_KERNELS: &[&ElementwiseKernels] = &[
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx512bw::ELEMENTWISE,
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx2::ELEMENTWISE,
    #[cfg(target_arch = "aarch64")]
    &aarch64::neon::ELEMENTWISE,
    &scalar::ELEMENTWISE,
];

/// Every compiled add and pooling kernel table of this build.
pub const OPS_KERNELS: &[&OpsKernels] = &[
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx512bw::OPS,
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx2::OPS,
    #[cfg(target_arch = "aarch64")]
    &aarch64::neon::OPS,
    &scalar::OPS,
];

/// Every compiled depthwise-convolution kernel of this build. `i8mm` engines use the
/// `dotprod` kernel.
pub const DEPTHWISE_KERNELS: &[&DepthwiseKernel] = &[
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx512vnni::DEPTHWISE,
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx512bw::DEPTHWISE,
    #[cfg(target_arch = "x86_64")]
    &x86_64::avx2::DEPTHWISE,
    #[cfg(target_arch = "aarch64")]
    &aarch64::dotprod::DEPTHWISE,
    #[cfg(target_arch = "aarch64")]
    &aarch64::neon::DEPTHWISE,
    &scalar::DEPTHWISE,
];

#[cfg(test)]
mod tests {
    use crate::testing::{
        check_elementwise, check_pack, depthwise_sweep, gemm_sweep, pack_sweep, reference_pack,
        skip_or_require, PackCase, PackFill, PackSource, Rng,
    };

    #[test]
    fn every_gemm_kernel_matches_the_reference() {
        for k in crate::GEMM_KERNELS {
            if skip_or_require(k.name, k.isa) {
                continue;
            }
            let n = gemm_sweep(k).unwrap_or_else(|e| panic!("{e}"));
            std::eprintln!("{}: {n} cases", k.name);
        }
    }

    #[test]
    fn every_packer_matches_the_layout_definition() {
        for k in crate::GEMM_KERNELS {
            if skip_or_require(k.name, k.isa) {
                continue;
            }
            let n = pack_sweep(k).unwrap_or_else(|e| panic!("{e}"));
            std::eprintln!("{}: {n} packing cases", k.name);
        }
    }

    /// The portable packer at every geometry a table uses (the SIMD packers fall back to
    /// it for generic strides and partial panels), against the definition.
    #[test]
    fn portable_packer_matches_the_layout_definition() {
        use crate::scalar::gemm::pack;
        use crate::{GemmKernel, Isa};
        macro_rules! table {
            ($nr:literal, $kr:literal) => {
                GemmKernel {
                    name: concat!("scalar::gemm::pack::<", $nr, ", ", $kr, ">"),
                    isa: Isa::Scalar,
                    mr: 1,
                    nr: $nr,
                    kr: $kr,
                    pack: pack::<$nr, $kr>,
                    pack_a: None,
                    tile: crate::scalar::gemm::tile::<1, $nr, $kr>,
                    tile_indirect: None,
                    session: None,
                }
            };
        }
        let tables = [
            table!(8, 1),
            table!(16, 2),
            table!(32, 2),
            table!(32, 4),
            table!(4, 16),
            table!(16, 4),
            table!(16, 8),
        ];
        let mut rng = Rng(0x9AC1);
        for t in &tables {
            let mut cases = 0;
            for n in [1, t.nr - 1, t.nr, t.nr + 1, 2 * t.nr + 1] {
                for k in [1, t.kr - 1, t.kr, t.kr + 1, 3 * t.kr + 1, 63, 64, 65, 257] {
                    for source in [PackSource::NxK, PackSource::KxN, PackSource::Strided] {
                        for xor in [0, 0x80] {
                            let case = PackCase::new(
                                &mut rng,
                                k.max(1),
                                n,
                                source,
                                k % 3,
                                xor,
                                PackFill::Random,
                            );
                            check_pack(t, &case).unwrap_or_else(|e| panic!("{e}"));
                            cases += 1;
                        }
                    }
                }
            }
            std::eprintln!("{}: {cases} packing cases", t.name);
        }
        // The definition itself on a hand-checked case: K×N 3×2, KR = 2, NR = 2.
        let case = PackCase {
            k: 3,
            n: 2,
            k_stride: 2,
            n_stride: 1,
            xor: 0x80,
            b: std::vec![0x00, 0xff, 0x81, 0x7f, 0x80, 0x01],
        };
        let (packed, sums) = reference_pack(2, 2, &case);
        assert_eq!(packed, [-128, 1, 127, -1, 0, 0, -127, 0]);
        assert_eq!(sums, [-127, -1]);
    }

    #[test]
    fn every_depthwise_kernel_matches_the_reference() {
        for k in crate::DEPTHWISE_KERNELS {
            if skip_or_require(k.name, k.isa) {
                continue;
            }
            let n = depthwise_sweep(k).unwrap_or_else(|e| panic!("{e}"));
            std::eprintln!("{} ({}): {n} cases", k.name, k.layout);
        }
    }

    #[test]
    fn every_ops_table_matches_the_reference() {
        for t in crate::OPS_KERNELS {
            if skip_or_require(t.name, t.isa) {
                continue;
            }
            let n = crate::testing::check_ops(t).unwrap_or_else(|e| panic!("{e}"));
            std::eprintln!("{}: {n} values", t.name);
        }
    }

    #[test]
    fn every_elementwise_table_matches_the_reference() {
        for t in crate::ELEMENTWISE_KERNELS {
            if skip_or_require(t.name, t.isa) {
                continue;
            }
            let n = check_elementwise(t).unwrap_or_else(|e| panic!("{e}"));
            std::eprintln!("{}: {n} values", t.name);
        }
    }
}
