//! The fused output stage on 8 i32 lanes (one ymm), bit-identical to
//! [`OutputStage::store`](crate::OutputStage::store), and the GEMM tile epilogue for
//! 16-column (two-ymm) tiles. Needs AVX2.
//!
//! The same arithmetic as the 512-bit stage, with AVX2's narrower instruction set:
//! - Fp32: `cvtdq2ps`, `mulps`, clamp (`maxps`/`minps`), round-to-nearest-even
//!   (`roundps`) then `cvttps2dq`, `+ zp`;
//! - DoubleRounding: SRDHM as `(x·m0 + 2^30) >> 31` on even/odd 64-bit lanes (`vpmuldq`;
//!   only the low 32 bits of the shifted sum are kept, so a logical shift suffices),
//!   RDBPOT with per-lane exponent (`vpsravd`);
//! - SingleRounding: 64-bit `(x·m0 + 2^(s−1)) >> s` with the arithmetic shift built from
//!   `vpsrlvq` and the sign, clamped with `vpcmpgtq` + blends.
//!
//! Stores of i32/f32 use `vpmaskmovd`; u8/i8 lanes are narrowed with `packssdw` +
//! `packuswb`/`packsswb` and written whole (8 bytes) or lane by lane at block edges.

use core::arch::x86_64::*;

use crate::stage::{kind, stage_kind};
use crate::{DstType, OutputStage, TileArgs};

/// The parameters of one 8-column group.
#[derive(Clone, Copy)]
pub(crate) struct Params8 {
    bias: __m256i,
    scale: __m256,
    fbias: __m256,
    m0: __m256i,
    shift: __m256i,
    lo_i: __m256i,
    hi_i: __m256i,
    lo_f: __m256,
    hi_f: __m256,
    zp: __m256i,
    has_fbias: bool,
}

/// Loads the parameters of columns `first_col + l` for lanes `l` in `begin..end`.
///
/// # Safety
/// AVX2 present; the stage's pointers are valid for those columns.
#[inline(always)]
pub(crate) unsafe fn load_params(
    stage: &OutputStage,
    first_col: usize,
    begin: usize,
    end: usize,
) -> Params8 {
    let mut bias = [0i32; 8];
    let mut scale = [1.0f32; 8];
    let mut fbias = [0.0f32; 8];
    let mut m0 = [1i32 << 30; 8];
    let mut shift = [0i32; 8];
    let ps = stage.param_stride;
    if begin == 0 && end == 8 && stage.multiplier.is_null() {
        // All eight lanes, no fixed-point multipliers (i32, f32 and Fp32 stages): whole
        // vector loads of the per-column arrays, the same values as the loop below.
        // SAFETY: AVX2 present; lanes 0..8 are columns first_col..first_col+8, valid for
        // every non-null pointer (per-column arrays when `ps == 1`, one value when 0).
        unsafe {
            let col = first_col;
            return Params8 {
                bias: if stage.bias.is_null() {
                    _mm256_setzero_si256()
                } else {
                    _mm256_loadu_si256(stage.bias.add(col) as *const _)
                },
                scale: match (stage.scale.is_null(), ps) {
                    (true, _) => _mm256_set1_ps(1.0),
                    (false, 0) => _mm256_set1_ps(*stage.scale),
                    (false, _) => _mm256_loadu_ps(stage.scale.add(col)),
                },
                fbias: if stage.f32_bias.is_null() {
                    _mm256_setzero_ps()
                } else {
                    _mm256_loadu_ps(stage.f32_bias.add(col))
                },
                m0: _mm256_set1_epi32(1 << 30),
                shift: _mm256_setzero_si256(),
                lo_i: _mm256_set1_epi32(stage.qmin - stage.zero_point),
                hi_i: _mm256_set1_epi32(stage.qmax - stage.zero_point),
                lo_f: _mm256_set1_ps((stage.qmin - stage.zero_point) as f32),
                hi_f: _mm256_set1_ps((stage.qmax - stage.zero_point) as f32),
                zp: _mm256_set1_epi32(stage.zero_point),
                has_fbias: !stage.f32_bias.is_null(),
            };
        }
    }
    for l in begin..end {
        let col = first_col + l;
        // SAFETY: lane l is in the block, so every non-null pointer is valid for `col`.
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
    // SAFETY: AVX2 present; each array is 32 bytes.
    unsafe {
        Params8 {
            bias: _mm256_loadu_si256(bias.as_ptr() as *const _),
            scale: _mm256_loadu_ps(scale.as_ptr()),
            fbias: _mm256_loadu_ps(fbias.as_ptr()),
            m0: _mm256_loadu_si256(m0.as_ptr() as *const _),
            shift: _mm256_loadu_si256(shift.as_ptr() as *const _),
            lo_i: _mm256_set1_epi32(stage.qmin - stage.zero_point),
            hi_i: _mm256_set1_epi32(stage.qmax - stage.zero_point),
            lo_f: _mm256_set1_ps((stage.qmin - stage.zero_point) as f32),
            hi_f: _mm256_set1_ps((stage.qmax - stage.zero_point) as f32),
            zp: _mm256_set1_epi32(stage.zero_point),
            has_fbias: !stage.f32_bias.is_null(),
        }
    }
}

/// gemmlowp double rounding per lane.
#[inline(always)]
unsafe fn double_rounding(x: __m256i, m0: __m256i, shift: __m256i) -> __m256i {
    // SAFETY: AVX2 present in every caller.
    unsafe {
        let zero = _mm256_setzero_si256();
        let left = _mm256_max_epi32(shift, zero);
        let right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
        let max = _mm256_set1_epi32(i32::MAX);
        let min = _mm256_set1_epi32(i32::MIN);
        let hi_lim = _mm256_srav_epi32(max, left);
        let lo_lim = _mm256_srav_epi32(min, left);
        let mut xs = _mm256_sllv_epi32(x, left);
        xs = _mm256_blendv_epi8(xs, max, _mm256_cmpgt_epi32(x, hi_lim));
        xs = _mm256_blendv_epi8(xs, min, _mm256_cmpgt_epi32(lo_lim, x));
        let nudge = _mm256_set1_epi64x(1 << 30);
        let pe = _mm256_add_epi64(_mm256_mul_epi32(xs, m0), nudge);
        let po = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_srli_epi64::<32>(xs), _mm256_srli_epi64::<32>(m0)),
            nudge,
        );
        // Bits 31..63 of the sums; only their low 32 bits are kept.
        let qe = _mm256_srli_epi64::<31>(pe);
        let qo = _mm256_slli_epi64::<1>(po);
        let h = _mm256_blend_epi32::<0b1010_1010>(
            qe,
            _mm256_and_si256(qo, _mm256_set1_epi64x(!0xffff_ffff)),
        );
        let one = _mm256_set1_epi32(1);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
        let rem = _mm256_and_si256(h, mask);
        let thr = _mm256_add_epi32(_mm256_srai_epi32::<1>(mask), _mm256_srli_epi32::<31>(h));
        let q = _mm256_srav_epi32(h, right);
        _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, thr))
    }
}

