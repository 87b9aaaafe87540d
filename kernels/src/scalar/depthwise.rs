//! The depthwise-convolution definition ([`reference()`]) and the scalar kernel (one output
//! pixel, all channels, on the `i16` layout of [`crate::depthwise`]).

use crate::depthwise::{header_matches, i16_packed_len, pack_i16, HEADER};
use crate::{DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs, Isa};

/// The scalar depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "scalar::depthwise",
    isa: Isa::Scalar,
    layout: "i16",
    packed_len: i16_packed_len,
    pack,
    pixel,
};

/// The definition of [`DepthwiseKernel`], on unpacked weights: for every output channel
/// `oc` of `out` (`C·M` of them, `ic = oc / M`),
/// `out[oc] = Σ_{t : taps[t] is Some} ((taps[t][ic] ^ xor) − zx)·((w[t·C·M + oc] ^ w_xor) as i8 − zw[oc])`,
/// wrapping i32.
///
/// # Panics
/// If a tap holds fewer than `C` bytes, `w` fewer than `T·C·M`, `zw` fewer than `C·M`,
/// or `out.len()` is not a multiple of `multiplier`.
#[allow(clippy::too_many_arguments)]
pub fn reference(
    taps: &[Option<&[u8]>],
    xor: u8,
    zx: i32,
    w: &[u8],
    w_xor: u8,
    zw: &[i32],
    multiplier: usize,
    out: &mut [i32],
) {
    let n = out.len();
    assert!(n.is_multiple_of(multiplier));
    for (oc, o) in out.iter_mut().enumerate() {
        let ic = oc / multiplier;
        let mut acc = 0i32;
        for (t, tap) in taps.iter().enumerate() {
            if let Some(x) = tap {
                let xv = (x[ic] ^ xor) as i32 - zx;
                let wv = (w[t * n + oc] ^ w_xor) as i8 as i32 - zw[oc];
                acc = acc.wrapping_add(xv.wrapping_mul(wv));
            }
        }
        *o = acc;
    }
}

/// # Safety
/// See [`DepthwiseKernel::pack`].
unsafe fn pack(a: &DepthwisePackArgs) {
    // SAFETY: forwarded contract.
    unsafe { pack_i16(a) }
}

/// Input channels `from..C` (all their planes) of [`DepthwiseKernel::pixel`] on the `i16`
/// layout; the SIMD kernels of that layout finish their tails with it, so the results are
/// identical by construction.
///
/// # Safety
/// As [`DepthwiseKernel::pixel`] for a kernel of the `i16` layout.
#[inline(always)]
pub unsafe fn pixel_range(a: &DepthwiseArgs, from: usize) {
    let (t_n, c, m) = (a.n_taps, a.channels, a.multiplier);
    // SAFETY: `taps` holds `n_taps` pointers; the weights follow the header (contract).
    let (taps, w) = unsafe {
        (
            core::slice::from_raw_parts(a.taps, t_n),
            a.packed.add(HEADER) as *const i16,
        )
    };
    for ic in from..c {
        for j in 0..m {
            let mut acc = 0i32;
            for (t, &p) in taps.iter().enumerate() {
                if p.is_null() {
                    continue;
                }
                // SAFETY: non-null taps hold `C` bytes; element (j·T + t)·C + ic < T·C·M.
                let (x, wv) =
                    unsafe { (*p.add(ic), w.add((j * t_n + t) * c + ic).read_unaligned()) };
                acc = acc.wrapping_add(((x ^ a.xor) as i32 - a.zx).wrapping_mul(wv as i32));
            }
            // SAFETY: `out` holds C·M i32.
            unsafe { *a.out.add(ic * m + j) = acc };
        }
    }
}

/// # Safety
/// See [`DepthwiseKernel::pixel`].
unsafe fn pixel(a: &DepthwiseArgs) {
    // SAFETY: the packed buffer has a header (contract).
    debug_assert!(unsafe { header_matches(a.packed, a.n_taps, a.channels, a.multiplier) });
    // SAFETY: forwarded contract.
    unsafe { pixel_range(a, 0) }
}
