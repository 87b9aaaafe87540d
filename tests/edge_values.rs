//! Known edge values of the rounding and requantization primitives, the multiplier
//! conversion, the parameter constructors, and of the public requantize / quantize /
//! dequantize at the ends of their ranges. Every expected value here is worked out by
//! hand in the comment next to it.

use zeropoint::kernels::scalar::requant::{
    multiply_double_rounding, multiply_single_rounding, rdbpot, round_half_even, srdhm,
};
use zeropoint::{
    check_multiplier, multiplier_to_real, quantize_multiplier, variants, Engine, Error,
    Granularity, Matrix, MatrixMut, OpKind, OutputStage, PerChannel, QuantParams,
    QuantizedMultiplier, Requantization, SymmetricRange, WeightLayout,
};

const P30: i32 = 1 << 30;

fn qm(m0: i32, shift: i32) -> QuantizedMultiplier {
    QuantizedMultiplier { m0, shift }
}

/// Every element-wise engine this CPU can run (the scalar one at least).
fn elementwise_engines() -> Vec<Engine> {
    let mut v = Vec::new();
    for var in variants() {
        if var.op != OpKind::Elementwise {
            continue;
        }
        if zeropoint::kernels::testing::skip_or_require(var.name, var.isa) {
            continue;
        }
        let e = Engine::with_isa(var.isa).expect("an available variant's ISA is usable");
        assert_eq!(e.elementwise_kernels().name, var.name);
        v.push(e);
    }
    assert!(!v.is_empty(), "no element-wise engine available");
    v
}

#[test]
fn srdhm_edges() {
    let cases: [(i32, i32, i32, &str); 18] = [
        (i32::MIN, i32::MIN, i32::MAX, "the one overflow saturates"),
        (i32::MIN, i32::MAX, -i32::MAX, "−2^31·(2^31−1)/2^31 exactly"),
        (i32::MAX, i32::MIN, -i32::MAX, "commutes"),
        (
            i32::MAX,
            i32::MAX,
            i32::MAX - 1,
            "(2^31−1)^2/2^31 = 2^31 − 2 + 2^−31",
        ),
        (
            i32::MIN,
            i32::MIN + 1,
            i32::MAX,
            "2^31 − 1 exactly, no saturation",
        ),
        (i32::MIN, 1, -1, "−1 exactly"),
        (i32::MIN, -1, 1, "+1 exactly"),
        (i32::MIN, P30, -P30, "−2^30 exactly"),
        (1, 1, 0, "2^−31 rounds to 0"),
        (0, i32::MIN, 0, "zero"),
        (1, P30, 1, "tie +0.5 → 1 (toward +∞)"),
        (-1, P30, 0, "tie −0.5 → 0 (toward +∞, gemmlowp / SQRDMULH)"),
        (3, P30, 2, "tie +1.5 → 2"),
        (-3, P30, -1, "tie −1.5 → −1"),
        (1 << 15, 1 << 15, 1, "ab = 2^30: tie +0.5"),
        (-(1 << 15), 1 << 15, 0, "ab = −2^30: tie −0.5"),
        (3 << 15, 1 << 15, 2, "ab = 3·2^30: tie +1.5"),
        (-(3 << 15), 1 << 15, -1, "ab = −3·2^30: tie −1.5"),
    ];
    for (a, b, want, why) in cases {
        assert_eq!(srdhm(a, b), want, "srdhm({a}, {b}): {why}");
    }
    // Just past the ties: nearest, no tie rule involved.
    assert_eq!(
        srdhm(-(P30 + 1), 1),
        -1,
        "(−2^30 − 1)/2^31 = −0.50000000047 → −1"
    );
    assert_eq!(
        srdhm(-(P30 - 1), 1),
        0,
        "(−2^30 + 1)/2^31 = −0.49999999953 → 0"
    );
    assert_eq!(srdhm(P30 - 1, 1), 0, "0.49999999953 → 0");
    assert_eq!(srdhm(P30, 1), 1, "0.5 → 1");
}

