//! `x86_64::avx512vnni::depthwise`: the depthwise kernel on the `c4x64` layout
//! ([`crate::depthwise`]), with `vpdpbusd`: one instruction multiplies 4 taps × 16
//! channels (u8 input × i8 weight) and adds each channel's 4 products into its i32 lane,
//! exactly and wrapping.
//!
//! ```text
//! for each block of 64 input channels (the last one with masked loads and stores):
//!   for each pass over up to 4 planes j (output channels ic·M + j):
//!     for each group g of 4 taps (the last one padded):
//!       v[k] = 64 input bytes of tap 4g + k (XOR 0x80 for i8 input), or zx if the tap
//!              is null (padding) or past T
//!       x[q] = interleave(v[0..4])      vpunpck{l,h}bw + vpunpck{l,h}wd: 8 shuffles;
//!                                       lane 4L + k of x[q] = the 4 taps of channel
//!                                       16L + 4q + k (the layout's slot order)
//!       acc[j][q] += x[q]·w[j][g][q]    vpdpbusd, 4 per plane
//!       xs[q] += x[q]·1                 only with FLAG_ZW (weights outside i8)
//!     acc[j][q] −= zx·wsum[j][q]  (and zwp[j][q]·xs[q] with FLAG_ZW)
//!     store: a 4×4 transpose of 128-bit lanes puts the channels back in order;
//!            M = 2 interleaves the two planes first (vpunpck{l,h}dq); other M > 1 go
//!            through a stack buffer to out[ic·M + j]
//! ```
//!
//! Why it is exact (layout docs): the sum runs over all tap slots with null taps and
//! padding slots reading `zx`, so `Σ (x − zx)(w − zwp)` drops them, and
//! `Σ x·w − zx·wsum − zwp·Σ x` is the same integer, in wrapping i32.
//!
//! Optimisations: (1) the interleave of four taps is shared by every plane of a pass (M
//! planes → M·4 `vpdpbusd` per 8 shuffles) and the accumulators stay in registers across
//! all taps; (2) the channel order the shuffles produce is baked into the packed weights,
//! and undone once per pixel on the accumulators, not per tap; (3) the zero-point
//! correction is 4 `vpmulld` per block per pixel, never per tap; (4) tails are masked,
//! so no channel count needs a scalar path; (5) with weights that fit i8 (the usual
//! symmetric case) the input sum is not computed at all; (6) a pixel without null taps
//! (all but the border of an image) runs an instance whose loads are unconditional, the
//! partial last group of taps is peeled off the group loop, and the instance (planes per
//! pass, flag, signedness, nulls) is chosen once per pixel, outside the block loop: with
//! the choice inside (one call per block) the kernel ran at half the speed.
//!
//! On the development machine (Sapphire-Rapids-class Xeon, one core, `taskset -c 0`), a
//! 3×3 pixel of 128 channels takes about 34 ns against 66 ns for the AVX-512BW kernel
//! (`vpmovzxbd` + `vpmulld`) and about 1 µs for the scalar one: the loop is bound by the
//! shuffle port (8 unpacks per 4 `vpdpbusd`, plus the transpose).

use core::arch::x86_64::*;

use crate::depthwise::{
    c4_packed_len, c4_plane_bytes, flags, header_matches, pack_c4, scatter_plane, FLAG_ZW, HEADER,
};
use crate::{DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs, Isa};

/// Input channels per block.
const BC: usize = 64;
/// Planes per pass (4 zmm accumulators each).
const PJ_MAX: usize = 4;

/// The AVX-512 VNNI depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "x86_64::avx512vnni::depthwise",
    isa: Isa::Avx512Vnni,
    layout: "c4x64",
    packed_len,
    pack,
    pixel,
};

fn packed_len(taps: usize, channels: usize, multiplier: usize) -> usize {
    c4_packed_len(BC, taps, channels, multiplier)
}

