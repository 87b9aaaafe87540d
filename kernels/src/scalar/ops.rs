//! The reference kernels of the quantized add (ONNX QLinearAdd) and of pooling: channel
//! sums over pixels (global average pooling) and the maximum over taps (max pooling).
//! The SIMD variants finish their tails with [`add_one`], [`sum_range`] and
//! [`max_range`], so those elements are identical by construction.

use super::requant::{dequantize, quantize_f32};
use crate::{AddArgs, Isa, OpsKernels};

/// The scalar add and pooling table.
pub static OPS: OpsKernels = OpsKernels {
    name: "scalar::ops",
    isa: Isa::Scalar,
    add,
    sum_pixels,
    max_pixel,
};

/// The QLinearAdd of one pair of codes `x`, `y` (as i32) with the parameters of `args`:
/// `clamp(quantize_f32(dequantize(x) + dequantize(y)), lo, hi)`, SPEC.md §8.
#[inline(always)]
pub fn add_one(x: i32, y: i32, args: &AddArgs) -> i32 {
    let (qmin, qmax) = if args.signed { (-128, 127) } else { (0, 255) };
    let sum = dequantize(x, args.za, args.sa) + dequantize(y, args.zb, args.sb);
    quantize_f32(sum, args.sc, args.zc, qmin, qmax)
        .max(args.lo)
        .min(args.hi)
}

/// The code at `p` as i32 (i8 when `signed`).
///
/// # Safety
/// `p` is valid for one byte.
#[inline(always)]
unsafe fn code(p: *const u8, signed: bool) -> i32 {
    // SAFETY: one byte at `p` (caller).
    let v = unsafe { *p };
    if signed {
        v as i8 as i32
    } else {
        v as i32
    }
}

/// Elements `from..args.len` of [`OpsKernels::add`].
///
/// # Safety
/// The contract of [`OpsKernels::add`] (without the ISA).
#[inline(always)]
pub unsafe fn add_range(args: &AddArgs, from: usize) {
    for i in from..args.len {
        // SAFETY: i < len: inside A and B at their steps, and inside `dst` (contract).
        unsafe {
            let x = code(args.a.add(i * args.a_step), args.signed);
            let y = code(args.b.add(i * args.b_step), args.signed);
            *args.dst.add(i) = add_one(x, y, args) as u8;
        }
    }
}

/// # Safety
/// See [`OpsKernels::add`].
unsafe fn add(args: &AddArgs) {
    // SAFETY: forwarded contract.
    unsafe { add_range(args, 0) }
}

/// Channels `from..channels` of [`OpsKernels::sum_pixels`].
///
/// # Safety
/// The contract of [`OpsKernels::sum_pixels`] (without the ISA).
#[inline(always)]
pub unsafe fn sum_range(
    src: *const u8,
    pixels: usize,
    channels: usize,
    from: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    for c in from..channels {
        let mut acc = 0i32;
        for p in 0..pixels {
            // SAFETY: p < pixels and c < channels: inside `src` (contract).
            let x = unsafe { *src.add(p * channels + c) };
            acc = acc.wrapping_add((x ^ xor) as i32 - zx);
        }
        // SAFETY: `out` holds `channels` i32.
        unsafe { *out.add(c) = acc };
    }
}

/// # Safety
/// See [`OpsKernels::sum_pixels`].
unsafe fn sum_pixels(
    src: *const u8,
    pixels: usize,
    channels: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    // SAFETY: forwarded contract.
    unsafe { sum_range(src, pixels, channels, 0, xor, zx, out) }
}

/// Channels `from..channels` of [`OpsKernels::max_pixel`].
///
/// # Safety
/// The contract of [`OpsKernels::max_pixel`] (without the ISA).
#[inline(always)]
pub unsafe fn max_range(
    taps: &[*const u8],
    channels: usize,
    from: usize,
    signed: bool,
    out: *mut u8,
) {
    for c in from..channels {
        let mut m = if signed { -128 } else { 0 };
        for &p in taps {
            // SAFETY: every tap holds `channels` bytes (contract).
            m = m.max(unsafe { code(p.add(c), signed) });
        }
        // SAFETY: `out` holds `channels` bytes.
        unsafe { *out.add(c) = m as u8 };
    }
}

/// # Safety
/// See [`OpsKernels::max_pixel`].
unsafe fn max_pixel(taps: &[*const u8], channels: usize, signed: bool, out: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { max_range(taps, channels, 0, signed, out) }
}