#[test]
fn rdbpot_edges() {
    let cases: [(i32, u32, i32); 26] = [
        (5, 1, 3),
        (-5, 1, -3),
        (3, 1, 2),
        (-3, 1, -2),
        (1, 1, 1),
        (-1, 1, -1),
        (4, 1, 2),
        (-4, 1, -2),
        (6, 2, 2),   // 1.5 → 2
        (-6, 2, -2), // −1.5 → −2
        (5, 2, 1),   // 1.25 → 1
        (-5, 2, -1),
        (7, 2, 2), // 1.75 → 2
        (-7, 2, -2),
        (i32::MIN, 0, i32::MIN),
        (i32::MAX, 0, i32::MAX),
        (-1, 0, -1),
        (i32::MIN, 31, -1),   // −1 exactly
        (i32::MAX, 31, 1),    // 0.99999999953 → 1
        (P30, 31, 1),         // 0.5 → 1 (away)
        (-P30, 31, -1),       // −0.5 → −1 (away)
        (P30 - 1, 31, 0),     // just below 0.5
        (-(P30 - 1), 31, 0),  // just above −0.5
        (i32::MIN, 30, -2),   // −2 exactly
        (i32::MAX, 30, 2),    // 1.9999999991 → 2
        (-(3 << 29), 31, -1), // −0.75 → −1
    ];
    for (x, e, want) in cases {
        assert_eq!(rdbpot(x, e), want, "rdbpot({x}, {e})");
    }
    assert_eq!(rdbpot(0, 31), 0);
    assert_eq!(rdbpot(0, 0), 0);
}

#[test]
fn round_half_even_edges() {
    let cases: [(f32, f32); 22] = [
        (0.5, 0.0),
        (1.5, 2.0),
        (2.5, 2.0),
        (3.5, 4.0),
        (-0.5, -0.0),
        (-1.5, -2.0),
        (-2.5, -2.0),
        (0.499_999_97, 0.0),
        (0.500_000_06, 1.0),
        (8_388_607.5, 8_388_608.0), // 2^23 − 0.5: tie to the even 2^23
        (-8_388_607.5, -8_388_608.0),
        (8_388_606.5, 8_388_606.0), // tie to even below
        (4_194_303.5, 4_194_304.0), // 2^22 − 0.5
        (4_194_304.5, 4_194_304.0),
        (8_388_608.0, 8_388_608.0), // 2^23: already an integer
        (8_388_609.0, 8_388_609.0),
        (16_777_216.0, 16_777_216.0),
        (1e30, 1e30),
        (-1e30, -1e30),
        (f32::MAX, f32::MAX),
        (f32::MIN_POSITIVE, 0.0),
        (1e-45, 0.0),
    ];
    for (x, want) in cases {
        let got = round_half_even(x);
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "round_half_even({x:e}): expected {want:e} got {got:e}"
        );
    }
    // The sign of zero is kept.
    for (x, neg) in [
        (-0.0f32, true),
        (0.0, false),
        (-0.4, true),
        (0.4, false),
        (-1e-45, true),
    ] {
        let r = round_half_even(x);
        assert_eq!(r, 0.0, "round_half_even({x:e})");
        assert_eq!(
            r.is_sign_negative(),
            neg,
            "sign of round_half_even({x:e}) = {r:e}"
        );
    }
    assert!(round_half_even(f32::NAN).is_nan());
    assert!(round_half_even(-f32::NAN).is_nan());
    assert_eq!(round_half_even(f32::INFINITY), f32::INFINITY);
    assert_eq!(round_half_even(f32::NEG_INFINITY), f32::NEG_INFINITY);
}

#[test]
fn quantize_multiplier_edges() {
    let ok = |real: f64, m0: i32, shift: i32| {
        let q = quantize_multiplier(real).unwrap_or_else(|e| panic!("{real:e}: {e}"));
        assert_eq!(
            (q.m0, q.shift),
            (m0, shift),
            "quantize_multiplier({real:e})"
        );
        check_multiplier(q).unwrap_or_else(|e| panic!("{real:e} gave an invalid multiplier: {e}"));
    };
    ok(0.5, P30, 0);
    ok(1.0, P30, 1);
    ok(0.75, 3 << 29, 0);
    ok(0.25, P30, -1);
    ok(2.0, P30, 2);
    ok(1.0 - 2f64.powi(-40), P30, 1); // rounds to 2^31: carries to 2^30, shift + 1
    ok(0.5 - 2f64.powi(-40), P30, 0); // same carry one octave down
    ok(1.0 - 2f64.powi(-31), i32::MAX, 0); // (2^31 − 1)/2^31 exactly
    ok(1.0 - 2f64.powi(-30), i32::MAX - 1, 0);
    ok(1.0 - 2f64.powi(-32), P30, 1); // 2^31 − 0.5 → ties away → 2^31 → carry
    ok(0.5 + 2f64.powi(-32), P30 + 1, 0); // 2^30 + 0.5: tie away from zero (not to even)
    ok(0.5 + 3.0 * 2f64.powi(-32), P30 + 2, 0); // 2^30 + 1.5 → 2^30 + 2
    ok(0.5 + 2f64.powi(-33), P30, 0); // 2^30 + 0.25 → 2^30
    ok(2f64.powi(-32), P30, -31); // the smallest accepted
    ok(2f64.powi(-32) * (1.0 - 2f64.powi(-40)), P30, -31); // rounds up into range
    ok(2f64.powi(30) * (1.0 - 2f64.powi(-30)), i32::MAX - 1, 30); // just below 2^30
    ok(2f64.powi(29), P30, 30);
    let bad = |real: f64| {
        let r = quantize_multiplier(real);
        assert!(
            matches!(r, Err(Error::Multiplier { .. })),
            "quantize_multiplier({real:e}) = {r:?}, expected Err(Multiplier)"
        );
    };
    bad(2f64.powi(-33));
    bad(2f64.powi(-32) * (1.0 - 2f64.powi(-20))); // below, no carry into range
    bad(2f64.powi(30));
    bad(2f64.powi(30) * (1.0 - 2f64.powi(-40))); // carries up to 2^30
    bad(1e300);
    bad(5e-324);
    bad(0.0);
    bad(-0.0);
    bad(-0.5);
    bad(f64::NAN);
    bad(f64::INFINITY);
    bad(f64::NEG_INFINITY);
}

