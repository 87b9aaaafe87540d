//! The scalar reference (and the public API on the scalar engine) against an
//! independent model written here in plain i64 / i128 / f64 arithmetic. Nothing in this
//! file computes an expected value with a function of the library.
//!
//! How the float steps are modelled: IEEE binary32 division, multiplication and addition
//! are correctly rounded, and computing them in binary64 and then rounding to binary32
//! gives the same result (53 ≥ 2·24 + 2, so the double rounding is innocuous); products
//! of two binary32 values are even exact in binary64.
//!
//! `PROPTEST_CASES` scales the number of cases (the large-K property runs an eighth).

mod common;

use common::model::{dequantize as model_dequantize, quantize as model_quantize, rhe};
use common::{first_diff, param, type_range, GemmInput, Out, Rng, SchemeDesc, StageDesc};
use proptest::collection::vec;
use proptest::prelude::*;
use zeropoint::kernels::scalar::reference::{gemm_i32, RefShape};
use zeropoint::kernels::scalar::requant as rq;
use zeropoint::{
    quantize_multiplier, Engine, Error, Granularity, Isa, Matrix, MatrixMut, QuantParams,
    QuantizedMultiplier, SymmetricRange,
};

// ---------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------

/// `x` reduced modulo 2^32 into i32's range (two's-complement wrapping, written out).
fn wrap32(x: i64) -> i32 {
    let r = x.rem_euclid(1 << 32);
    if r >= 1 << 31 {
        (r - (1 << 32)) as i32
    } else {
        r as i32
    }
}

/// The exact sums `Σ_k (A[i][k] − za)(B[k][j] − zb[j])` in i64, row-major.
fn model_sums(g: &GemmInput) -> Vec<i64> {
    let mut c = vec![0i64; g.m * g.n];
    for i in 0..g.m {
        for j in 0..g.n {
            let mut s = 0i64;
            for kk in 0..g.k {
                s += (g.a_at(i, kk) as i64 - g.za as i64)
                    * (g.b_at(kk, j) as i64 - g.zb_at(j) as i64);
            }
            c[i * g.n + j] = s;
        }
    }
    c
}

/// Fp32 requantization: `y = f32(acc)·scale` in binary32, round half to even, `+ zp`,
/// saturate to `[qmin, qmax]`.
fn model_fp32(acc: i32, scale: f32, zp: i32, qmin: i32, qmax: i32) -> i32 {
    let y = ((acc as f64) as f32 as f64 * scale as f64) as f32 as f64;
    (rhe(y) + zp as f64).clamp(qmin as f64, qmax as f64) as i32
}

/// gemmlowp double rounding, exactly: `x·2^left` saturated to i32, then the nearest
/// integer to `x·m0 / 2^31` with ties toward +∞ (SaturatingRoundingDoublingHighMul, the
/// same as ARM's SQRDMULH), then the nearest integer to that `/ 2^right` with ties away
/// from zero (RoundingDivideByPOT).
fn model_double(acc: i32, m: QuantizedMultiplier) -> i128 {
    let left = m.shift.max(0) as u32;
    let right = (-m.shift).max(0) as u32;
    let x = ((acc as i128) * (1i128 << left)).clamp(i32::MIN as i128, i32::MAX as i128);
    let ab = x * m.m0 as i128;
    let high = (2 * ab + (1i128 << 31)).div_euclid(1i128 << 32); // floor(ab/2^31 + 1/2)
    if right == 0 {
        return high;
    }
    let mag = (high.abs() * 2 + (1i128 << right)).div_euclid(1i128 << (right + 1));
    if high < 0 {
        -mag
    } else {
        mag
    }
}

/// Single rounding: the nearest integer to `acc·m0 / 2^(31 − shift)`, ties toward +∞.
fn model_single(acc: i32, m: QuantizedMultiplier) -> i128 {
    let s = (31 - m.shift) as u32;
    // floor(acc·m0/2^s + 1/2) = floor((2·acc·m0 + 2^s) / 2^(s+1))
    (2 * acc as i128 * m.m0 as i128 + (1i128 << s)).div_euclid(1i128 << (s + 1))
}

