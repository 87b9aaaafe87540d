//! The FEAT_DotProd instructions the kernels use, one wrapper per instruction form.
//!
//! Their intrinsics (`vdotq_s32`, `vdotq_laneq_s32`) are still unstable on Rust 1.95
//! (`stdarch_neon_dotprod`), so each form is one `asm!` line here; once the intrinsics
//! are stable, each body can become the intrinsic call with the same signature and
//! nothing else changes. The wrappers are `#[inline]` with the feature enabled, so they
//! inline into the `#[target_feature]` tile functions (checked in the disassembly: no
//! call remains), and the assembler rejects them anywhere the feature is not enabled.
//! The `asm!` blocks only read and write vector registers (`pure, nomem, nostack`), so
//! the compiler may schedule, hoist or drop them like any arithmetic.

use core::arch::aarch64::*;
use core::arch::asm;

/// `sdot acc.4s, b.16b, a.4b[L]`: lane `l` of `acc` += Σ_{t<4} `b[4l+t]·a[4L+t]` (i8×i8).
/// The A group `L` is broadcast from the register: one A load serves 4 groups.
///
/// # Safety
/// The CPU supports FEAT_DotProd.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn sdot_lane<const L: i32>(
    acc: int32x4_t,
    b: int8x16_t,
    a: int8x16_t,
) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only instruction; the feature is present (contract).
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {b:v}.16b, {a:v}.4b[{l}]",
            acc = inout(vreg) acc,
            b = in(vreg) b,
            a = in(vreg) a,
            l = const L,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// `sdot acc.4s, a.16b, b.16b`: lane `l` of `acc` += Σ_{t<4} `a[4l+t]·b[4l+t]` (i8×i8).
///
/// # Safety
/// The CPU supports FEAT_DotProd.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only instruction; the feature is present (contract).
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}
