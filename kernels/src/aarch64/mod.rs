//! aarch64 kernels, one folder per instruction set with the same file names as on
//! x86_64: `gemm.rs` (microkernel and table), `pack.rs` (the SIMD packer of its layout;
//! `neon`'s also holds the pieces the others share), `depthwise.rs` (`neon`: `smlal` on
//! i16 weights; `dotprod`: `sdot` on four taps per lane, also used by `i8mm` engines),
//! `quant.rs` (element-wise table, `neon` only: `dotprod` and `i8mm` add nothing to
//! element-wise work; likewise `ops.rs`, the add and pooling table), `stage.rs` (the fused
//! output stage on 4 lanes, shared by all three GEMM kernels), and `insn.rs` in
//! `dotprod`/`i8mm` (the `asm!` wrappers of instructions whose intrinsics are still
//! unstable on Rust 1.95).
//!
//! | table | needs | microkernel | inner loop (M = 4, i8 A / u8 A) |
//! |---|---|---|---|
//! | `neon` | Advanced SIMD (every ARMv8-A) | `gemm_u8i8_4x4c16`: `smull`/`smull2` + `sadalp` | 3.5 / 3.3 MACs per instruction; peak 8 per `smull`, 4 with its `sadalp` |
//! | `dotprod` | + FEAT_DotProd (ARMv8.2+: Cortex-A55/A76, Neoverse N1) | `gemm_u8i8_4x16c4`: `sdot` by element | 83 % / 79 % `sdot`, 13.2 / 12.6 MACs per instruction; peak 16 |
//! | `i8mm` | + FEAT_I8MM (ARMv8.6+: Neoverse V1/N2, Cortex-A710) | `gemm_u8i8_4x16c8`: `smmla` / `usmmla`; M = 1: `sdot` / `usdot` | 73 % `smmla`, 23.3 MACs per instruction; peak 32 |
//!
//! The figures are counted in the disassembly of the release build
//! (`cargo build --release --target aarch64-unknown-linux-gnu`, then
//! `aarch64-linux-gnu-objdump -d --no-show-raw-insn` of the kernels' rlib objects, and
//! `python3 kernels/tools/loop_mix.py <dump> <function regex> <multiply mnemonics>`);
//! each kernel's module docs break them down. No ARM hardware was at hand: the kernels
//! are tested bit for bit under qemu-aarch64 (CI lanes `cortex-a53`, `neoverse-n1`,
//! `max`), where timings mean nothing.
//!
//! ## Signed domain
//! `smull` and `sdot` multiply signed bytes only, while the canonical A is u8 (crate
//! docs). The kernels therefore work on the *raw* bytes of A in the type they came in,
//! and correct with that type's zero point. With `a` the canonical u8 value, `za` its
//! canonical zero point, and `s = a − 128` (the byte `a ^ 0x80` read as i8),
//!
//! ```text
//! Σ_k (a − za)(b − zb) = Σ_k (s − (za − 128))(b − zb)
//!                      = dot_s − zb·rowsum_s + (za − 128)·(K·zb − colsum)
//! ```
//! with `dot_s = Σ s·b` (what `smull`/`sdot`/`smmla` compute) and `rowsum_s = Σ s`.
//! This is the crate's decomposition applied to A' = A − 128 and za' = za − 128: an
//! identity of integers, so it holds in wrapping i32 (Z/2^32) exactly, and it reuses the
//! packed `colcorr = K·zb − colsum` unchanged. No `128·colsum` term is needed.
//! - i8 A (`a_xor = 0x80`): `s` is the raw byte itself; nothing is flipped.
//! - u8 A (`a_xor = 0`): `s = byte ^ 0x80`, one `eor` per 16 bytes of A (`neon`,
//!   `dotprod`). `i8mm` has the mixed-sign `usmmla`/`usdot` and multiplies the raw u8
//!   bytes instead, with `za` and the unsigned row sum: no flip at all. (`ummla`, u8×u8,
//!   has no use: B is always packed as canonical i8.)
//!
//! Row sums are needed only when some B zero point is non-zero; each tile then makes
//! one extra pass over its A rows (`uadalp`/`sadalp`, 2 instructions per 16 bytes, or
//! `udot` with ones where LLVM sees DotProd), small against the tile's own loop.
//!
//! Every function here needs the features of its folder; the tables are only handed
//! out by the safe crate after run-time detection (`is_aarch64_feature_detected!`,
//! which reads the kernel's HWCAPs).

pub mod dotprod;
pub mod i8mm;
pub mod neon;