/// The whole output stage on one accumulator of column `j` (f32 results as bits).
fn model_stage(acc: i32, j: usize, st: &StageDesc) -> i64 {
    let acc = match &st.bias {
        Some(b) => wrap32(acc as i64 + b[j] as i64),
        None => acc,
    };
    let pc = st.per_channel;
    match &st.out {
        Out::I32 => acc as i64,
        Out::Quant { scheme, zp, .. } => {
            let (lo, hi) = st.bounds();
            let v = match scheme {
                SchemeDesc::Fp32(s) => return model_fp32(acc, param(s, pc, j), *zp, lo, hi) as i64,
                SchemeDesc::Double(m) => model_double(acc, param(m, pc, j)),
                SchemeDesc::Single(m) => model_single(acc, param(m, pc, j)),
            };
            (v + *zp as i128).clamp(lo as i128, hi as i128) as i64
        }
        Out::F32 { scales, bias } => {
            let s = param(scales, pc, j);
            let t = ((acc as f64) as f32 as f64 * s as f64) as f32;
            let y = match bias {
                Some(b) => (t as f64 + b[j] as f64) as f32,
                None => t,
            };
            y.to_bits() as i64
        }
    }
}

/// The expected GEMM output (whole matrix, row-major, i64 view).
fn model_gemm(g: &GemmInput, st: &StageDesc) -> Vec<i64> {
    model_sums(g)
        .iter()
        .enumerate()
        .map(|(idx, &s)| model_stage(wrap32(s), idx % g.n, st))
        .collect()
}

/// `quantize_multiplier` in exact integer arithmetic: `real = mant·2^exp`; `shift` such
/// that `real ∈ [2^(shift−1), 2^shift)`; `m0 = round(real·2^(31−shift))` ties away (up);
/// `2^31` carries into the shift. `None` when not finite and positive or when the shift
/// leaves `−31..=30`.
fn model_quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !(real.is_finite() && real > 0.0) {
        return None;
    }
    let bits = real.to_bits();
    let be = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mant, exp) = if be == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), be - 1075)
    };
    let len = 64 - mant.leading_zeros() as i64; // real ∈ [2^(len−1+exp), 2^(len+exp))
    let mut shift = len + exp;
    let e = 31 - len; // m0 = mant · 2^e before rounding
    let mut m0: i128 = if e >= 0 {
        (mant as i128) << e
    } else {
        ((mant as i128) + (1i128 << (-e - 1))) >> -e
    };
    if m0 == 1i128 << 31 {
        m0 = 1 << 30;
        shift += 1;
    }
    if !(-31..=30).contains(&shift) {
        return None;
    }
    Some((m0 as i32, shift as i32))
}

// ---------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------

/// A byte, often 0x00 / 0x7f / 0x80 / 0xff (0, 127, 128, 255 as u8; 0, 127, −128, −1 as i8).
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => any::<u8>(),
        1 => Just(0x00u8),
        1 => Just(0x7f),
        1 => Just(0x80),
        1 => Just(0xff),
    ]
}

/// A value of `lo..=hi`, often an end or 0.
fn point(lo: i32, hi: i32) -> BoxedStrategy<i32> {
    prop_oneof![Just(lo), Just(hi), Just(0.clamp(lo, hi)), lo..=hi].boxed()
}

/// An i32 with the extremes forced.
fn acc_value() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => any::<i32>(),
        1 => Just(i32::MIN),
        1 => Just(i32::MAX),
        1 => Just(0),
        1 => -70_000..70_000i32,
        1 => any::<i32>().prop_map(|v| v >> 16),
    ]
}

/// A valid fixed-point multiplier with `m0` and `shift` at their ends often.
fn multiplier() -> impl Strategy<Value = QuantizedMultiplier> {
    (
        prop_oneof![
            Just(1 << 30),
            Just(i32::MAX),
            Just(3 << 29),
            (1 << 30)..=i32::MAX
        ],
        prop_oneof![Just(-31), Just(30), Just(0), Just(-1), -31..=30i32],
    )
        .prop_map(|(m0, shift)| QuantizedMultiplier { m0, shift })
}