#[test]
fn multiplier_to_real_round_trip() {
    assert_eq!(multiplier_to_real(qm(P30, 0)), 0.5);
    assert_eq!(multiplier_to_real(qm(P30, 1)), 1.0);
    assert_eq!(multiplier_to_real(qm(P30, -31)), 2f64.powi(-32));
    assert_eq!(
        multiplier_to_real(qm(i32::MAX, 30)),
        (i32::MAX as f64) * 2f64.powi(-1)
    );
    // Out-of-range shifts (hand-built, rejected by check_multiplier) do not overflow.
    assert_eq!(multiplier_to_real(qm(P30, i32::MIN)), 0.0);
    assert_eq!(multiplier_to_real(qm(P30, i32::MAX)), f64::INFINITY);
    let mut real = 2f64.powi(-32);
    let mut count = 0;
    while real < 2f64.powi(30) {
        for f in [1.0, 1.1, 1.333_333_333_333, 1.5, 1.999_999_999] {
            let r = real * f;
            if r >= 2f64.powi(30) {
                continue;
            }
            let q = quantize_multiplier(r).unwrap_or_else(|e| panic!("{r:e}: {e}"));
            let back = multiplier_to_real(q);
            let err = (back - r).abs() / r;
            assert!(
                err <= 2f64.powi(-31),
                "multiplier_to_real(quantize_multiplier({r:e})) = {back:e}: relative error {err:e} > 2^-31"
            );
            // Exact round trip from the fixed-point side.
            assert_eq!(
                quantize_multiplier(back).unwrap(),
                q,
                "re-quantizing {back:e}"
            );
            count += 1;
        }
        real *= 1.7;
    }
    assert!(count > 100);
}

#[test]
fn check_multiplier_edges() {
    for m in [
        qm(P30, -31),
        qm(P30, 30),
        qm(i32::MAX, -31),
        qm(i32::MAX, 30),
    ] {
        check_multiplier(m).unwrap_or_else(|e| panic!("{m:?}: {e}"));
    }
    for m in [
        qm(P30 - 1, 0),
        qm(0, 0),
        qm(-P30, 0),
        qm(i32::MIN, 0),
        qm(P30, -32),
        qm(P30, 31),
        qm(P30, i32::MIN),
    ] {
        assert!(
            matches!(check_multiplier(m), Err(Error::Multiplier { .. })),
            "check_multiplier({m:?}) = {:?}",
            check_multiplier(m)
        );
    }
}

#[test]
fn single_rounding_extreme_shifts() {
    // shift = 30: s = 1.
    assert_eq!(multiply_single_rounding(-1, qm(P30, 30)), -(1 << 29));
    assert_eq!(multiply_single_rounding(1, qm(P30 + 1, 30)), (1 << 29) + 1); // (2^30+1)/2 = 2^29 + 0.5 → up
    assert_eq!(multiply_single_rounding(-1, qm(P30 + 1, 30)), -(1 << 29)); // −2^29 − 0.5 → up
    assert_eq!(
        multiply_single_rounding(i32::MAX, qm(i32::MAX, 30)),
        (1i64 << 61) - (1i64 << 31) + 1 // ((2^31−1)^2 + 1)/2 = 2^61 − 2^31 + 1
    );
    assert_eq!(
        multiply_single_rounding(i32::MIN, qm(i32::MAX, 30)),
        -(1i64 << 61) + (1i64 << 30) // −2^30·(2^31 − 1) exactly
    );
    // shift = −31: s = 62.
    assert_eq!(multiply_single_rounding(i32::MIN, qm(P30, -31)), 0); // −0.5 → 0 (ties up)
    assert_eq!(multiply_single_rounding(i32::MAX, qm(P30, -31)), 0); // 0.49999999977
    assert_eq!(multiply_single_rounding(i32::MAX, qm(i32::MAX, -31)), 1); // 0.9999999991
    assert_eq!(multiply_single_rounding(i32::MIN, qm(i32::MAX, -31)), -1); // −0.99999999953
    assert_eq!(multiply_single_rounding(i32::MIN, qm(3 << 29, -30)), -1); // −1.5 → −1
    assert_eq!(multiply_single_rounding(i32::MIN, qm(3 << 29, -31)), -1); // −0.75 → −1
    assert_eq!(multiply_single_rounding(0, qm(i32::MAX, -31)), 0);
}

