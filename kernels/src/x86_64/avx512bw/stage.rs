//! The fused output stage on 16 i32 lanes (one zmm), bit-identical to
//! [`OutputStage::store`](crate::OutputStage::store). Needs AVX-512F (+BW for nothing
//! here; kept with the BW folder because every user has BW).
//!
//! Per lane `l` of a 16-column group starting at global column `c`:
//! `acc + bias[c+l]`, then i32 / f32 (`f32(acc)·scale` then `+ f32_bias`, never fused) /
//! requantized u8/i8 by the stage's scheme:
//! - Fp32: `cvtdq2ps`, `mulps`, clamp with `maxps`/`minps` to `[qmin−zp, qmax−zp]`,
//!   `cvtps2dq` with round-to-nearest-even, `+ zp`;
//! - DoubleRounding: saturating `x << left`, SRDHM as `(x·m0 + 2^30) >> 31` on 64-bit
//!   even/odd lanes (equal to gemmlowp's nudge-and-truncate; `m0 > 0` rules out the
//!   overflow case), RDBPOT with a per-lane exponent, clamp, `+ zp`;
//! - SingleRounding: `(x·m0 + 2^(s−1)) >> s` on 64-bit lanes, clamped in 64-bit, `+ zp`.
//!
//! Stores are masked, so lanes outside the block are neither read nor written.

use core::arch::x86_64::*;

use crate::stage::{kind, stage_kind};
use crate::{OutputStage, TileArgs};

/// The parameters of one 16-column group, loaded once per tile.
#[derive(Clone, Copy)]
pub(crate) struct Params16 {
    bias: __m512i,
    scale: __m512,
    fbias: __m512,
    m0: __m512i,
    shift: __m512i,
    lo_i: __m512i,
    hi_i: __m512i,
    lo_f: __m512,
    hi_f: __m512,
    zp: __m512i,
    has_fbias: bool,
}

/// Loads the parameters of global columns `first_col + l` for the lanes `l` set in
/// `mask` (other lanes get harmless neutral values). Per-tensor parameters are
/// broadcast; per-channel ones are read with masked vector loads (masked-off lanes are
/// not read), the interleaved `(m0, shift)` pairs deinterleaved with `vpermt2d`.
///
/// # Safety
/// AVX-512F is available; the stage's pointers are valid for every column of a set lane.
#[inline(always)]
pub(crate) unsafe fn load_params(stage: &OutputStage, first_col: usize, mask: u16) -> Params16 {
    let per_channel = stage.param_stride != 0;
    // AVX-512F is available (caller contract). Every pointer is only
    // dereferenced when non-null, for per-tensor parameters at index 0 and otherwise
    // through masked loads of the set lanes' columns, which are valid (caller contract);
    // `wrapping_add` forms the base address without asserting it is in bounds.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let bias = if stage.bias.is_null() {
            _mm512_setzero_si512()
        } else {
            _mm512_maskz_loadu_epi32(mask, stage.bias.wrapping_add(first_col))
        };
        let fbias = if stage.f32_bias.is_null() {
            _mm512_setzero_ps()
        } else {
            _mm512_maskz_loadu_ps(mask, stage.f32_bias.wrapping_add(first_col))
        };
        let (m0, shift) = if stage.multiplier.is_null() {
            (_mm512_set1_epi32(1 << 30), _mm512_setzero_si512())
        } else if per_channel {
            // Pairs (m0, shift) of lanes 0..8 and 8..16: each lane bit covers two i32.
            let base = stage.multiplier.wrapping_add(first_col) as *const i32;
            let lo = _mm512_maskz_loadu_epi32(spread(mask as u8), base);
            let hi = _mm512_maskz_loadu_epi32(spread((mask >> 8) as u8), base.wrapping_add(16));
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            (
                _mm512_permutex2var_epi32(lo, even, hi),
                _mm512_permutex2var_epi32(lo, odd, hi),
            )
        } else {
            let m = *stage.multiplier;
            (_mm512_set1_epi32(m.m0), _mm512_set1_epi32(m.shift))
        };
        Params16 {
            bias,
            scale: load_f(stage.scale, 1.0, per_channel, first_col, mask),
            fbias,
            m0,
            shift,
            lo_i: _mm512_set1_epi32(stage.qmin - stage.zero_point),
            hi_i: _mm512_set1_epi32(stage.qmax - stage.zero_point),
            lo_f: _mm512_set1_ps((stage.qmin - stage.zero_point) as f32),
            hi_f: _mm512_set1_ps((stage.qmax - stage.zero_point) as f32),
            zp: _mm512_set1_epi32(stage.zero_point),
            has_fbias: !stage.f32_bias.is_null(),
        }
    }
}