/// A finite positive f32: any bit pattern, plus typical and extreme scales.
fn scale() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => (1u32..0x7f80_0000).prop_map(f32::from_bits),
        3 => (-40i32..=8, 0u32..(1 << 23)).prop_map(|(e, m)| f32::from_bits(((127 + e) as u32) << 23 | m)),
        1 => Just(1.0f32),
        1 => Just(f32::MIN_POSITIVE),
        1 => Just(1e-45f32),
        1 => Just(f32::MAX),
    ]
}

/// Any f32 bit pattern, or values close to the ties of `scale`.
fn input_value(scale: f32) -> impl Strategy<Value = f32> {
    prop_oneof![
        2 => any::<u32>().prop_map(f32::from_bits),
        3 => (-700i32..700, -2i32..=2).prop_map(move |(k, ulps)| {
            let x = (k as f64 * scale as f64 * 0.5) as f32;
            f32::from_bits((x.to_bits() as i64 + ulps as i64) as u32)
        }),
        1 => prop_oneof![
            Just(f32::NAN), Just(-f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY),
            Just(0.0f32), Just(-0.0f32), Just(f32::MAX), Just(f32::MIN)
        ],
    ]
}

/// A small GEMM with full-range operands (sometimes all extreme, see
/// [`GemmInput::apply_mode`]).
fn small_gemm() -> impl Strategy<Value = GemmInput> {
    (
        1usize..=9,
        1usize..=19,
        0usize..=70,
        any::<[bool; 4]>(),
        0usize..3,
        0usize..2,
        0u32..5,
        any::<u64>(),
    )
        .prop_flat_map(
            |(m, n, k, [a_signed, b_signed, nxk, zb_pc], ap, bp, mode, seed)| {
                let a_stride = k + ap;
                let b_stride = if nxk { k } else { n } + bp;
                let b_rows = if nxk { n } else { k };
                let (alo, ahi) = type_range(a_signed);
                let (blo, bhi) = type_range(b_signed);
                (
                    vec(byte(), m * a_stride),
                    vec(byte(), b_rows * b_stride),
                    point(alo, ahi),
                    vec(point(blo, bhi), n),
                )
                    .prop_map(move |(a, b, za, zb)| {
                        let mut g = GemmInput {
                            m,
                            n,
                            k,
                            a_signed,
                            b_signed,
                            nxk,
                            a_stride,
                            b_stride,
                            a,
                            b,
                            za,
                            zb,
                            zb_per_channel: zb_pc,
                        };
                        g.apply_mode(mode, seed);
                        g
                    })
            },
        )
}

fn scalar_engine() -> Engine {
    let e = Engine::with_isa(Isa::Scalar).expect("the scalar engine is always available");
    assert_eq!(e.gemm_kernel().isa, Isa::Scalar);
    assert_eq!(e.elementwise_kernels().isa, Isa::Scalar);
    e
}

/// The reference's i32 accumulators for `g` (`kernels::scalar::reference::gemm_i32`).
fn reference_accumulators(g: &GemmInput) -> Vec<i32> {
    let (bk, bn) = if g.nxk {
        (1, g.b_stride)
    } else {
        (g.b_stride, 1)
    };
    let s = RefShape {
        m: g.m,
        n: g.n,
        k: g.k,
        a_stride: g.a_stride,
        b_k_stride: bk,
        b_n_stride: bn,
    };
    let zb = g.zb_full();
    let mut c = vec![0i32; g.m * g.n];
    let ai: Vec<i8> = g.a.iter().map(|&x| x as i8).collect();
    let bi: Vec<i8> = g.b.iter().map(|&x| x as i8).collect();
    match (g.a_signed, g.b_signed) {
        (false, false) => gemm_i32(s, &g.a, g.za, &g.b, &zb, &mut c),
        (false, true) => gemm_i32(s, &g.a, g.za, &bi, &zb, &mut c),
        (true, false) => gemm_i32(s, &ai, g.za, &g.b, &zb, &mut c),
        (true, true) => gemm_i32(s, &ai, g.za, &bi, &zb, &mut c),
    }
    c
}