#[test]
fn double_rounding_extreme_shifts() {
    // shift = 30: the left shift saturates, then SRDHM.
    assert_eq!(
        multiply_double_rounding(i32::MAX, qm(i32::MAX, 30)),
        i32::MAX - 1
    );
    assert_eq!(
        multiply_double_rounding(i32::MIN, qm(i32::MAX, 30)),
        -i32::MAX
    );
    assert_eq!(multiply_double_rounding(1, qm(P30, 30)), 1 << 29); // 1·2^30 · 2^30/2^31 = 2^29
    assert_eq!(multiply_double_rounding(2, qm(P30, 30)), i32::MAX / 2 + 1); // 2^31 saturates to 2^31−1, ·0.5 → 2^30 − 0.5 → 2^30
    assert_eq!(multiply_double_rounding(-2, qm(P30, 30)), -P30); // −2^31 fits: ·0.5 = −2^30
    assert_eq!(multiply_double_rounding(-3, qm(P30, 30)), -P30); // −3·2^30 saturates to −2^31
                                                                 // shift = −31: SRDHM then RDBPOT(31); two roundings.
    assert_eq!(multiply_double_rounding(i32::MAX, qm(P30, -31)), 1); // exact 0.4999999998, double-rounded to 1
    assert_eq!(multiply_double_rounding(i32::MIN, qm(P30, -31)), -1); // −2^30 / 2^31 = −0.5 → away
    assert_eq!(multiply_double_rounding(i32::MAX, qm(i32::MAX, -31)), 1);
    assert_eq!(multiply_double_rounding(i32::MIN, qm(i32::MAX, -31)), -1);
    assert_eq!(multiply_double_rounding(0, qm(i32::MAX, -31)), 0);
}

#[derive(Clone, Copy, Debug)]
enum Want {
    /// The lower clamp bound.
    Lo,
    /// The upper clamp bound.
    Hi,
    /// `clamp(zp + d)`.
    Zp(i32),
}

fn requant_row_u8(e: &Engine, src: &[i32], stage: &OutputStage<'_>) -> Vec<i32> {
    let mut o = vec![0xA5u8; src.len()];
    e.requantize(
        Matrix::new(src, 1, src.len()),
        stage,
        MatrixMut::new(&mut o, 1, src.len()),
    )
    .unwrap_or_else(|err| panic!("{stage:?}: {err}"));
    o.iter().map(|&v| v as i32).collect()
}

fn requant_row_i8(e: &Engine, src: &[i32], stage: &OutputStage<'_>) -> Vec<i32> {
    let mut o = vec![-91i8; src.len()];
    e.requantize(
        Matrix::new(src, 1, src.len()),
        stage,
        MatrixMut::new(&mut o, 1, src.len()),
    )
    .unwrap_or_else(|err| panic!("{stage:?}: {err}"));
    o.iter().map(|&v| v as i32).collect()
}

