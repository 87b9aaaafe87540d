//! The fused output stage on 4 i32 lanes (one q register), bit-identical to
//! [`OutputStage::store`](crate::OutputStage::store), the row sums of A, and the GEMM
//! tile epilogue shared by the `neon`, `dotprod` and `i8mm` microkernels. Needs
//! Advanced SIMD only.
//!
//! Per lane `l` of a 4-column group starting at global column `c`: `acc + bias[c+l]`,
//! then i32 / f32 (`f32(acc)·scale` then `+ f32_bias`: `fmul` and `fadd`, never a fused
//! `fmla`) / requantized u8/i8 by the stage's scheme:
//! - Fp32: `scvtf`, `fmul`, clamp with `fmax`/`fmin` to `[qmin−zp, qmax−zp]` (no NaN can
//!   arise: `acc` is finite and `scale` finite positive), `fcvtns` (round to nearest,
//!   ties to even), `+ zp`.
//! - DoubleRounding (gemmlowp's NEON path): saturating `x << left` is `sqshl`; SRDHM is
//!   `sqrdmulh`, which computes `sat((2·x·m0 + 2^31) >> 32) = floor((x·m0 + 2^30) /
//!   2^31)` and saturates only `i32::MIN · i32::MIN`, exactly the scalar
//!   [`srdhm`](crate::scalar::requant::srdhm); RDBPOT(h, e) is `srshl(h + fixup, −e)`
//!   where `fixup = −1` for negative `h` (and `e > 0`), added with saturation: `srshl`
//!   by `−e` rounds half up (`(h + 2^(e−1)) >> e`, computed without overflow), and
//!   taking 1 from a negative `h` first turns that into ties away from zero (a tie
//!   moves down, no other value crosses a rounding boundary, and `i32::MIN` is a
//!   multiple of `2^e`, so saturating it changes nothing). Then clamp and `+ zp`.
//! - SingleRounding: `smull`/`smull2` to 64-bit products, `srshl` by `−s`
//!   (`s = 31 − shift` in 1..=62): `(p + 2^(s−1)) >> s` exactly as the scalar
//!   definition (the instruction's rounding addition does not overflow), `sqxtn` to
//!   i32 (saturation is harmless: the clamp bounds lie well inside i32), clamp, `+ zp`.
//!
//! u8/i8 results lie in `[qmin, qmax]`, so two truncating narrows (`xtn`) give the
//! byte. Stores never assume alignment; lanes outside the block are not written.

use core::arch::aarch64::*;

use crate::stage::{kind, stage_kind};
use crate::{OutputStage, TileArgs};

/// The parameters of one 4-column group, loaded once per tile and shared by its rows.
#[derive(Clone, Copy)]
pub(crate) struct Params4 {
    bias: int32x4_t,
    scale: float32x4_t,
    fbias: float32x4_t,
    m0: int32x4_t,
    /// DoubleRounding: `max(shift, 0)`.
    left: int32x4_t,
    /// DoubleRounding: `min(shift, 0)` = −(right shift).
    neg_right: int32x4_t,
    /// SingleRounding: `shift − 31` = −s, sign-extended to 64 bits, lanes 0–1 and 2–3.
    neg_s_lo: int64x2_t,
    neg_s_hi: int64x2_t,
    lo_i: int32x4_t,
    hi_i: int32x4_t,
    lo_f: float32x4_t,
    hi_f: float32x4_t,
    zp: int32x4_t,
    has_fbias: bool,
}