/// Checks the reference and the public API (scalar engine) against the model.
fn check_gemm(g: &GemmInput, st: &StageDesc) -> Result<(), TestCaseError> {
    let sums = model_sums(g);
    let want_acc: Vec<i32> = sums.iter().map(|&s| wrap32(s)).collect();
    let got_acc = reference_accumulators(g);
    if let Some(i) = first_diff(&got_acc, &want_acc) {
        prop_assert_eq!(
            got_acc[i],
            want_acc[i],
            "reference::gemm_i32 {} at [{}][{}]: exact sum {}, model {} reference {}",
            g.describe(),
            i / g.n,
            i % g.n,
            sums[i],
            want_acc[i],
            got_acc[i]
        );
    }
    let engine = scalar_engine();
    let packed = g.pack(&engine).expect("valid weights");
    prop_assert_eq!(packed.isa(), Isa::Scalar);
    let want = model_gemm(g, st);
    for use_engine in [false, true] {
        let got = g
            .run_full(use_engine.then_some(&engine), &packed, st)
            .unwrap_or_else(|e| panic!("{} {}: {e}", g.describe(), st.describe()));
        prop_assert_eq!(got.len(), want.len());
        if let Some(i) = first_diff(&got, &want) {
            prop_assert_eq!(
                got[i],
                want[i],
                "gemm (engine={}) {} {} at [{}][{}]: acc {} model {} actual {}",
                use_engine,
                g.describe(),
                st.describe(),
                i / g.n,
                i % g.n,
                want_acc[i],
                st.show(want[i]),
                st.show(got[i])
            );
        }
    }
    Ok(())
}