/// The channel of slot `s` of a block: lane `4L + k` of vector `q = s / 16` holds channel
/// `16L + 4q + k`, the order the unpack interleave leaves the channels in.
fn slot_ic(s: usize) -> usize {
    let (q, r) = (s / 16, s % 16);
    16 * (r / 4) + 4 * q + r % 4
}

/// # Safety
/// See [`DepthwiseKernel::pack`].
unsafe fn pack(a: &DepthwisePackArgs) {
    // SAFETY: forwarded contract.
    unsafe { pack_c4(a, BC, slot_ic) }
}

/// `out[L] = [a.lane L, b.lane L, c.lane L, d.lane L]` (128-bit lanes).
///
/// # Safety
/// AVX-512F present.
#[inline(always)]
unsafe fn transpose4(v: [__m512i; 4]) -> [__m512i; 4] {
    // SAFETY: register-only instructions; the CPU has AVX-512F (caller).
    unsafe {
        let t0 = _mm512_shuffle_i32x4::<0x44>(v[0], v[1]); // a0 a1 b0 b1
        let t1 = _mm512_shuffle_i32x4::<0x44>(v[2], v[3]); // c0 c1 d0 d1
        let t2 = _mm512_shuffle_i32x4::<0xEE>(v[0], v[1]); // a2 a3 b2 b3
        let t3 = _mm512_shuffle_i32x4::<0xEE>(v[2], v[3]); // c2 c3 d2 d3
        [
            _mm512_shuffle_i32x4::<0x88>(t0, t1),
            _mm512_shuffle_i32x4::<0xDD>(t0, t1),
            _mm512_shuffle_i32x4::<0x88>(t2, t3),
            _mm512_shuffle_i32x4::<0xDD>(t2, t3),
        ]
    }
}

/// Stores the 16-lane vectors `v` to `dst + 16·i`, limited to the first `count` i32.
///
/// # Safety
/// AVX-512F present; `dst` valid for `count` i32.
#[inline(always)]
unsafe fn store_first(dst: *mut i32, v: &[__m512i], count: usize) {
    for (i, &x) in v.iter().enumerate() {
        if 16 * i >= count {
            break;
        }
        let left = count - 16 * i;
        let mask = if left >= 16 {
            !0
        } else {
            ((1u32 << left) - 1) as __mmask16
        };
        // SAFETY: only the lanes of `mask`, all below `count`, are written.
        unsafe { _mm512_mask_storeu_epi32(dst.add(16 * i), mask, x) };
    }
}

/// The input vector of one tap: the 64 bytes of `mask` at `p + ic0` (XOR 0x80 for i8
/// input, so canonical u8), or `zx` when `NULLS` allows a null `p` and it is null.
///
/// # Safety
/// AVX-512F/BW present; `p` null (only when `NULLS`) or valid for the bytes of `mask`
/// from `ic0`.
#[inline(always)]
unsafe fn tap<const NULLS: bool, const SIGNED: bool>(
    p: *const u8,
    ic0: usize,
    mask: __mmask64,
    zx: __m512i,
) -> __m512i {
    if NULLS && p.is_null() {
        return zx;
    }
    // SAFETY: the masked load reads only the bytes of `mask`, valid (contract);
    // masked-off bytes are not accessed.
    unsafe {
        let x = _mm512_maskz_loadu_epi8(mask, p.add(ic0) as *const i8);
        if SIGNED {
            _mm512_xor_si512(x, _mm512_set1_epi8(0x80u8 as i8))
        } else {
            x
        }
    }
}