/// Loads the parameters of columns `first_col + l` for lanes `l` in `begin..end`
/// (other lanes get neutral values and are never stored).
///
/// # Safety
/// Advanced SIMD present; the stage's pointers are valid for those columns.
#[inline(always)]
pub(crate) unsafe fn load_params(
    stage: &OutputStage,
    first_col: usize,
    begin: usize,
    end: usize,
) -> Params4 {
    let mut bias = [0i32; 4];
    let mut scale = [1.0f32; 4];
    let mut fbias = [0.0f32; 4];
    let mut m0 = [1i32 << 30; 4];
    let mut shift = [0i32; 4];
    let ps = stage.param_stride;
    for l in begin..end {
        let col = first_col + l;
        // SAFETY: lane l is in the block, so every non-null pointer is valid for `col`
        // (per-column arrays) or `col * param_stride` (0 for per-tensor parameters).
        unsafe {
            if !stage.bias.is_null() {
                bias[l] = *stage.bias.add(col);
            }
            if !stage.scale.is_null() {
                scale[l] = *stage.scale.add(col * ps);
            }
            if !stage.f32_bias.is_null() {
                fbias[l] = *stage.f32_bias.add(col);
            }
            if !stage.multiplier.is_null() {
                let m = *stage.multiplier.add(col * ps);
                m0[l] = m.m0;
                shift[l] = m.shift;
            }
        }
    }
    // SAFETY: Advanced SIMD present; each array holds 4 elements.
    unsafe {
        let shift = vld1q_s32(shift.as_ptr());
        let zero = vdupq_n_s32(0);
        let neg_s = vsubq_s32(shift, vdupq_n_s32(31));
        Params4 {
            bias: vld1q_s32(bias.as_ptr()),
            scale: vld1q_f32(scale.as_ptr()),
            fbias: vld1q_f32(fbias.as_ptr()),
            m0: vld1q_s32(m0.as_ptr()),
            left: vmaxq_s32(shift, zero),
            neg_right: vminq_s32(shift, zero),
            neg_s_lo: vmovl_s32(vget_low_s32(neg_s)),
            neg_s_hi: vmovl_high_s32(neg_s),
            lo_i: vdupq_n_s32(stage.qmin - stage.zero_point),
            hi_i: vdupq_n_s32(stage.qmax - stage.zero_point),
            lo_f: vdupq_n_f32((stage.qmin - stage.zero_point) as f32),
            hi_f: vdupq_n_f32((stage.qmax - stage.zero_point) as f32),
            zp: vdupq_n_s32(stage.zero_point),
            has_fbias: !stage.f32_bias.is_null(),
        }
    }
}

/// gemmlowp double rounding per lane: `RDBPOT(SRDHM(sat(x << left), m0), right)`.
#[inline(always)]
unsafe fn double_rounding(x: int32x4_t, p: &Params4) -> int32x4_t {
    // SAFETY: Advanced SIMD present in every caller.
    unsafe {
        let h = vqrdmulhq_s32(vqshlq_s32(x, p.left), p.m0);
        let fixup = vshrq_n_s32::<31>(vandq_s32(h, p.neg_right));
        vrshlq_s32(vqaddq_s32(h, fixup), p.neg_right)
    }
}

/// ruy single rounding per lane: `(x·m0 + 2^(s−1)) >> s`, saturated to i32.
#[inline(always)]
unsafe fn single_rounding(x: int32x4_t, p: &Params4) -> int32x4_t {
    // SAFETY: Advanced SIMD present in every caller.
    unsafe {
        let lo = vrshlq_s64(vmull_s32(vget_low_s32(x), vget_low_s32(p.m0)), p.neg_s_lo);
        let hi = vrshlq_s64(vmull_high_s32(x, p.m0), p.neg_s_hi);
        vcombine_s32(vqmovn_s64(lo), vqmovn_s64(hi))
    }
}