/// An f32 parameter of the lanes set in `mask`: `neutral` when `p` is null, the
/// per-channel values of columns `first_col + l` (masked load, others `neutral`), or the
/// per-tensor value broadcast. A function, not a closure: a closure is compiled without
/// AVX-512 and, when not inlined, became a call with a `vzeroupper` in every epilogue.
///
/// # Safety
/// AVX-512F is available; `p` is null or valid as [`load_params`] requires.
#[inline(always)]
unsafe fn load_f(
    p: *const f32,
    neutral: f32,
    per_channel: bool,
    first_col: usize,
    mask: u16,
) -> __m512 {
    // SAFETY: AVX-512F is available; a per-tensor `p` is read at index 0, a per-channel
    // one only at the set lanes' columns (caller contract).
    unsafe {
        if p.is_null() {
            _mm512_set1_ps(neutral)
        } else if per_channel {
            _mm512_mask_loadu_ps(_mm512_set1_ps(neutral), mask, p.wrapping_add(first_col))
        } else {
            _mm512_set1_ps(*p)
        }
    }
}

/// Each bit of `m` doubled: bit `b` of `m` sets bits `2b` and `2b + 1` (the mask of an
/// interleaved `(m0, shift)` pair per lane).
#[inline(always)]
fn spread(m: u8) -> u16 {
    let mut r = 0u16;
    for b in 0..8 {
        if m & (1 << b) != 0 {
            r |= 0b11 << (2 * b);
        }
    }
    r
}

/// SRDHM then RDBPOT with saturating left shift (gemmlowp double rounding), per lane.
#[inline(always)]
unsafe fn double_rounding(x: __m512i, m0: __m512i, shift: __m512i) -> __m512i {
    // SAFETY: AVX-512F is available (every caller is an AVX-512F context).
    unsafe {
        let zero = _mm512_setzero_si512();
        let left = _mm512_max_epi32(shift, zero);
        let right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
        // Saturating x << left.
        let hi_lim = _mm512_srav_epi32(_mm512_set1_epi32(i32::MAX), left);
        let lo_lim = _mm512_srav_epi32(_mm512_set1_epi32(i32::MIN), left);
        let mut xs = _mm512_sllv_epi32(x, left);
        xs = _mm512_mask_blend_epi32(
            _mm512_cmpgt_epi32_mask(x, hi_lim),
            xs,
            _mm512_set1_epi32(i32::MAX),
        );
        xs = _mm512_mask_blend_epi32(
            _mm512_cmplt_epi32_mask(x, lo_lim),
            xs,
            _mm512_set1_epi32(i32::MIN),
        );
        // SRDHM: floor((x·m0 + 2^30) / 2^31) on even and odd lanes.
        let nudge = _mm512_set1_epi64(1 << 30);
        let pe = _mm512_add_epi64(_mm512_mul_epi32(xs, m0), nudge);
        let po = _mm512_add_epi64(
            _mm512_mul_epi32(_mm512_srli_epi64::<32>(xs), _mm512_srli_epi64::<32>(m0)),
            nudge,
        );
        let qe = _mm512_srai_epi64::<31>(pe);
        let qo = _mm512_slli_epi64::<32>(_mm512_srai_epi64::<31>(po));
        let h = _mm512_mask_blend_epi32(0xAAAA, qe, qo);
        // RDBPOT(h, right): ties away from zero.
        let one = _mm512_set1_epi32(1);
        let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
        let rem = _mm512_and_si512(h, mask);
        let thr = _mm512_add_epi32(_mm512_srai_epi32::<1>(mask), _mm512_srli_epi32::<31>(h));
        let q = _mm512_srav_epi32(h, right);
        _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(rem, thr), q, one)
    }
}