/// i32::MIN, i32::MAX and 0 through every scheme, u8 and i8, zero points at both ends
/// and inside, with and without a clamp.
#[test]
fn requantize_extreme_accumulators_every_scheme() {
    let acc = [i32::MIN, i32::MAX, 0];
    let f = |s: f32| Requantization::Fp32(PerChannel::Tensor(s));
    let d = |m0, sh| Requantization::DoubleRounding(PerChannel::Tensor(qm(m0, sh)));
    let s = |m0, sh| Requantization::SingleRounding(PerChannel::Tensor(qm(m0, sh)));
    use Want::*;
    // (scheme, expected for MIN, MAX, 0)
    let table: Vec<(Requantization<'static>, [Want; 3], &str)> = vec![
        (f(1.0), [Lo, Hi, Zp(0)], "fp32 scale 1"),
        (
            f(2f32.powi(-32)),
            [Zp(0), Zp(0), Zp(0)],
            "fp32 ±0.5 → ±0 (ties to even)",
        ),
        (
            f(2f32.powi(-31)),
            [Zp(-1), Zp(1), Zp(0)],
            "fp32 ±1 (f32(MAX) = 2^31)",
        ),
        (
            f(3.0 * 2f32.powi(-32)),
            [Zp(-2), Zp(2), Zp(0)],
            "fp32 ±1.5 → ±2",
        ),
        (f(f32::MAX), [Lo, Hi, Zp(0)], "fp32 ±inf saturates"),
        (f(1e-45), [Zp(0), Zp(0), Zp(0)], "fp32 subnormal scale"),
        (
            d(i32::MAX, 30),
            [Lo, Hi, Zp(0)],
            "double, largest multiplier",
        ),
        (
            d(P30, -31),
            [Zp(-1), Zp(1), Zp(0)],
            "double 2^-32: ±0.5 → ±1 twice rounded",
        ),
        (d(i32::MAX, -31), [Zp(-1), Zp(1), Zp(0)], "double ≈2^-31"),
        (
            s(i32::MAX, 30),
            [Lo, Hi, Zp(0)],
            "single, largest multiplier",
        ),
        (
            s(P30, -31),
            [Zp(0), Zp(0), Zp(0)],
            "single 2^-32: −0.5 → 0, 0.49999 → 0",
        ),
        (s(i32::MAX, -31), [Zp(-1), Zp(1), Zp(0)], "single ≈2^-31"),
    ];
    for e in elementwise_engines() {
        for (rq, want, why) in &table {
            for signed in [false, true] {
                let (tlo, thi) = if signed { (-128, 127) } else { (0, 255) };
                for zp in [tlo, tlo + 1, 0.clamp(tlo, thi), thi - 1, thi] {
                    for clamp in [None, Some((tlo + 10, thi - 10)), Some((zp, zp))] {
                        let mut st = OutputStage::quantized(*rq, zp);
                        if let Some((lo, hi)) = clamp {
                            st = st.with_clamp(lo, hi);
                        }
                        let (lo, hi) = clamp.unwrap_or((tlo, thi));
                        let exp: Vec<i32> = want
                            .iter()
                            .map(|w| match w {
                                Lo => lo,
                                Hi => hi,
                                Zp(d) => (zp + d).clamp(lo, hi),
                            })
                            .collect();
                        let got = if signed {
                            requant_row_i8(&e, &acc, &st)
                        } else {
                            requant_row_u8(&e, &acc, &st)
                        };
                        for j in 0..3 {
                            assert_eq!(
                                got[j],
                                exp[j],
                                "{} {why}: {} zp={zp} clamp={clamp:?} acc={}: expected {} got {}",
                                e.elementwise_kernels().name,
                                if signed { "i8" } else { "u8" },
                                acc[j],
                                exp[j],
                                got[j]
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The i32 bias wraps: MAX + 1 = MIN, MIN + (−1) = MAX; f32 output of the extremes.
#[test]
fn bias_wraps_and_f32_output_of_extremes() {
    for e in elementwise_engines() {
        let acc = [i32::MAX, i32::MIN, i32::MAX, 0];
        let bias = [1, -1, i32::MIN, i32::MIN];
        let st = OutputStage::i32().with_bias(&bias);
        let mut o = [0i32; 4];
        e.requantize(Matrix::new(&acc, 1, 4), &st, MatrixMut::new(&mut o, 1, 4))
            .unwrap();
        assert_eq!(o, [i32::MIN, i32::MAX, -1, i32::MIN], "i32 + bias wraps");
        let st = OutputStage::quantized(Requantization::Fp32(PerChannel::Tensor(1.0)), 0)
            .with_bias(&bias);
        assert_eq!(
            requant_row_u8(&e, &acc, &st),
            [0, 255, 0, 0],
            "wrapped bias then u8"
        );
        let scales = [1.0f32, 1.0, 0.5, 1.0];
        let fb = [0.0f32, 0.0, 0.0, -1.0];
        let st = OutputStage::f32(PerChannel::Channel(&scales), Some(&fb));
        let mut o = [0f32; 4];
        e.requantize(Matrix::new(&acc, 1, 4), &st, MatrixMut::new(&mut o, 1, 4))
            .unwrap();
        // f32(2^31 − 1) = 2^31; f32(−2^31) exact.
        let want = [2147483648.0f32, -2147483648.0, 1073741824.0, -1.0];
        for j in 0..4 {
            assert_eq!(
                o[j].to_bits(),
                want[j].to_bits(),
                "f32 output [{j}]: expected {:e} got {:e}",
                want[j],
                o[j]
            );
        }
        // Overflow to ±inf and two separate roundings (no FMA): f32(3)·(1/3 rounded) + 0.
        let acc = [i32::MAX, i32::MIN, 3];
        let third = 1.0f32 / 3.0;
        let scales = [f32::MAX, f32::MAX, third];
        let fb = [f32::MAX, 1.0, -1.0];
        let st = OutputStage::f32(PerChannel::Channel(&scales), Some(&fb));
        let mut o = [0f32; 3];
        e.requantize(Matrix::new(&acc, 1, 3), &st, MatrixMut::new(&mut o, 1, 3))
            .unwrap();
        assert_eq!(o[0], f32::INFINITY);
        assert_eq!(o[1], f32::NEG_INFINITY);
        // 3 · 0.33333334 = 1.0000000298 rounds to 1.0 in f32, minus 1 = 0 exactly; an FMA
        // would give 2.98e-8.
        assert_eq!(
            o[2].to_bits(),
            0.0f32.to_bits(),
            "f32 output used a fused multiply-add: {:e}",
            o[2]
        );
    }
}

#[test]
fn quantize_special_values() {
    let xs = [
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MAX,
        f32::MIN,
        1e-45,
        -1e-45,
    ];
    for e in elementwise_engines() {
        for zp in [0u8, 1, 128, 254, 255] {
            for s in [1.0f32, 1e-45, f32::MAX, 0.1] {
                let p = QuantParams::<u8>::new(s, zp).unwrap();
                let mut o = [0u8; 10];
                e.quantize(&xs, &[10], &Granularity::PerTensor(p), &mut o)
                    .unwrap();
                // NaN → zp; ±inf saturate; ±0 → zp; ±MAX saturate unless the scale is huge
                // (MAX / MAX = 1); ±1e-45 / s: 1 for s = 1e-45, else 0.
                let big = if s == f32::MAX { 1 } else { 255 };
                let tiny = if s == 1e-45 { 1 } else { 0 };
                let z = zp as i32;
                let want = [
                    z,
                    z,
                    255,
                    0,
                    z,
                    z,
                    (z + big).min(255),
                    (z - big).max(0),
                    (z + tiny).min(255),
                    (z - tiny).max(0),
                ];
                for i in 0..10 {
                    assert_eq!(
                        o[i] as i32,
                        want[i],
                        "{} quantize u8 x={:e} scale={s:e} zp={zp}: expected {} got {}",
                        e.elementwise_kernels().name,
                        xs[i],
                        want[i],
                        o[i]
                    );
                }
            }
        }
        for zp in [-128i8, -1, 0, 127] {
            let p = QuantParams::<i8>::new(1.0, zp).unwrap();
            let mut o = [0i8; 10];
            e.quantize(&xs, &[10], &Granularity::PerTensor(p), &mut o)
                .unwrap();
            let z = zp as i32;
            let want = [z, z, 127, -128, z, z, 127, -128, z, z];
            for i in 0..10 {
                assert_eq!(o[i] as i32, want[i], "quantize i8 x={:e} zp={zp}", xs[i]);
            }
        }
    }
}

#[test]
fn dequantize_extremes() {
    for e in elementwise_engines() {
        let q = [0u8, 255, 128];
        let p = QuantParams::<u8>::new(f32::MAX, 0).unwrap();
        let mut o = [0f32; 3];
        e.dequantize(&q, &[3], &Granularity::PerTensor(p), &mut o)
            .unwrap();
        assert_eq!(o, [0.0, f32::INFINITY, f32::INFINITY]);
        let p = QuantParams::<u8>::new(f32::MAX, 255).unwrap();
        e.dequantize(&q, &[3], &Granularity::PerTensor(p), &mut o)
            .unwrap();
        assert_eq!(o, [f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY]);
        let qi = [-128i8, 127, 0];
        let p = QuantParams::<i8>::new(1e-45, 127).unwrap();
        e.dequantize(&qi, &[3], &Granularity::PerTensor(p), &mut o)
            .unwrap();
        assert_eq!(
            o.map(f32::to_bits),
            [-255.0 * 1e-45f32, 0.0, -127.0 * 1e-45f32].map(f32::to_bits)
        );
        let p = QuantParams::<i8>::new(0.1, -128).unwrap();
        e.dequantize(&qi, &[3], &Granularity::PerTensor(p), &mut o)
            .unwrap();
        assert_eq!(
            o.map(f32::to_bits),
            [0.0f32, 255.0 * 0.1f32, 128.0 * 0.1f32].map(f32::to_bits)
        );
    }
}

#[test]
fn from_range_and_symmetric_edges() {
    let u = |a, b| {
        let p = QuantParams::<u8>::from_range(a, b).unwrap();
        (p.scale(), p.zero_point() as i32)
    };
    let i = |a, b| {
        let p = QuantParams::<i8>::from_range(a, b).unwrap();
        (p.scale(), p.zero_point() as i32)
    };
    assert_eq!(u(0.0, 0.0), (1.0, 0), "degenerate range: S = 1, Z = qmin");
    assert_eq!(i(0.0, 0.0), (1.0, -128));
    assert_eq!(u(-0.0, 0.0), (1.0, 0));
    assert_eq!(u(0.0, 1e-45), (1.0, 0), "S underflows to 0: degenerate");
    assert_eq!(u(5.0, 5.0), (5.0 / 255.0, 0), "widened to [0, 5]");
    assert_eq!(i(5.0, 5.0), (5.0 / 255.0, -128));
    assert_eq!(u(-5.0, -1.0), (5.0 / 255.0, 255), "widened to [−5, 0]");
    assert_eq!(i(-5.0, -1.0), (5.0 / 255.0, 127));
    // S = 1 exactly: the zero point's ties go to even.
    assert_eq!(u(-127.5, 127.5), (1.0, 128), "127.5 → 128");
    assert_eq!(i(-127.5, 127.5), (1.0, 0), "−128 + 127.5 = −0.5 → −0 → 0");
    assert_eq!(u(-128.5, 126.5), (1.0, 128), "128.5 → 128");
    assert_eq!(i(-128.5, 126.5), (1.0, 0), "0.5 → 0");
    assert_eq!(u(-129.5, 125.5), (1.0, 130), "129.5 → 130");
    assert_eq!(i(-129.5, 125.5), (1.0, 2), "1.5 → 2");
    assert_eq!(
        u(-300.0, -255.0),
        (300.0 / 255.0, 255),
        "widened to [−300, 0]"
    );
    assert_eq!(u(-3.0, 1.0), (4.0 / 255.0, 191), "191.25 → 191");
    let (ws, wz) = u(f32::MIN / 2.0, f32::MAX / 2.0);
    assert_eq!(ws, f32::MAX / 255.0, "the widest range that fits");
    assert!(
        (127..=128).contains(&wz),
        "zero point {wz} of the widest range"
    );
    for r in [SymmetricRange::Restricted, SymmetricRange::Full] {
        let p = QuantParams::<i8>::symmetric(0.0, r).unwrap();
        assert_eq!((p.scale(), p.zero_point()), (1.0, 0), "absmax 0 → scale 1");
        let p = QuantParams::<u8>::symmetric(0.0, r).unwrap();
        assert_eq!((p.scale(), p.zero_point()), (1.0, 128));
        let p = QuantParams::<i8>::symmetric(f32::MAX, r).unwrap();
        assert!(p.scale().is_finite() && p.scale() > 0.0);
    }
    assert_eq!(
        QuantParams::<i8>::symmetric(127.0, SymmetricRange::Restricted)
            .unwrap()
            .scale(),
        1.0
    );
    assert_eq!(
        QuantParams::<i8>::symmetric(127.5, SymmetricRange::Full)
            .unwrap()
            .scale(),
        1.0
    );
    assert_eq!(
        QuantParams::<i8>::symmetric_bounds(SymmetricRange::Restricted),
        (-127, 127)
    );
    assert_eq!(
        QuantParams::<i8>::symmetric_bounds(SymmetricRange::Full),
        (-128, 127)
    );
    assert_eq!(
        QuantParams::<u8>::symmetric_bounds(SymmetricRange::Restricted),
        (1, 255)
    );
    // Restricted: −absmax is representable (−127), +absmax is 127.
    let p = QuantParams::<i8>::symmetric(127.0, SymmetricRange::Restricted).unwrap();
    assert_eq!((p.quantize(-127.0), p.quantize(127.0)), (-127, 127));
    // Full: +absmax saturates at 127, −absmax reaches −128 (−127.5 → −128 by ties to even).
    let p = QuantParams::<i8>::symmetric(127.5, SymmetricRange::Full).unwrap();
    assert_eq!((p.quantize(-127.5), p.quantize(127.5)), (-128, 127));
    let p = QuantParams::<u8>::symmetric(127.5, SymmetricRange::Full).unwrap();
    assert_eq!((p.quantize(-127.5), p.quantize(127.5)), (0, 255));
}

/// Empty dimensions are valid: K = 0 gives the stage applied to 0 (plus bias), M = 0 or
/// N = 0 writes nothing, zero-column matrices may have any stride and an empty buffer.
#[test]
fn zero_sized_shapes() {
    let empty_u8: [u8; 0] = [];
    let empty_i8: [i8; 0] = [];
    for var in variants() {
        if var.op != OpKind::Gemm || zeropoint::kernels::testing::skip_or_require(var.name, var.isa)
        {
            continue;
        }
        let e = Engine::with_isa(var.isa).unwrap();
        // K = 0: B is N×0 (N×K layout) with an empty buffer; A is 3×0 with stride 5.
        let b = e
            .pack_weights(
                Matrix::with_stride(&empty_i8, 4, 0, 0),
                WeightLayout::NxK,
                PerChannel::Tensor(3i8),
            )
            .unwrap();
        assert_eq!((b.k(), b.n()), (0, 4));
        let a = Matrix::with_stride(&empty_u8, 3, 0, 5);
        let bias = [7, -7, i32::MAX, i32::MIN];
        let mut out = [0x5A5A_5A5Ai32; 12];
        e.gemm(
            a,
            200u8,
            &b,
            &OutputStage::i32().with_bias(&bias),
            MatrixMut::new(&mut out, 3, 4),
        )
        .unwrap();
        for r in 0..3 {
            assert_eq!(
                out[r * 4..r * 4 + 4],
                bias,
                "{}: K = 0 gives the bias, row {r}",
                var.name
            );
        }
        let mut out = [0u8; 4];
        zeropoint::gemm_range(
            a,
            200u8,
            &b,
            &OutputStage::quantized(Requantization::Fp32(PerChannel::Tensor(0.5)), 17),
            2..3,
            0..4,
            MatrixMut::new(&mut out, 1, 4),
        )
        .unwrap();
        assert_eq!(
            out, [17; 4],
            "{}: K = 0 requantizes 0 to the zero point",
            var.name
        );
        // N = 0 and M = 0.
        let w = [1i8; 6];
        let b0 = e
            .pack_weights(
                Matrix::new(&w[..0], 3, 0),
                WeightLayout::KxN,
                PerChannel::Tensor(0i8),
            )
            .unwrap();
        assert_eq!((b0.k(), b0.n()), (3, 0));
        let a6 = [1u8; 6];
        let mut none: [i32; 0] = [];
        e.gemm(
            Matrix::new(&a6, 2, 3),
            0u8,
            &b0,
            &OutputStage::i32(),
            MatrixMut::new(&mut none, 2, 0),
        )
        .unwrap();
        let b2 = e
            .pack_weights(
                Matrix::new(&w, 3, 2),
                WeightLayout::KxN,
                PerChannel::Tensor(0i8),
            )
            .unwrap();
        e.gemm(
            Matrix::new(&a6[..0], 0, 3),
            0u8,
            &b2,
            &OutputStage::i32(),
            MatrixMut::new(&mut none, 0, 2),
        )
        .unwrap();
    }
    for e in elementwise_engines() {
        // Requantize a 3×0 matrix with stride 5 and empty buffers.
        let src: [i32; 0] = [];
        let mut dst: [u8; 0] = [];
        e.requantize(
            Matrix::with_stride(&src, 3, 0, 5),
            &OutputStage::quantized(Requantization::Fp32(PerChannel::Tensor(1.0)), 0),
            MatrixMut::with_stride(&mut dst, 3, 0, 5),
        )
        .unwrap();
        let p = QuantParams::<u8>::new(1.0, 0).unwrap();
        let mut q: [u8; 0] = [];
        e.quantize(&[], &[3, 0], &Granularity::PerTensor(p), &mut q)
            .unwrap();
        e.quantize(&[], &[0], &Granularity::PerTensor(p), &mut q)
            .unwrap();
        let mut f: [f32; 0] = [];
        e.dequantize(&q, &[0, 7], &Granularity::PerTensor(p), &mut f)
            .unwrap();
        // Empty tensors with a huge dimension: validated, nothing to do (no loop over
        // the huge dimension).
        let none: [f32; 0] = [];
        let g = Granularity::PerAxis {
            axis: 1,
            scales: &none,
            zero_points: None,
        };
        e.quantize(&[], &[usize::MAX, 0], &g, &mut q).unwrap();
        let g = Granularity::PerBlock {
            axis: 0,
            block_size: 1,
            scales: &none,
            zero_points: None,
        };
        e.quantize(&[], &[usize::MAX, 0], &g, &mut q).unwrap();
        e.dequantize(&q, &[usize::MAX, 0], &g, &mut f).unwrap();
        let s = [1.0f32; 3];
        e.quantize(
            &[],
            &[3, 0],
            &Granularity::PerAxis {
                axis: 0,
                scales: &s,
                zero_points: None,
            },
            &mut q,
        )
        .unwrap();
    }
}