/// Writes lanes `begin..end` of a 16-byte vector of four 4-byte elements.
///
/// # Safety
/// `dst` plus `4·l` is valid for 4 bytes for every `l` in `begin..end`.
#[inline(always)]
unsafe fn store_words(dst: *mut u8, v: uint8x16_t, begin: usize, end: usize) {
    if begin == 0 && end == 4 {
        // SAFETY: all four elements are valid (contract); a byte store needs no
        // alignment.
        unsafe { vst1q_u8(dst, v) };
    } else {
        let mut tmp = [0u8; 16];
        // SAFETY: `tmp` holds 16 bytes; lanes begin..end of `dst` are valid (contract).
        unsafe {
            vst1q_u8(tmp.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(
                tmp.as_ptr().add(4 * begin),
                dst.add(4 * begin),
                4 * (end - begin),
            );
        }
    }
}

/// Applies the stage to 4 accumulators (bias not yet added) and stores lanes
/// `begin..end` at `dst` (a byte pointer to lane 0's element; only lanes in the range
/// are written, and `dst` may point outside the destination for the others).
///
/// # Safety
/// Advanced SIMD present; `p` loaded by [`load_params`] for the same stage and lanes;
/// `dst` plus lane `l` is a valid element of `stage.dst_type` for every `l` in
/// `begin..end`.
#[inline(always)]
pub(crate) unsafe fn store4(
    stage: &OutputStage,
    p: &Params4,
    acc: int32x4_t,
    begin: usize,
    end: usize,
    dst: *mut u8,
) {
    // SAFETY: forwarded contract; the kind is the stage's.
    unsafe {
        match stage_kind(stage) {
            kind::I32 => store4_k::<{ kind::I32 }>(p, acc, begin, end, dst),
            kind::F32 => store4_k::<{ kind::F32 }>(p, acc, begin, end, dst),
            kind::FP32 => store4_k::<{ kind::FP32 }>(p, acc, begin, end, dst),
            kind::DOUBLE => store4_k::<{ kind::DOUBLE }>(p, acc, begin, end, dst),
            _ => store4_k::<{ kind::SINGLE }>(p, acc, begin, end, dst),
        }
    }
}

/// [`store4`] for a stage of kind `K` ([`kind`]), with no branch on the stage left.
///
/// # Safety
/// As for [`store4`], with `K == stage_kind(stage)` for the stage `p` was loaded from.
#[inline(always)]
unsafe fn store4_k<const K: u8>(
    p: &Params4,
    acc: int32x4_t,
    begin: usize,
    end: usize,
    dst: *mut u8,
) {
    // Advanced SIMD present; every store writes only lanes in begin..end,
    // which are valid elements (contract); `wrapping_add` forms lane addresses that are
    // only dereferenced for those lanes.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let v = vaddq_s32(acc, p.bias);
        match K {
            kind::I32 => store_words(dst, vreinterpretq_u8_s32(v), begin, end),
            kind::F32 => {
                let mut y = vmulq_f32(vcvtq_f32_s32(v), p.scale);
                if p.has_fbias {
                    y = vaddq_f32(y, p.fbias);
                }
                store_words(dst, vreinterpretq_u8_f32(y), begin, end)
            }
            _ => {
                let q = match K {
                    kind::FP32 => {
                        let y = vmulq_f32(vcvtq_f32_s32(v), p.scale);
                        vcvtnq_s32_f32(vminq_f32(vmaxq_f32(y, p.lo_f), p.hi_f))
                    }
                    kind::DOUBLE => vminq_s32(vmaxq_s32(double_rounding(v, p), p.lo_i), p.hi_i),
                    _ => vminq_s32(vmaxq_s32(single_rounding(v, p), p.lo_i), p.hi_i),
                };
                let q = vaddq_s32(q, p.zp);
                let h = vmovn_s32(q);
                let b = vreinterpret_u8_s8(vmovn_s16(vcombine_s16(h, h)));
                if begin == 0 && end == 4 {
                    let word = vget_lane_u32::<0>(vreinterpret_u32_u8(b));
                    (dst as *mut u32).write_unaligned(word);
                } else {
                    let mut bytes = [0u8; 8];
                    vst1_u8(bytes.as_mut_ptr(), b);
                    for (l, &byte) in bytes.iter().enumerate().take(end).skip(begin) {
                        *dst.wrapping_add(l) = byte;
                    }
                }
            }
        }
    }
}

/// Σ of the `k` raw bytes of a row, as u8 (`SIGNED = false`) or i8 (`SIGNED = true`),
/// wrapping in i32: `uaddlp`/`uadalp` (or the signed forms) per 16 bytes, bytes past the
/// last whole vector one by one.
///
/// # Safety
/// Advanced SIMD present; `row` valid for `k` bytes.
#[inline(always)]
pub(crate) unsafe fn row_sum<const SIGNED: bool>(row: *const u8, k: usize) -> i32 {
    // SAFETY: the vector loads cover bytes off..off+16 with off + 16 <= k; the tail is
    // read byte by byte below k.
    unsafe {
        let mut off = 0;
        let mut total = if SIGNED {
            let mut s = vdupq_n_s32(0);
            while off + 16 <= k {
                s = vpadalq_s16(s, vpaddlq_s8(vld1q_s8(row.add(off) as *const i8)));
                off += 16;
            }
            vaddvq_s32(s)
        } else {
            let mut s = vdupq_n_u32(0);
            while off + 16 <= k {
                s = vpadalq_u16(s, vpaddlq_u8(vld1q_u8(row.add(off))));
                off += 16;
            }
            vaddvq_u32(s) as i32
        };
        while off < k {
            let b = *row.add(off);
            total = total.wrapping_add(if SIGNED { b as i8 as i32 } else { b as i32 });
            off += 1;
        }
        total
    }
}

/// The row sums a tile needs, or zeros when no B zero point is non-zero (then they are
/// not used): `Σ raw` with the raw bytes read as u8 (`SIGNED = false`) or i8.
///
/// # Safety
/// Advanced SIMD present; `args.a` valid for `M` rows of `args.k` bytes.
#[inline(always)]
pub(crate) unsafe fn row_sums<const M: usize, const SIGNED: bool>(args: &TileArgs) -> [i32; M] {
    let mut sums = [0i32; M];
    if args.zb_nonzero {
        for (i, s) in sums.iter_mut().enumerate() {
            // SAFETY: row i < M of the tile holds k bytes (contract).
            *s = unsafe { row_sum::<SIGNED>(args.a.add(i * args.a_stride), args.k) };
        }
    }
    sums
}