/// `(x·m0 + 2^(s−1)) >> s` with `s = 31 − shift`, clamped to `[lo, hi]` in 64-bit.
#[inline(always)]
unsafe fn single_rounding(
    x: __m512i,
    m0: __m512i,
    shift: __m512i,
    lo: __m512i,
    hi: __m512i,
) -> __m512i {
    // SAFETY: AVX-512F is available (every caller is an AVX-512F context).
    unsafe {
        let s = _mm512_sub_epi32(_mm512_set1_epi32(31), shift);
        let low32 = _mm512_set1_epi64(0xffff_ffff);
        let se = _mm512_and_si512(s, low32);
        let so = _mm512_srli_epi64::<32>(s);
        let one = _mm512_set1_epi64(1);
        let lo64e = _mm512_srai_epi64::<32>(_mm512_slli_epi64::<32>(lo));
        let hi64e = _mm512_srai_epi64::<32>(_mm512_slli_epi64::<32>(hi));
        let ve = round_shift64(_mm512_mul_epi32(x, m0), se, one, lo64e, hi64e);
        let vo = round_shift64(
            _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), _mm512_srli_epi64::<32>(m0)),
            so,
            one,
            lo64e,
            hi64e,
        );
        _mm512_mask_blend_epi32(0xAAAA, ve, _mm512_slli_epi64::<32>(vo))
    }
}

/// `(p + 2^(s−1)) >> s` on 64-bit lanes (`one` holds 1 in each), clamped to
/// `[lo, hi]`. A function, not a closure (closures are compiled without AVX-512 and may
/// be called out of line).
///
/// # Safety
/// AVX-512F present.
#[inline(always)]
unsafe fn round_shift64(p: __m512i, s: __m512i, one: __m512i, lo: __m512i, hi: __m512i) -> __m512i {
    // SAFETY: AVX-512F present (caller contract); register operations only.
    unsafe {
        let r = _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one));
        let v = _mm512_srav_epi64(_mm512_add_epi64(p, r), s);
        _mm512_min_epi64(_mm512_max_epi64(v, lo), hi)
    }
}

/// Applies the stage to 16 accumulators (bias not yet added) and stores the lanes set
/// in `mask` to `dst` (a byte pointer to lane 0's element; lanes not set are not
/// touched, and `dst` may point outside the destination for them).
///
/// # Safety
/// AVX-512F is available; `p` was loaded by [`load_params`] for `stage` and the same
/// lanes; `dst` plus lane `l` is a valid element of `stage.dst_type` for every set lane.
#[inline(always)]
pub(crate) unsafe fn store16(
    stage: &OutputStage,
    p: &Params16,
    acc: __m512i,
    mask: u16,
    dst: *mut u8,
) {
    // SAFETY: forwarded contract; the kind matches the stage.
    unsafe {
        match stage_kind(stage) {
            kind::I32 => store16_k::<{ kind::I32 }>(p, acc, mask, dst),
            kind::F32 => store16_k::<{ kind::F32 }>(p, acc, mask, dst),
            kind::FP32 => store16_k::<{ kind::FP32 }>(p, acc, mask, dst),
            kind::DOUBLE => store16_k::<{ kind::DOUBLE }>(p, acc, mask, dst),
            _ => store16_k::<{ kind::SINGLE }>(p, acc, mask, dst),
        }
    }
}

/// [`store16`] for a stage of kind `K` (a [`kind`] constant), with no branch on the
/// stage left inside.
///
/// # Safety
/// As for [`store16`], with `K == stage_kind(stage)` for the stage `p` was loaded from.
#[inline(always)]
pub(crate) unsafe fn store16_k<const K: u8>(p: &Params16, acc: __m512i, mask: u16, dst: *mut u8) {
    // SAFETY: AVX-512F is available; masked stores touch only the set lanes, which are
    // valid elements (caller contract).
    unsafe {
        let v = _mm512_add_epi32(acc, p.bias);
        match K {
            kind::I32 => _mm512_mask_storeu_epi32(dst as *mut i32, mask, v),
            kind::F32 => {
                let mut y = _mm512_mul_ps(_mm512_cvtepi32_ps(v), p.scale);
                if p.has_fbias {
                    y = _mm512_add_ps(y, p.fbias);
                }
                _mm512_mask_storeu_ps(dst as *mut f32, mask, y)
            }
            _ => {
                let q = match K {
                    kind::FP32 => {
                        let y = _mm512_mul_ps(_mm512_cvtepi32_ps(v), p.scale);
                        let y = _mm512_min_ps(_mm512_max_ps(y, p.lo_f), p.hi_f);
                        _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                            y,
                        )
                    }
                    kind::DOUBLE => {
                        let r = double_rounding(v, p.m0, p.shift);
                        _mm512_min_epi32(_mm512_max_epi32(r, p.lo_i), p.hi_i)
                    }
                    _ => single_rounding(v, p.m0, p.shift, p.lo_i, p.hi_i),
                };
                _mm512_mask_cvtepi32_storeu_epi8(dst as *mut i8, mask, _mm512_add_epi32(q, p.zp))
            }
        }
    }
}