fn large_k_config() -> ProptestConfig {
    let c = ProptestConfig::default();
    ProptestConfig {
        cases: (c.cases / 8).max(4),
        ..c
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic checks of the model's own premises.
// ---------------------------------------------------------------------------------------

/// The extreme cases really leave i32's range, so the wrapping is exercised.
#[test]
fn extreme_sums_leave_i32_range_and_wrap() {
    let mut rng = Rng(7);
    for (mode, sign) in [(2u32, -1i64), (3, 1)] {
        for a_signed in [false, true] {
            for b_signed in [false, true] {
                let g = GemmInput::random(&mut rng, 2, 3, 40_000, a_signed, b_signed, false, mode);
                let sums = model_sums(&g);
                assert_eq!(sums[0], sign * 40_000 * 255 * 255, "{}", g.describe());
                assert!(sums[0].abs() > i32::MAX as i64);
                let acc = reference_accumulators(&g);
                assert_eq!(acc[0], wrap32(sums[0]), "{}", g.describe());
                assert_eq!(wrap32(sums[0]) as i64, sums[0] - sign * (1i64 << 32));
                check_gemm(&g, &StageDesc::i32(None)).unwrap();
            }
        }
    }
}

#[test]
fn model_rounding_premises() {
    assert_eq!(wrap32(1 << 31), i32::MIN);
    assert_eq!(wrap32(-(1 << 31) - 1), i32::MAX);
    assert_eq!(wrap32(-1), -1);
    for (y, want) in [
        (0.5, 0.0),
        (1.5, 2.0),
        (2.5, 2.0),
        (-0.5, 0.0),
        (-1.5, -2.0),
        (-2.5, -2.0),
        (2.4999, 2.0),
    ] {
        assert_eq!(rhe(y), want, "rhe({y})");
    }
    let m = |m0, shift| QuantizedMultiplier { m0, shift };
    assert_eq!(model_double(1, m(1 << 30, 0)), 1); // 0.5 → 1
    assert_eq!(model_double(-1, m(1 << 30, 0)), 0); // −0.5 → 0 (ties toward +∞)
    assert_eq!(model_double(-3, m(1 << 30, 0)), -1); // −1.5 → −1
                                                     // 5 · 2^-2 = 1.25, but double rounding: SRDHM 2.5 → 3, then 3 / 2 = 1.5 → 2.
    assert_eq!(model_double(5, m(1 << 30, -1)), 2);
    assert_eq!(model_single(-1, m(1 << 30, 0)), 0);
    assert_eq!(model_single(-3, m(1 << 30, 0)), -1);
    assert_eq!(model_quantize_multiplier(0.5), Some((1 << 30, 0)));
    assert_eq!(model_quantize_multiplier(1.0), Some((1 << 30, 1)));
    assert_eq!(model_quantize_multiplier(0.75), Some((3 << 29, 0)));
}

// ---------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------

proptest! {
    /// GEMM with every output stage: reference accumulators, `zeropoint::gemm` and
    /// `Engine::gemm` on scalar-packed weights, all equal to the model.
    #[test]
    fn gemm_small_matches_model(g in small_gemm(), kind in 0usize..9, pc in any::<bool>(), seed in any::<u64>()) {
        let st = StageDesc::random(&mut Rng(seed), kind, g.n, pc);
        check_gemm(&g, &st)?;
    }

    /// The scalar requantization primitives against the exact model.
    #[test]
    fn requant_primitives_match_model(acc in acc_value(), m in multiplier(), s in scale(),
                                      out_signed in any::<bool>(), zsel in 0usize..4,
                                      c in (any::<u8>(), any::<u8>())) {
        let (tlo, thi) = type_range(out_signed);
        let zp = [tlo, thi, 0.clamp(tlo, thi), tlo + (c.0 as i32 % (thi - tlo + 1))][zsel];
        let (x, y) = (tlo + c.0 as i32, tlo + c.1 as i32);
        let (qmin, qmax) = if zsel == 3 { (x.min(y), x.max(y)) } else { (tlo, thi) };
        let ctx = format!("acc={acc} m0={} shift={} scale={s:e} zp={zp} clamp=[{qmin}, {qmax}]", m.m0, m.shift);
        prop_assert_eq!(rq::multiply_double_rounding(acc, m) as i128, model_double(acc, m), "double rounding {}", ctx);
        prop_assert_eq!(rq::multiply_single_rounding(acc, m) as i128, model_single(acc, m), "single rounding {}", ctx);
        prop_assert_eq!(rq::requantize_fp32(acc, s, zp, qmin, qmax), model_fp32(acc, s, zp, qmin, qmax), "fp32 {}", ctx);
        let d = model_double(acc, m);
        prop_assert_eq!(
            rq::add_zero_point_clamp(rq::multiply_double_rounding(acc, m) as i64, zp, qmin, qmax) as i128,
            (d + zp as i128).clamp(qmin as i128, qmax as i128),
            "add_zero_point_clamp {}", ctx
        );
    }

    /// `Engine::requantize` (scalar) of a row of accumulators with every stage kind.
    #[test]
    fn requantize_api_matches_model(accs in vec(acc_value(), 1..40), kind in 0usize..9,
                                    pc in any::<bool>(), seed in any::<u64>()) {
        let n = accs.len();
        let st = StageDesc::random(&mut Rng(seed), kind, n, pc);
        let want: Vec<i64> = accs.iter().enumerate().map(|(j, &a)| model_stage(a, j, &st)).collect();
        let e = scalar_engine();
        let src = Matrix::new(&accs, 1, n);
        let stage = st.stage();
        let got: Vec<i64> = match &st.out {
            Out::I32 => {
                let mut o = vec![0i32; n];
                e.requantize(src, &stage, MatrixMut::new(&mut o, 1, n)).unwrap();
                o.iter().map(|&v| v as i64).collect()
            }
            Out::Quant { signed: true, .. } => {
                let mut o = vec![0i8; n];
                e.requantize(src, &stage, MatrixMut::new(&mut o, 1, n)).unwrap();
                o.iter().map(|&v| v as i64).collect()
            }
            Out::Quant { signed: false, .. } => {
                let mut o = vec![0u8; n];
                e.requantize(src, &stage, MatrixMut::new(&mut o, 1, n)).unwrap();
                o.iter().map(|&v| v as i64).collect()
            }
            Out::F32 { .. } => {
                let mut o = vec![0f32; n];
                e.requantize(src, &stage, MatrixMut::new(&mut o, 1, n)).unwrap();
                o.iter().map(|&v| v.to_bits() as i64).collect()
            }
        };
        if let Some(j) = first_diff(&got, &want) {
            prop_assert_eq!(got[j], want[j], "requantize {} n={} at [0][{}]: acc {} model {} actual {}",
                st.describe(), n, j, accs[j], st.show(want[j]), st.show(got[j]));
        }
    }

    /// SRDHM (ties toward +∞, saturating) and RDBPOT (ties away from zero).
    #[test]
    fn srdhm_and_rdbpot_match_model(a in acc_value(), b in acc_value(), e in 0u32..=31) {
        let want = if a == i32::MIN && b == i32::MIN {
            i32::MAX as i128
        } else {
            (2 * a as i128 * b as i128 + (1i128 << 31)).div_euclid(1i128 << 32)
        };
        prop_assert_eq!(rq::srdhm(a, b) as i128, want, "srdhm({}, {})", a, b);
        let mag = ((a as i128).abs() * 2 + (1i128 << e)).div_euclid(1i128 << (e + 1));
        let want = if a < 0 { -mag } else { mag };
        prop_assert_eq!(rq::rdbpot(a, e) as i128, want, "rdbpot({}, {})", a, e);
    }

    /// round_half_even over any bit pattern (sign of zero kept).
    #[test]
    fn round_half_even_matches_model(bits in any::<u32>()) {
        let x = f32::from_bits(bits);
        let got = rq::round_half_even(x);
        if x.is_nan() {
            prop_assert!(got.is_nan(), "round_half_even({:#010x}) = {} is not NaN", bits, got);
        } else {
            let r = rhe(x as f64) as f32;
            let want = if r == 0.0 { f32::from_bits(bits & 0x8000_0000) } else { r };
            prop_assert_eq!(got.to_bits(), want.to_bits(), "round_half_even({:e} = {:#010x}): model {:e} actual {:e}", x, bits, want, got);
        }
    }

    /// Quantize / dequantize of one value, and `Engine::quantize` over a vector.
    #[test]
    fn quantize_matches_model((s, xs) in scale().prop_flat_map(|s| (Just(s), vec(input_value(s), 1..24))),
                              signed in any::<bool>(), zsel in 0usize..4, zr in any::<u8>()) {
        let (lo, hi) = type_range(signed);
        let zp = [lo, hi, 0.clamp(lo, hi), lo + zr as i32][zsel];
        let want: Vec<i32> = xs.iter().map(|&x| model_quantize(x, s, zp, lo, hi)).collect();
        for (i, &x) in xs.iter().enumerate() {
            prop_assert_eq!(rq::quantize_f32(x, s, zp, lo, hi), want[i],
                "quantize_f32({:e} = {:#010x}, scale {:e}, zp {}) into [{}, {}]", x, x.to_bits(), s, zp, lo, hi);
        }
        let e = scalar_engine();
        let got: Vec<i32> = if signed {
            let p = QuantParams::<i8>::new(s, zp as i8).unwrap();
            let mut o = vec![0i8; xs.len()];
            e.quantize(&xs, &[xs.len()], &Granularity::PerTensor(p), &mut o).unwrap();
            o.iter().map(|&v| v as i32).collect()
        } else {
            let p = QuantParams::<u8>::new(s, zp as u8).unwrap();
            let mut o = vec![0u8; xs.len()];
            e.quantize(&xs, &[xs.len()], &Granularity::PerTensor(p), &mut o).unwrap();
            o.iter().map(|&v| v as i32).collect()
        };
        if let Some(i) = first_diff(&got, &want) {
            prop_assert_eq!(got[i], want[i], "Engine::quantize [{}] x={:e} scale={:e} zp={}: model {} actual {}",
                i, xs[i], s, zp, want[i], got[i]);
        }
        for q in [lo, hi, zp, 0.clamp(lo, hi)] {
            let want = model_dequantize(q, zp, s);
            prop_assert_eq!(rq::dequantize(q, zp, s).to_bits(), want.to_bits(),
                "dequantize({}, zp {}, scale {:e}): model {:e}", q, zp, s, want);
        }
    }

    /// `QuantParams::from_range` in binary32 steps, and `symmetric`.
    #[test]
    fn params_constructors_match_model(a in prop_oneof![any::<u32>().prop_map(f32::from_bits), -1e4f32..1e4, -1e-40f32..1e-40],
                                       b in prop_oneof![any::<u32>().prop_map(f32::from_bits), -1e4f32..1e4, -1e-40f32..1e-40]) {
        prop_assume!(a.is_finite() && b.is_finite());
        let (min, max) = if a <= b { (a, b) } else { (b, a) };
        for signed in [false, true] {
            let (qmin, qmax) = type_range(signed);
            let lo = (min as f64).min(0.0);
            let hi = (max as f64).max(0.0);
            let width = (hi - lo) as f32;
            let got = if signed {
                QuantParams::<i8>::from_range(min, max).map(|p| (p.scale(), p.zero_point() as i32))
            } else {
                QuantParams::<u8>::from_range(min, max).map(|p| (p.scale(), p.zero_point() as i32))
            };
            if width.is_infinite() {
                prop_assert!(matches!(got, Err(Error::Range { .. })), "from_range({:e}, {:e}) = {:?}", min, max, got);
                continue;
            }
            let mut s = (width as f64 / (qmax - qmin) as f64) as f32;
            if s == 0.0 {
                s = 1.0;
            }
            let t = (lo / s as f64) as f32;
            let z = ((qmin as f64) - t as f64) as f32;
            let z = rhe(z as f64).clamp(qmin as f64, qmax as f64) as i32;
            let (gs, gz) = got.unwrap();
            prop_assert_eq!((gs.to_bits(), gz), (s.to_bits(), z),
                "from_range({:e}, {:e}) signed={}: model ({:e}, {}) actual ({:e}, {})", min, max, signed, s, z, gs, gz);
        }
        let amax = max.abs().max(min.abs());
        for (range, denom) in [(SymmetricRange::Restricted, 127.0f64), (SymmetricRange::Full, 127.5)] {
            let mut s = (amax as f64 / denom) as f32;
            if s == 0.0 {
                s = 1.0;
            }
            let p = QuantParams::<i8>::symmetric(amax, range).unwrap();
            prop_assert_eq!((p.scale().to_bits(), p.zero_point()), (s.to_bits(), 0), "symmetric i8({:e}, {:?})", amax, range);
            let p = QuantParams::<u8>::symmetric(amax, range).unwrap();
            prop_assert_eq!((p.scale().to_bits(), p.zero_point()), (s.to_bits(), 128), "symmetric u8({:e}, {:?})", amax, range);
        }
    }

    /// `quantize_multiplier` against the exact integer model, over every f64 and the
    /// interesting parts of the accepted range (ties, carries, both ends).
    #[test]
    fn quantize_multiplier_matches_model(real in prop_oneof![
        2 => any::<u64>().prop_map(f64::from_bits),
        3 => (-40i32..=36, any::<u64>()).prop_map(|(e, m)| f64::from_bits(((1023 + e) as u64) << 52 | (m >> 12))),
        2 => (-34i32..=32, 0u32..(1 << 30)).prop_map(|(e, j)| ((1u64 << 30) as f64 + j as f64 + 0.5) * 2f64.powi(e - 31)),
        1 => (-34i32..=32, 1i32..=52).prop_map(|(e, t)| (1.0 - 2f64.powi(-t)) * 2f64.powi(e)),
    ]) {
        let got = quantize_multiplier(real);
        match model_quantize_multiplier(real) {
            Some((m0, shift)) => {
                let q = got.unwrap_or_else(|e| panic!("quantize_multiplier({real:e}) rejected: {e}"));
                prop_assert_eq!((q.m0, q.shift), (m0, shift), "quantize_multiplier({:e})", real);
            }
            None => prop_assert!(matches!(got, Err(Error::Multiplier { .. })), "quantize_multiplier({:e}) = {:?}, model rejects", real, got),
        }
    }
}

proptest! {
    #![proptest_config(large_k_config())]

    /// K up to 40000 with extreme operands: the i64 sum leaves i32 and must wrap.
    #[test]
    fn gemm_large_k_wraps_like_model(m in 1usize..=3, n in 1usize..=5, k in 20_000usize..=40_000,
                                     flags in any::<[bool; 3]>(), mode in prop_oneof![Just(2u32), Just(3), Just(4), Just(0)],
                                     kind in 0usize..9, pc in any::<bool>(), seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let g = GemmInput::random(&mut rng, m, n, k, flags[0], flags[1], flags[2], mode);
        let st = StageDesc::random(&mut rng, kind, n, pc);
        check_gemm(&g, &st)?;
    }
}