/// Interleaves the four tap vectors `v` of group `g` (`vpunpck{l,h}bw`, then
/// `vpunpck{l,h}wd`: lane `4L + k` of `x[q]` holds the 4 taps of channel `16L + 4q + k`)
/// and accumulates `x[q]·w` into `acc[pj][q]` for the planes of the pass (and `x[q]·1`
/// into `xs[q]` with `ZW`).
///
/// # Safety
/// AVX-512F/BW/VNNI present; `rec` is the record of the pass's first plane, the next
/// `PJ − 1` records follow at `plane` bytes, and `g` is one of their groups.
#[inline(always)]
unsafe fn group<const PJ: usize, const ZW: bool>(
    acc: &mut [[__m512i; 4]; PJ],
    xs: &mut [__m512i; 4],
    v: [__m512i; 4],
    rec: *const u8,
    plane: usize,
    g: usize,
) {
    // SAFETY: register-only shuffles; the CPU has AVX-512BW (caller).
    let x = unsafe {
        let ab_lo = _mm512_unpacklo_epi8(v[0], v[1]);
        let ab_hi = _mm512_unpackhi_epi8(v[0], v[1]);
        let cd_lo = _mm512_unpacklo_epi8(v[2], v[3]);
        let cd_hi = _mm512_unpackhi_epi8(v[2], v[3]);
        [
            _mm512_unpacklo_epi16(ab_lo, cd_lo),
            _mm512_unpackhi_epi16(ab_lo, cd_lo),
            _mm512_unpacklo_epi16(ab_hi, cd_hi),
            _mm512_unpackhi_epi16(ab_hi, cd_hi),
        ]
    };
    if ZW {
        for q in 0..4 {
            // SAFETY: register-only; the CPU has AVX-512 VNNI (caller).
            xs[q] = unsafe { _mm512_dpbusd_epi32(xs[q], x[q], _mm512_set1_epi8(1)) };
        }
    }
    for (pj, accp) in acc.iter_mut().enumerate() {
        for q in 0..4 {
            // SAFETY: 64 bytes of group g's weights in the record of plane pj of the pass
            // (contract); VNNI present (caller).
            accp[q] = unsafe {
                let w = rec.add(pj * plane + g * 4 * BC + 64 * q) as *const __m512i;
                _mm512_dpbusd_epi32(accp[q], x[q], _mm512_loadu_si512(w))
            };
        }
    }
}