/// 64-bit arithmetic right shift by per-lane counts `s` in 1..=62.
#[inline(always)]
unsafe fn srav64(x: __m256i, s: __m256i) -> __m256i {
    // SAFETY: AVX2 present in every caller.
    unsafe {
        let neg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
        let fill = _mm256_sllv_epi64(neg, _mm256_sub_epi64(_mm256_set1_epi64x(64), s));
        _mm256_or_si256(_mm256_srlv_epi64(x, s), fill)
    }
}

/// Signed 64-bit clamp.
#[inline(always)]
unsafe fn clamp64(v: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    // SAFETY: AVX2 present in every caller.
    unsafe {
        let v = _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
        _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi))
    }
}

/// ruy single rounding per lane, clamped to `[lo, hi]`.
#[inline(always)]
unsafe fn single_rounding(
    x: __m256i,
    m0: __m256i,
    shift: __m256i,
    lo: __m256i,
    hi: __m256i,
) -> __m256i {
    // SAFETY: AVX2 present in every caller.
    unsafe {
        let s = _mm256_sub_epi32(_mm256_set1_epi32(31), shift);
        let low32 = _mm256_set1_epi64x(0xffff_ffff);
        let se = _mm256_and_si256(s, low32);
        let so = _mm256_srli_epi64::<32>(s);
        let one = _mm256_set1_epi64x(1);
        let lo64 = _mm256_srai_epi32::<31>(lo); // sign words
        let lo64 = _mm256_blend_epi32::<0b1010_1010>(lo, lo64);
        let hi64 = _mm256_blend_epi32::<0b1010_1010>(hi, _mm256_srai_epi32::<31>(hi));
        let ve = round_shift64(_mm256_mul_epi32(x, m0), se, one, lo64, hi64);
        let vo = round_shift64(
            _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(m0)),
            so,
            one,
            lo64,
            hi64,
        );
        _mm256_blend_epi32::<0b1010_1010>(ve, _mm256_slli_epi64::<32>(vo))
    }
}