/// The row sums in the signed domain of the `aarch64` module docs, for kernels that
/// multiply `raw ^ 0x80` as i8 when `FLIP` (u8 A: `Σ raw − 128·K`) and the raw i8
/// bytes otherwise.
///
/// # Safety
/// As for [`row_sums`].
#[inline(always)]
pub(crate) unsafe fn signed_row_sums<const M: usize, const FLIP: bool>(
    args: &TileArgs,
) -> [i32; M] {
    if FLIP {
        // SAFETY: forwarded contract.
        let mut sums = unsafe { row_sums::<M, false>(args) };
        let shift = (args.k as i32).wrapping_mul(128);
        for s in sums.iter_mut() {
            *s = s.wrapping_sub(shift);
        }
        sums
    } else {
        // SAFETY: forwarded contract.
        unsafe { row_sums::<M, true>(args) }
    }
}

/// Zero-point correction and output stage for `M` rows × `4·NV` lanes (`NV` vectors of 4
/// columns per row), storing lanes `lane_begin..lane_end`:
/// `acc + za·colcorr − zb·rowsum`, then [`store4`]. `za` and `rowsum` are in the domain
/// the kernel multiplied in (see the `aarch64` module docs: `za − 128` and the signed
/// row sum for flipped or i8 A).
///
/// # Safety
/// Advanced SIMD present; `args` valid as for [`crate::GemmKernel::tile`] with
/// `NR = 4·NV`; `rowsum` as computed by [`row_sums`] for the same rows.
#[inline(always)]
pub(crate) unsafe fn epilogue<const M: usize, const NV: usize>(
    args: &TileArgs,
    acc: [[int32x4_t; NV]; M],
    za: i32,
    rowsum: [i32; M],
) {
    // SAFETY: forwarded contract; the kind is the stage's.
    unsafe {
        if M < 4 {
            return epilogue_k::<M, NV, { kind::ANY }>(args, acc, za, rowsum);
        }
        match stage_kind(&*args.stage) {
            kind::I32 => epilogue_k::<M, NV, { kind::I32 }>(args, acc, za, rowsum),
            kind::F32 => epilogue_k::<M, NV, { kind::F32 }>(args, acc, za, rowsum),
            kind::FP32 => epilogue_k::<M, NV, { kind::FP32 }>(args, acc, za, rowsum),
            kind::DOUBLE => epilogue_k::<M, NV, { kind::DOUBLE }>(args, acc, za, rowsum),
            _ => epilogue_k::<M, NV, { kind::SINGLE }>(args, acc, za, rowsum),
        }
    }
}

/// [`epilogue`] for a stage of kind `K`: the stage is resolved once per tile, not per
/// stored vector.
///
/// # Safety
/// As for [`epilogue`], with `K == stage_kind(stage)`.
#[inline(always)]
unsafe fn epilogue_k<const M: usize, const NV: usize, const K: u8>(
    args: &TileArgs,
    acc: [[int32x4_t; NV]; M],
    za: i32,
    rowsum: [i32; M],
) {
    // Advanced SIMD present; the per-column arrays hold NR = 4·NV entries; the
    // stage parameters and destination are valid for the lanes in
    // lane_begin..lane_end (tile contract); `store4` writes only those lanes.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let stage = &*args.stage;
        let es = stage.dst_type.size();
        let za = vdupq_n_s32(za);
        let panel_col = args.col0 - args.lane_begin;
        for v in 0..NV {
            let begin = args.lane_begin.clamp(4 * v, 4 * v + 4) - 4 * v;
            let end = args.lane_end.clamp(4 * v, 4 * v + 4) - 4 * v;
            if begin >= end {
                continue;
            }
            let corr = vmulq_s32(za, vld1q_s32(args.colcorr.add(4 * v)));
            let zb = vld1q_s32(args.zb.add(4 * v));
            let p = load_params(stage, panel_col + 4 * v, begin, end);
            for (i, row) in acc.iter().enumerate() {
                let mut x = vaddq_s32(row[v], corr);
                if args.zb_nonzero {
                    x = vmlsq_s32(x, zb, vdupq_n_s32(rowsum[i]));
                }
                let dst = args
                    .dst
                    .wrapping_add((i * args.dst_stride + 4 * v) * es)
                    .wrapping_sub(args.lane_begin * es);
                if K == kind::ANY {
                    store4(stage, &p, x, begin, end, dst);
                } else {
                    store4_k::<K>(&p, x, begin, end, dst);
                }
            }
        }
    }
}
