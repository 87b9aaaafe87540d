//! The FEAT_I8MM instructions the kernels use, one wrapper per instruction.
//!
//! Their intrinsics (`vmmlaq_s32`, `vusmmlaq_s32`, `vusdotq_s32`) are still unstable on
//! Rust 1.95 (`stdarch_neon_i8mm`), so each is one `asm!` line here; once they are
//! stable, each body can become the intrinsic call with the same signature. As in
//! `dotprod::insn`: `#[inline]` with the feature enabled (they inline into the
//! `#[target_feature]` tiles), register-only (`pure, nomem, nostack`).
//!
//! For the matrix forms, a 16-byte register is a 2×8 matrix, row `r` in bytes
//! `8r..8r+8`: `acc[2r + c] += Σ_{t<8} a[8r+t]·b[8c+t]`, i.e. `acc` = A·Bᵀ in row-major
//! order, with A = two rows of the left operand and B = two columns of the right one.

use core::arch::aarch64::*;
use core::arch::asm;

/// `smmla acc.4s, a.16b, b.16b`: the 2×2 block of 8-deep i8×i8 dot products.
///
/// # Safety
/// The CPU supports FEAT_I8MM.
#[inline]
#[target_feature(enable = "neon,i8mm")]
pub(crate) unsafe fn smmla(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only instruction; the feature is present (contract).
    unsafe {
        asm!(
            "smmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// `usmmla acc.4s, a.16b, b.16b`: as [`smmla`] with `a` read as u8 and `b` as i8.
///
/// # Safety
/// The CPU supports FEAT_I8MM.
#[inline]
#[target_feature(enable = "neon,i8mm")]
pub(crate) unsafe fn usmmla(acc: int32x4_t, a: uint8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only instruction; the feature is present (contract).
    unsafe {
        asm!(
            "usmmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// `usdot acc.4s, a.16b, b.16b`: lane `l` += Σ_{t<4} `a[4l+t]·b[4l+t]`, `a` u8, `b` i8.
///
/// # Safety
/// The CPU supports FEAT_I8MM.
#[inline]
#[target_feature(enable = "neon,i8mm")]
pub(crate) unsafe fn usdot(acc: int32x4_t, a: uint8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only instruction; the feature is present (contract).
    unsafe {
        asm!(
            "usdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}