/// `(p + 2^(s−1)) >> s` on 64-bit lanes (`one` holds 1 in each), clamped to
/// `[lo, hi]`. A function, not a closure: the closure was compiled without AVX2 and
/// called out of line for every vector.
///
/// # Safety
/// AVX2 present.
#[inline(always)]
unsafe fn round_shift64(p: __m256i, s: __m256i, one: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    // SAFETY: AVX2 present (caller contract); register operations only.
    unsafe {
        let r = _mm256_sllv_epi64(one, _mm256_sub_epi64(s, one));
        clamp64(srav64(_mm256_add_epi64(p, r), s), lo, hi)
    }
}

/// Applies the stage to 8 accumulators and stores lanes `begin..end` at `dst` (a byte
/// pointer to lane 0's element; only lanes in the range are written).
///
/// # Safety
/// AVX2 present; `p` loaded for the same stage and lanes; `dst` plus lane `l` is a valid
/// element of `stage.dst_type` for every `l` in `begin..end`.
#[inline(always)]
pub(crate) unsafe fn store8(
    stage: &OutputStage,
    p: &Params8,
    acc: __m256i,
    begin: usize,
    end: usize,
    dst: *mut u8,
) {
    // SAFETY: forwarded contract; the kind is the stage's.
    unsafe {
        match stage_kind(stage) {
            kind::I32 => store8_k::<{ kind::I32 }>(stage, p, acc, begin, end, dst),
            kind::F32 => store8_k::<{ kind::F32 }>(stage, p, acc, begin, end, dst),
            kind::FP32 => store8_k::<{ kind::FP32 }>(stage, p, acc, begin, end, dst),
            kind::DOUBLE => store8_k::<{ kind::DOUBLE }>(stage, p, acc, begin, end, dst),
            _ => store8_k::<{ kind::SINGLE }>(stage, p, acc, begin, end, dst),
        }
    }
}

/// [`store8`] for a stage of kind `K` ([`kind`]), with no branch on the scheme left.
///
/// # Safety
/// As for [`store8`], with `K == stage_kind(stage)`.
#[inline(always)]
unsafe fn store8_k<const K: u8>(
    stage: &OutputStage,
    p: &Params8,
    acc: __m256i,
    begin: usize,
    end: usize,
    dst: *mut u8,
) {
    // SAFETY: AVX2 present; the masked stores and the byte loop write only lanes in
    // begin..end, which are valid (contract).
    unsafe {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let lane_mask = _mm256_and_si256(
            _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(begin as i32 - 1)),
            _mm256_cmpgt_epi32(_mm256_set1_epi32(end as i32), idx),
        );
        let v = _mm256_add_epi32(acc, p.bias);
        match K {
            kind::I32 => _mm256_maskstore_epi32(dst as *mut i32, lane_mask, v),
            kind::F32 => {
                let mut y = _mm256_mul_ps(_mm256_cvtepi32_ps(v), p.scale);
                if p.has_fbias {
                    y = _mm256_add_ps(y, p.fbias);
                }
                _mm256_maskstore_ps(dst as *mut f32, lane_mask, y)
            }
            _ => {
                let q = match K {
                    kind::FP32 => {
                        let y = _mm256_mul_ps(_mm256_cvtepi32_ps(v), p.scale);
                        let y = _mm256_min_ps(_mm256_max_ps(y, p.lo_f), p.hi_f);
                        let y =
                            _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
                        _mm256_cvttps_epi32(y)
                    }
                    kind::DOUBLE => {
                        let r = double_rounding(v, p.m0, p.shift);
                        _mm256_min_epi32(_mm256_max_epi32(r, p.lo_i), p.hi_i)
                    }
                    _ => single_rounding(v, p.m0, p.shift, p.lo_i, p.hi_i),
                };
                let q = _mm256_add_epi32(q, p.zp);
                let w =
                    _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256::<1>(q));
                let b = if stage.dst_type == DstType::U8 {
                    _mm_packus_epi16(w, w)
                } else {
                    _mm_packs_epi16(w, w)
                };
                if begin == 0 && end == 8 {
                    _mm_storel_epi64(dst as *mut __m128i, b);
                } else {
                    let bytes = _mm_cvtsi128_si64(b).to_le_bytes();
                    for (l, &byte) in bytes.iter().enumerate().take(end).skip(begin) {
                        *dst.add(l) = byte;
                    }
                }
            }
        }
    }
}

