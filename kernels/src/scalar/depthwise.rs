//! The reference depthwise-convolution kernel (one output pixel, all channels).

use crate::{DepthwiseKernel, Isa};

/// The scalar depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "scalar::depthwise",
    isa: Isa::Scalar,
    pixel,
};

/// One channel range `from..channels` of [`DepthwiseKernel::pixel`]; the SIMD kernels
/// finish their tails with it, so the results are identical by construction.
///
/// # Safety
/// As [`DepthwiseKernel::pixel`], for channels `from..channels`.
#[inline(always)]
pub unsafe fn pixel_range(
    taps: &[*const u8],
    w: *const i16,
    channels: usize,
    from: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    for c in from..channels {
        let mut acc = 0i32;
        for (t, &p) in taps.iter().enumerate() {
            if p.is_null() {
                continue;
            }
            // SAFETY: non-null taps hold `channels` bytes, `w` holds taps·channels i16.
            let (x, wv) = unsafe { (*p.add(c), *w.add(t * channels + c)) };
            acc = acc.wrapping_add(((x ^ xor) as i32 - zx).wrapping_mul(wv as i32));
        }
        // SAFETY: `out` holds `channels` i32.
        unsafe { *out.add(c) = acc };
    }
}

/// # Safety
/// See [`DepthwiseKernel::pixel`].
unsafe fn pixel(
    taps: &[*const u8],
    w: *const i16,
    channels: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    // SAFETY: forwarded contract.
    unsafe { pixel_range(taps, w, channels, 0, xor, zx, out) }
}