/// One pass: planes `j0..j0 + PJ` of the block of channels `ic0..ic0 + n` (`mask` has
/// the low `n` bits set), whose first plane record is `rec`. `NULLS`: some tap is null.
///
/// # Safety
/// AVX-512F/BW/VNNI present; the contract of [`DepthwiseKernel::pixel`] (with no null
/// tap unless `NULLS`); `rec` is the record of (this block, plane `j0`) and
/// `j0 + PJ <= M`; `n = min(64, C − ic0) ≥ 1`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pass<const PJ: usize, const ZW: bool, const SIGNED: bool, const NULLS: bool>(
    a: &DepthwiseArgs,
    rec: *const u8,
    plane: usize,
    ic0: usize,
    n: usize,
    mask: u64,
    j0: usize,
    zx: __m512i,
) {
    let (t_n, m) = (a.n_taps, a.multiplier);
    let (full, rest) = (t_n / 4, t_n % 4);
    let g_n = t_n.div_ceil(4);
    // SAFETY: register-only.
    let zero = unsafe { _mm512_setzero_si512() };
    let mut acc = [[zero; 4]; PJ];
    let mut xs = [zero; 4];
    for g in 0..full {
        // SAFETY: taps 4g..4g + 4 < T exist; each is null (only with NULLS) or holds C
        // bytes, of which the loads read those of `mask` from ic0 (< C).
        let v = unsafe {
            let tp = a.taps.add(4 * g);
            [
                tap::<NULLS, SIGNED>(*tp, ic0, mask, zx),
                tap::<NULLS, SIGNED>(*tp.add(1), ic0, mask, zx),
                tap::<NULLS, SIGNED>(*tp.add(2), ic0, mask, zx),
                tap::<NULLS, SIGNED>(*tp.add(3), ic0, mask, zx),
            ]
        };
        // SAFETY: group g < G of the records of planes j0..j0 + PJ (caller).
        unsafe { group::<PJ, ZW>(&mut acc, &mut xs, v, rec, plane, g) };
    }
    if rest > 0 {
        // The last group: slots past T read zx.
        let mut v = [zx; 4];
        for (k, vk) in v.iter_mut().take(rest).enumerate() {
            // SAFETY: tap 4·full + k < T, as above.
            *vk = unsafe { tap::<NULLS, SIGNED>(*a.taps.add(4 * full + k), ic0, mask, zx) };
        }
        // SAFETY: as above, for the last group.
        unsafe { group::<PJ, ZW>(&mut acc, &mut xs, v, rec, plane, full) };
    }
    // SAFETY: register-only.
    let zk = unsafe { _mm512_set1_epi32(a.zx) };
    for (pj, accp) in acc.iter_mut().enumerate() {
        // SAFETY: the record's wsum and zwp arrays (64 i32 each) follow its weights.
        let sums = unsafe { rec.add(pj * plane + g_n * 4 * BC) };
        for q in 0..4 {
            // SAFETY: 64 bytes of wsum (and of zwp) for vector q; AVX-512F present.
            unsafe {
                let ws = _mm512_loadu_si512(sums.add(64 * q) as *const __m512i);
                accp[q] = _mm512_sub_epi32(accp[q], _mm512_mullo_epi32(zk, ws));
                if ZW {
                    let zp = _mm512_loadu_si512(sums.add(4 * BC + 64 * q) as *const __m512i);
                    accp[q] = _mm512_sub_epi32(accp[q], _mm512_mullo_epi32(zp, xs[q]));
                }
            }
        }
    }
    if m == 1 {
        // SAFETY: register-only; then `out` holds C i32 and ic0 + n <= C.
        unsafe { store_first(a.out.add(ic0), &transpose4(acc[0]), n) };
    } else if m == 2 && PJ == 2 {
        // Lane L of lo[q] holds output channels 2·ic0 + 32L + 8q + 0..4, of hi[q] + 4..8.
        // SAFETY: register-only shuffles; then `out` holds 2C i32 and 2(ic0 + n) <= 2C.
        unsafe {
            let mut lo = [zero; 4];
            let mut hi = [zero; 4];
            for q in 0..4 {
                lo[q] = _mm512_unpacklo_epi32(acc[0][q], acc[PJ - 1][q]);
                hi[q] = _mm512_unpackhi_epi32(acc[0][q], acc[PJ - 1][q]);
            }
            let even = transpose4([lo[0], hi[0], lo[1], hi[1]]); // vectors 0, 2, 4, 6
            let odd = transpose4([lo[2], hi[2], lo[3], hi[3]]); // vectors 1, 3, 5, 7
            let all = [
                even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3],
            ];
            store_first(a.out.add(2 * ic0), &all, 2 * n);
        }
    } else {
        for (pj, accp) in acc.iter().enumerate() {
            let mut tmp = [0i32; BC];
            // SAFETY: `tmp` holds 64 i32; `out` holds C·M i32, ic0 + n <= C, j0 + pj < M.
            unsafe {
                store_first(tmp.as_mut_ptr(), &transpose4(*accp), BC);
                scatter_plane(&tmp[..n], a.out, ic0, m, j0 + pj);
            }
        }
    }
}

