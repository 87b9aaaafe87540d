//! Int8 matrix-multiply kernels (FEAT_I8MM, ARMv8.6+: Neoverse V1/N2/V2, Cortex-A710/X2,
//! Apple M2): `smmla`/`usmmla` multiply a 2×8 by an 8×2 block of bytes (32 exact
//! multiply-adds) into a 2×2 block of i32, and `usdot` is the mixed-sign `sdot`, so u8 A
//! needs no flip. Every CPU with I8MM also has DotProd, and this ISA requires both
//! (`Isa::I8mm` lists `dotprod`): the one-row tile uses `sdot`. Element-wise work uses
//! the `neon` table; the output stage is `neon::stage`.

pub mod gemm;
pub(crate) mod insn;
pub mod pack;

pub use gemm::GEMM;