/// Σ_k (A[k] ^ xor) of one row, with `vpsadbw`.
///
/// # Safety
/// AVX-512F+BW present; `row` valid for `k` bytes.
#[inline(always)]
pub(crate) unsafe fn row_sum<const XOR: bool>(row: *const u8, k: usize) -> i32 {
    // SAFETY: the masked loads read only bytes < K of the row; AVX-512F+BW present.
    unsafe {
        let zero = _mm512_setzero_si512();
        let flip = _mm512_set1_epi8(0x80u8 as i8);
        let mut s = zero;
        let mut off = 0;
        while off < k {
            let n = (k - off).min(64);
            let m: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            let mut v = _mm512_maskz_loadu_epi8(m, row.add(off) as *const i8);
            if XOR {
                v = _mm512_maskz_mov_epi8(m, _mm512_xor_si512(v, flip));
            }
            s = _mm512_add_epi64(s, _mm512_sad_epu8(v, zero));
            off += 64;
        }
        _mm512_reduce_add_epi64(s) as i32
    }
}

/// Applies the zero-point correction and the output stage to `M` rows × 32 lanes of a
/// tile (two 16-lane halves) and stores the lanes `lane_begin..lane_end`.
///
/// The stage's kind is resolved here, once per tile, so the per-row code below is
/// branch-free (a `match` inside the row loop cost about 100 cycles per 12×32 tile).
///
/// # Safety
/// AVX-512F+BW present; `args` valid as for [`crate::GemmKernel::tile`] with NR = 32.
#[inline(always)]
pub(crate) unsafe fn epilogue<const M: usize, const XOR: bool>(
    args: &TileArgs,
    acc: [[__m512i; 2]; M],
) {
    // SAFETY: forwarded contract; the kind is the stage's.
    unsafe {
        if M < 12 {
            return epilogue_any::<M, XOR>(args, acc);
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

/// [`epilogue`] for a stage of kind `K` (a full tile of 12 or more rows).
///
/// Both halves' parameters are loaded first, then the rows are stored in order with one
/// destination pointer stepped by the row stride; the `zb` correction is chosen once
/// per tile, outside the row loop. A half with no lane in the block gets mask 0: its
/// masked stores write nothing (and cannot fault), which costs less than a branch per
/// vector.
///
/// # Safety
/// As for [`epilogue`], with `K == stage_kind(stage)`.
#[inline(always)]
unsafe fn epilogue_k<const M: usize, const XOR: bool, const K: u8>(
    args: &TileArgs,
    acc: [[__m512i; 2]; M],
) {
    // AVX-512F+BW present; the per-column arrays hold NR entries; the stage
    // parameters and destination are valid for the set lanes (tile contract); masked
    // stores touch only those lanes, and a mask-0 store touches nothing.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let stage = &*args.stage;
        let es = if K == kind::I32 || K == kind::F32 {
            4
        } else {
            1
        };
        let span: u64 = ((1u64 << args.lane_end) - 1) & !((1u64 << args.lane_begin) - 1);
        let masks = [span as u16, (span >> 16) as u16];
        let za = _mm512_set1_epi32(args.za);
        let panel_col = args.col0 - args.lane_begin;
        let mut p = [
            load_params(stage, panel_col, masks[0]),
            load_params(stage, panel_col + 16, masks[1]),
        ];
        // The bias joins the zero-point correction: one add per vector, not two (the
        // stores then add a zero vector, which the compiler drops).
        let mut corr = [_mm512_setzero_si512(); 2];
        for h in 0..2 {
            corr[h] = _mm512_add_epi32(
                _mm512_mullo_epi32(za, _mm512_loadu_si512(args.colcorr.add(16 * h) as *const _)),
                p[h].bias,
            );
            p[h].bias = _mm512_setzero_si512();
        }
        let row_bytes = args.dst_stride * es;
        let dst = args.dst.wrapping_sub(args.lane_begin * es);
        // The corrected accumulators: + za·(K·zb − colsum) + bias, − zb·rowsum.
        let mut acc = acc;
        if args.zb_nonzero {
            let zb = [
                _mm512_loadu_si512(args.zb as *const _),
                _mm512_loadu_si512(args.zb.add(16) as *const _),
            ];
            for (i, row) in acc.iter_mut().enumerate() {
                let rs = _mm512_set1_epi32(if args.rowsum.is_null() {
                    row_sum::<XOR>(args.a.add(i * args.a_stride), args.k)
                } else {
                    *args.rowsum.add(i)
                });
                for h in 0..2 {
                    row[h] = _mm512_sub_epi32(
                        _mm512_add_epi32(row[h], corr[h]),
                        _mm512_mullo_epi32(zb[h], rs),
                    );
                }
            }
        } else {
            for row in acc.iter_mut() {
                for h in 0..2 {
                    row[h] = _mm512_add_epi32(row[h], corr[h]);
                }
            }
        }
        let mut dst = dst;
        for row in acc.iter() {
            for h in 0..2 {
                store16_k::<K>(&p[h], row[h], masks[h], dst.wrapping_add(16 * h * es));
            }
            dst = dst.wrapping_add(row_bytes);
        }
    }
}

/// [`epilogue`] for a partial tile (fewer than 12 rows), the stage resolved per vector:
/// one half at a time, skipping a half with no lane in the block. Partial tiles are a
/// small share of any GEMM; this form keeps their many instances (every height, in
/// every tile function) small, which matters for the build time of the instrumented
/// fuzzing lane.
///
/// # Safety
/// As for [`epilogue`].
#[inline(always)]
unsafe fn epilogue_any<const M: usize, const XOR: bool>(args: &TileArgs, acc: [[__m512i; 2]; M]) {
    // AVX-512F+BW present; the per-column arrays hold NR entries; the stage
    // parameters and destination are valid for the set lanes (tile contract); masked
    // stores touch only those lanes.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let stage = &*args.stage;
        let es = stage.dst_type.size();
        let mut rowsum = [0i32; M];
        if args.zb_nonzero {
            for (i, r) in rowsum.iter_mut().enumerate() {
                *r = if args.rowsum.is_null() {
                    row_sum::<XOR>(args.a.add(i * args.a_stride), args.k)
                } else {
                    *args.rowsum.add(i)
                };
            }
        }
        let span: u64 = ((1u64 << args.lane_end) - 1) & !((1u64 << args.lane_begin) - 1);
        let za = _mm512_set1_epi32(args.za);
        let panel_col = args.col0 - args.lane_begin;
        for h in 0..2 {
            let mask = (span >> (16 * h)) as u16;
            if mask == 0 {
                continue;
            }
            let mut p = load_params(stage, panel_col + 16 * h, mask);
            // The bias joins the zero-point correction, as in `epilogue_k`.
            let corr = _mm512_add_epi32(
                _mm512_mullo_epi32(za, _mm512_loadu_si512(args.colcorr.add(16 * h) as *const _)),
                p.bias,
            );
            p.bias = _mm512_setzero_si512();
            let zb = _mm512_loadu_si512(args.zb.add(16 * h) as *const _);
            for (i, row) in acc.iter().enumerate() {
                let mut v = _mm512_add_epi32(row[h], corr);
                if args.zb_nonzero {
                    v = _mm512_sub_epi32(v, _mm512_mullo_epi32(zb, _mm512_set1_epi32(rowsum[i])));
                }
                let dst = args
                    .dst
                    .wrapping_add((i * args.dst_stride + 16 * h) * es)
                    .wrapping_sub(args.lane_begin * es);
                store16(stage, &p, v, mask, dst);
            }
        }
    }
}