/// Every block, planes in passes of `PJ` (a last pass of `M % PJ` planes goes through
/// the instances for 1..=3 planes).
///
/// # Safety
/// AVX-512F/BW/VNNI present; the contract of [`DepthwiseKernel::pixel`] (with no null
/// tap unless `NULLS`); `ZW` is the packed flag.
#[inline(always)]
unsafe fn blocks<const PJ: usize, const ZW: bool, const SIGNED: bool, const NULLS: bool>(
    a: &DepthwiseArgs,
) {
    let (c, m) = (a.channels, a.multiplier);
    let plane = c4_plane_bytes(BC, a.n_taps);
    // SAFETY: register-only.
    let zx = unsafe { _mm512_set1_epi8(a.zx as u8 as i8) };
    let (whole, rest) = (m - m % PJ, m % PJ);
    let mut ic0 = 0;
    while ic0 < c {
        let n = (c - ic0).min(BC);
        let mask = if n == BC { u64::MAX } else { (1u64 << n) - 1 };
        // SAFETY: the records of block ic0 / 64 lie inside the layout of (T, C, M).
        let rec = unsafe { a.packed.add(HEADER + (ic0 / BC) * m * plane) };
        let mut j0 = 0;
        while j0 < whole {
            // SAFETY: planes j0..j0 + PJ <= M of this block; the rest is the caller's
            // contract.
            unsafe {
                pass::<PJ, ZW, SIGNED, NULLS>(a, rec.add(j0 * plane), plane, ic0, n, mask, j0, zx)
            };
            j0 += PJ;
        }
        if rest > 0 {
            // SAFETY: as above, for the last `rest` planes.
            unsafe {
                let r = rec.add(j0 * plane);
                match rest {
                    1 => pass::<1, ZW, SIGNED, NULLS>(a, r, plane, ic0, n, mask, j0, zx),
                    2 => pass::<2, ZW, SIGNED, NULLS>(a, r, plane, ic0, n, mask, j0, zx),
                    _ => pass::<3, ZW, SIGNED, NULLS>(a, r, plane, ic0, n, mask, j0, zx),
                }
            }
        }
        ic0 += BC;
    }
}

/// # Safety
/// AVX-512F/BW/VNNI present; the contract of [`DepthwiseKernel::pixel`] (with no null
/// tap unless `NULLS`).
#[inline(always)]
unsafe fn run_taps<const SIGNED: bool, const NULLS: bool>(a: &DepthwiseArgs) {
    // SAFETY: the packed buffer starts with its header (contract).
    let zw = unsafe { flags(a.packed) } & FLAG_ZW != 0;
    // SAFETY: forwarded contract, with the packed flag.
    unsafe {
        match (a.multiplier, zw) {
            (1, false) => blocks::<1, false, SIGNED, NULLS>(a),
            (1, true) => blocks::<1, true, SIGNED, NULLS>(a),
            (2, false) => blocks::<2, false, SIGNED, NULLS>(a),
            (2, true) => blocks::<2, true, SIGNED, NULLS>(a),
            (_, false) => blocks::<PJ_MAX, false, SIGNED, NULLS>(a),
            (_, true) => blocks::<PJ_MAX, true, SIGNED, NULLS>(a),
        }
    }
}

/// # Safety
/// AVX-512F/BW/VNNI present; the contract of [`DepthwiseKernel::pixel`].
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn run<const SIGNED: bool>(a: &DepthwiseArgs) {
    // SAFETY: `taps` holds `n_taps` pointers (contract).
    let taps = unsafe { core::slice::from_raw_parts(a.taps, a.n_taps) };
    // SAFETY: forwarded contract; without null taps every load is unconditional.
    unsafe {
        if taps.iter().any(|p| p.is_null()) {
            run_taps::<SIGNED, true>(a)
        } else {
            run_taps::<SIGNED, false>(a)
        }
    }
}

/// # Safety
/// See [`DepthwiseKernel::pixel`]; the table is used only where AVX-512 VNNI is present.
unsafe fn pixel(a: &DepthwiseArgs) {
    // SAFETY: the packed buffer has a header (contract).
    debug_assert!(unsafe { header_matches(a.packed, a.n_taps, a.channels, a.multiplier) });
    // SAFETY: the engine selects this table only when AVX-512F/BW/VNNI are present; the
    // rest is the caller's contract.
    unsafe {
        if a.xor == 0 {
            run::<false>(a)
        } else {
            run::<true>(a)
        }
    }
}