/// Σ_k (A[k] ^ xor) of one row, with `vpsadbw`.
///
/// # Safety
/// AVX2 present; `row` valid for `k` bytes.
#[inline(always)]
pub(crate) unsafe fn row_sum<const XOR: bool>(row: *const u8, k: usize) -> i32 {
    // SAFETY: full 32-byte loads stay below k; the tail is read byte by byte.
    unsafe {
        let zero = _mm256_setzero_si256();
        let flip = _mm256_set1_epi8(0x80u8 as i8);
        let mut s = zero;
        let mut off = 0;
        while off + 32 <= k {
            let mut v = _mm256_loadu_si256(row.add(off) as *const _);
            if XOR {
                v = _mm256_xor_si256(v, flip);
            }
            s = _mm256_add_epi64(s, _mm256_sad_epu8(v, zero));
            off += 32;
        }
        let mut lanes = [0i64; 4];
        _mm256_storeu_si256(lanes.as_mut_ptr() as *mut _, s);
        let mut total = lanes.iter().sum::<i64>();
        while off < k {
            total += (*row.add(off) ^ if XOR { 0x80 } else { 0 }) as i64;
            off += 1;
        }
        total as i32
    }
}

/// Zero-point correction and output stage for `M` rows × 16 lanes (two ymm halves),
/// storing lanes `lane_begin..lane_end`.
///
/// # Safety
/// AVX2 present; `args` valid as for [`crate::GemmKernel::tile`] with NR = 16.
#[inline(always)]
pub(crate) unsafe fn epilogue<const M: usize, const XOR: bool>(
    args: &TileArgs,
    acc: [[__m256i; 2]; M],
) {
    // SAFETY: forwarded contract; the kind is the stage's.
    unsafe {
        if M < 6 {
            return epilogue_k::<M, XOR, { kind::ANY }>(args, acc);
        }
        match stage_kind(&*args.stage) {
            kind::I32 => epilogue_k::<M, XOR, { kind::I32 }>(args, acc),
            kind::F32 => epilogue_k::<M, XOR, { kind::F32 }>(args, acc),
            kind::FP32 => epilogue_k::<M, XOR, { kind::FP32 }>(args, acc),
            kind::DOUBLE => epilogue_k::<M, XOR, { kind::DOUBLE }>(args, acc),
            _ => epilogue_k::<M, XOR, { kind::SINGLE }>(args, acc),
        }
    }
}

/// [`epilogue`] for a stage of kind `K`: the stage is resolved once per tile, not per
/// stored vector.
///
/// # Safety
/// As for [`epilogue`], with `K == stage_kind(stage)`.
#[inline(always)]
unsafe fn epilogue_k<const M: usize, const XOR: bool, const K: u8>(
    args: &TileArgs,
    acc: [[__m256i; 2]; M],
) {
    // SAFETY: AVX2 present; per-column arrays hold NR = 16 entries; the stage and the
    // destination are valid for the lanes in lane_begin..lane_end (tile contract).
    unsafe {
        let stage = &*args.stage;
        let es = stage.dst_type.size();
        let mut rowsum = [0i32; M];
        if args.zb_nonzero {
            for (i, r) in rowsum.iter_mut().enumerate() {
                *r = row_sum::<XOR>(args.a.add(i * args.a_stride), args.k);
            }
        }
        let za = _mm256_set1_epi32(args.za);
        let panel_col = args.col0 - args.lane_begin;
        for h in 0..2 {
            let begin = args.lane_begin.max(8 * h).min(8 * h + 8) - 8 * h;
            let end = args.lane_end.max(8 * h).min(8 * h + 8) - 8 * h;
            if begin >= end {
                continue;
            }
            let corr =
                _mm256_mullo_epi32(za, _mm256_loadu_si256(args.colcorr.add(8 * h) as *const _));
            let zb = _mm256_loadu_si256(args.zb.add(8 * h) as *const _);
            let p = load_params(stage, panel_col + 8 * h, begin, end);
            for (i, row) in acc.iter().enumerate() {
                let mut v = _mm256_add_epi32(row[h], corr);
                if args.zb_nonzero {
                    v = _mm256_sub_epi32(v, _mm256_mullo_epi32(zb, _mm256_set1_epi32(rowsum[i])));
                }
                let dst = args
                    .dst
                    .wrapping_add((i * args.dst_stride + 8 * h) * es)
                    .wrapping_sub(args.lane_begin * es);
                if K == kind::ANY {
                    store8(stage, &p, v, begin, end, dst);
                } else {
                    store8_k::<K>(stage, &p, v, begin, end, dst);
                }
            }
        }
    }
}
