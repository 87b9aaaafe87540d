//! Every error path of the public API, with the exact `Error` variant (and its fields
//! where they are fixed), and the promise that nothing is written when an error is
//! returned: the outputs are filled with a sentinel first and checked afterwards.

use zeropoint::{
    check_multiplier, quantize_multiplier, variants, DynamicMode, Engine, Error, Granularity, Isa,
    Matrix, MatrixMut, OpKind, OutputStage, PackedWeights, PerChannel, QuantParams,
    QuantizedMultiplier, Requantization, SymmetricRange, WeightLayout,
};

/// Asserts that `$res` matches the pattern (a `Result` pattern, e.g. `Err(Error::Shape(_))`)
/// and that the error's Display is non-empty; evaluates to the error.
macro_rules! expect_err {
    ($res:expr, $($pat:tt)+) => {{
        let r = $res;
        assert!(matches!(r, $($pat)+), "expected {}, got {:?}", stringify!($($pat)+), r);
        let e = r.unwrap_err();
        assert!(!e.to_string().is_empty(), "empty Display for {e:?}");
        e
    }};
}

const M: usize = 2;
const K: usize = 4;
const N: usize = 3;
const SENT_U8: u8 = 0xA5;

fn eng() -> Engine {
    Engine::with_isa(Isa::Scalar).unwrap()
}

fn weights(e: &Engine) -> PackedWeights {
    let w: Vec<i8> = (0..(N * K) as i8).collect();
    e.pack_weights(
        Matrix::new(&w, N, K),
        WeightLayout::NxK,
        PerChannel::Tensor(0),
    )
    .unwrap()
}

fn a_data() -> Vec<u8> {
    (0..(M * K) as u8).map(|v| v * 7).collect()
}

fn qm(m0: i32, shift: i32) -> QuantizedMultiplier {
    QuantizedMultiplier { m0, shift }
}

fn fp32(s: f32) -> Requantization<'static> {
    Requantization::Fp32(PerChannel::Tensor(s))
}

/// Runs a full GEMM into a sentinel-filled u8 output through all three entry points
/// (`gemm`, `gemm_range`, `Engine::gemm`), checks they agree on the error and wrote
/// nothing, and returns the error.
fn gemm_u8_err(
    a: Matrix<'_, u8>,
    b: &PackedWeights,
    stage: &OutputStage<'_>,
    rows: usize,
    cols: usize,
) -> Error {
    let e = eng();
    let mut errs = Vec::new();
    for entry in 0..3 {
        let mut out = vec![SENT_U8; rows * cols + 5];
        let om = MatrixMut::new(&mut out[..rows * cols], rows, cols);
        let r = match entry {
            0 => zeropoint::gemm(a, 3u8, b, stage, om),
            1 => zeropoint::gemm_range(a, 3u8, b, stage, 0..a.rows, 0..b.n(), om),
            _ => e.gemm(a, 3u8, b, stage, om),
        };
        let err = r.expect_err("an invalid GEMM succeeded");
        assert!(
            out.iter().all(|&v| v == SENT_U8),
            "entry {entry} wrote output before failing with {err:?}"
        );
        errs.push(err);
    }
    // (Compared through Debug: a NaN scale makes `==` false.)
    assert_eq!(
        format!("{:?}", errs[0]),
        format!("{:?}", errs[1]),
        "gemm and gemm_range disagree"
    );
    assert_eq!(
        format!("{:?}", errs[0]),
        format!("{:?}", errs[2]),
        "gemm and Engine::gemm disagree"
    );
    assert!(!errs[0].to_string().is_empty());
    errs.remove(0)
}

fn ok_stage() -> OutputStage<'static> {
    OutputStage::quantized(fp32(0.01), 128)
}

#[test]
fn stride_smaller_than_columns() {
    let e = eng();
    let b = weights(&e);
    let a = a_data();
    let err = gemm_u8_err(Matrix::with_stride(&a, M, K, K - 1), &b, &ok_stage(), M, N);
    assert!(
        matches!(
            err,
            Error::Stride {
                what: "A",
                stride: 3,
                min: 4
            }
        ),
        "{err:?}"
    );
    let w = [0i8; 64];
    expect_err!(
        e.pack_weights(
            Matrix::with_stride(&w, N, K, K - 1),
            WeightLayout::NxK,
            PerChannel::Tensor(0)
        ),
        Err(Error::Stride {
            what: "B",
            stride: 3,
            min: 4
        })
    );
    expect_err!(
        e.pack_weights(
            Matrix::with_stride(&w, K, N, 0),
            WeightLayout::KxN,
            PerChannel::Tensor(0)
        ),
        Err(Error::Stride {
            what: "B",
            stride: 0,
            min: 3
        })
    );
    let mut out = [SENT_U8; 64];
    expect_err!(
        e.gemm(
            Matrix::new(&a, M, K),
            0u8,
            &b,
            &ok_stage(),
            MatrixMut::with_stride(&mut out, M, N, N - 1)
        ),
        Err(Error::Stride {
            what: "output",
            stride: 2,
            min: 3
        })
    );
    assert!(out.iter().all(|&v| v == SENT_U8));
    let acc = [0i32; 64];
    expect_err!(
        e.requantize(
            Matrix::with_stride(&acc, 2, 3, 2),
            &ok_stage(),
            MatrixMut::new(&mut out[..6], 2, 3)
        ),
        Err(Error::Stride {
            what: "input",
            stride: 2,
            min: 3
        })
    );
    expect_err!(
        e.requantize(
            Matrix::new(&acc[..6], 2, 3),
            &ok_stage(),
            MatrixMut::with_stride(&mut out, 2, 3, 1)
        ),
        Err(Error::Stride {
            what: "output",
            stride: 1,
            min: 3
        })
    );
    let x = [1.0f32; 64];
    let mut p = [QuantParams::<u8>::new(1.0, 0).unwrap(); 2];
    expect_err!(
        e.dynamic_quantize_rows(
            Matrix::with_stride(&x, 2, 3, 2),
            DynamicMode::Asymmetric,
            MatrixMut::new(&mut out[..6], 2, 3),
            &mut p
        ),
        Err(Error::Stride {
            what: "input",
            stride: 2,
            min: 3
        })
    );
    expect_err!(
        e.dynamic_quantize_rows(
            Matrix::new(&x[..6], 2, 3),
            DynamicMode::Asymmetric,
            MatrixMut::with_stride(&mut out, 2, 3, 2),
            &mut p
        ),
        Err(Error::Stride {
            what: "output",
            stride: 2,
            min: 3
        })
    );
    assert!(out.iter().all(|&v| v == SENT_U8), "output written on error");
}

#[test]
fn buffers_too_small() {
    let e = eng();
    let b = weights(&e);
    let a = a_data();
    let err = gemm_u8_err(Matrix::new(&a[..M * K - 1], M, K), &b, &ok_stage(), M, N);
    assert!(
        matches!(
            err,
            Error::BufferTooSmall {
                what: "A",
                needed: 8,
                got: 7
            }
        ),
        "{err:?}"
    );
    // With a stride: (rows − 1)·stride + cols.
    let long = [0u8; 16];
    let err = gemm_u8_err(
        Matrix::with_stride(&long[..8], M, K, 5),
        &b,
        &ok_stage(),
        M,
        N,
    );
    assert!(
        matches!(
            err,
            Error::BufferTooSmall {
                what: "A",
                needed: 9,
                got: 8
            }
        ),
        "{err:?}"
    );
    let w = [0i8; 11];
    expect_err!(
        e.pack_weights(
            Matrix::new(&w, N, K),
            WeightLayout::NxK,
            PerChannel::Tensor(0)
        ),
        Err(Error::BufferTooSmall {
            what: "B",
            needed: 12,
            got: 11
        })
    );
    expect_err!(
        e.pack_weights(
            Matrix::with_stride(&w, K, N, 3),
            WeightLayout::KxN,
            PerChannel::Tensor(0)
        ),
        Err(Error::BufferTooSmall {
            what: "B",
            needed: 12,
            got: 11
        })
    );
    let mut out = [SENT_U8; 5];
    expect_err!(
        e.gemm(
            Matrix::new(&a, M, K),
            0u8,
            &b,
            &ok_stage(),
            MatrixMut::new(&mut out, M, N)
        ),
        Err(Error::BufferTooSmall {
            what: "output",
            needed: 6,
            got: 5
        })
    );
    assert!(out.iter().all(|&v| v == SENT_U8));
    let acc = [7i32; 5];
    let mut o6 = [SENT_U8; 6];
    expect_err!(
        e.requantize(
            Matrix::new(&acc, 2, 3),
            &ok_stage(),
            MatrixMut::new(&mut o6, 2, 3)
        ),
        Err(Error::BufferTooSmall {
            what: "input",
            needed: 6,
            got: 5
        })
    );
    let acc = [7i32; 6];
    expect_err!(
        e.requantize(
            Matrix::new(&acc, 2, 3),
            &ok_stage(),
            MatrixMut::new(&mut out, 2, 3)
        ),
        Err(Error::BufferTooSmall {
            what: "output",
            needed: 6,
            got: 5
        })
    );
    let x = [1.0f32; 6];
    let mut p = [QuantParams::<u8>::new(1.0, 0).unwrap(); 2];
    expect_err!(
        e.dynamic_quantize_rows(
            Matrix::new(&x[..5], 2, 3),
            DynamicMode::Asymmetric,
            MatrixMut::new(&mut o6, 2, 3),
            &mut p
        ),
        Err(Error::BufferTooSmall {
            what: "input",
            needed: 6,
            got: 5
        })
    );
    expect_err!(
        e.dynamic_quantize_rows(
            Matrix::new(&x, 2, 3),
            DynamicMode::Asymmetric,
            MatrixMut::new(&mut out, 2, 3),
            &mut p
        ),
        Err(Error::BufferTooSmall {
            what: "output",
            needed: 6,
            got: 5
        })
    );
    assert!(
        o6.iter().chain(&out).all(|&v| v == SENT_U8),
        "output written on error"
    );
}

#[test]
fn sizes_that_overflow_usize() {
    let e = eng();
    let w = [0i8; 4];
    expect_err!(
        e.pack_weights(
            Matrix::with_stride(&w, usize::MAX, 2, 2),
            WeightLayout::KxN,
            PerChannel::Tensor(0)
        ),
        Err(Error::Shape(_))
    );
    let x = [0f32; 4];
    let mut q = [0u8; 4];
    let p = QuantParams::<u8>::new(1.0, 0).unwrap();
    expect_err!(
        e.quantize(&x, &[usize::MAX, 2, 2], &Granularity::PerTensor(p), &mut q),
        Err(Error::Shape(_))
    );
    // An empty shape whose partial products overflow: an error, not a panic.
    let none: [f32; 0] = [];
    let g = Granularity::PerAxis {
        axis: 0,
        scales: &none,
        zero_points: None,
    };
    expect_err!(
        e.quantize(&x[..0], &[0, usize::MAX, 2], &g, &mut q[..0]),
        Err(Error::Shape(_))
    );
    let g = Granularity::PerBlock {
        axis: 0,
        block_size: 3,
        scales: &none,
        zero_points: None,
    };
    let mut d: [f32; 0] = [];
    expect_err!(
        e.dequantize(&q[..0], &[0, usize::MAX, 2], &g, &mut d),
        Err(Error::Shape(_))
    );
    // K above i32::MAX (a K×0 matrix needs no data).
    let k = i32::MAX as usize + 1;
    expect_err!(
        e.pack_weights(
            Matrix::new(&w[..0], k, 0),
            WeightLayout::KxN,
            PerChannel::Tensor(0)
        ),
        Err(Error::Shape(_))
    );
}

#[test]
fn a_columns_differ_from_k() {
    let e = eng();
    let b = weights(&e);
    let a = [0u8; 2 * 5];
    let err = gemm_u8_err(Matrix::new(&a, 2, 5), &b, &ok_stage(), 2, N);
    assert!(matches!(err, Error::Shape(_)), "{err:?}");
    let err = gemm_u8_err(Matrix::new(&a[..6], 2, 3), &b, &ok_stage(), 2, N);
    assert!(matches!(err, Error::Shape(_)), "{err:?}");
}

#[test]
#[allow(clippy::reversed_empty_ranges)]
fn ranges_out_of_bounds_or_reversed_and_wrong_block_dims() {
    let e = eng();
    let b = weights(&e);
    let a = a_data();
    let am = Matrix::new(&a, M, K);
    let st = ok_stage();
    let cases: [(
        core::ops::Range<usize>,
        core::ops::Range<usize>,
        usize,
        usize,
    ); 8] = [
        (0..M + 1, 0..N, M + 1, N), // rows past the end
        (2..1, 0..N, 0, N),         // reversed rows
        (3..3, 0..N, 0, N),         // empty but past the end
        (0..M, 0..N + 1, M, N + 1), // columns past the end
        (0..M, 2..1, M, 0),         // reversed columns
        (0..M, 4..4, M, 0),         // empty but past the end
        (0..M, 1..N, M, N),         // block 2×2 but output 2×3
        (1..M, 0..N, M, N),         // block 1×3 but output 2×3
    ];
    for (rows, cols, h, w) in cases {
        for use_engine in [false, true] {
            let mut out = vec![SENT_U8; h.max(1) * w.max(1) + 4];
            let om = MatrixMut::new(&mut out[..h * w], h, w);
            let r = if use_engine {
                e.gemm_range(am, 0u8, &b, &st, rows.clone(), cols.clone(), om)
            } else {
                zeropoint::gemm_range(am, 0u8, &b, &st, rows.clone(), cols.clone(), om)
            };
            let err = r.expect_err("invalid block accepted");
            assert!(
                matches!(err, Error::Shape(_)),
                "rows {rows:?} cols {cols:?} out {h}×{w}: {err:?}"
            );
            assert!(!err.to_string().is_empty());
            assert!(out.iter().all(|&v| v == SENT_U8), "output written on error");
        }
    }
    // The full-output entry point with a wrong output shape.
    let mut out = [SENT_U8; 8];
    expect_err!(
        zeropoint::gemm(am, 0u8, &b, &st, MatrixMut::new(&mut out, 2, 4)),
        Err(Error::Shape(_))
    );
    expect_err!(
        zeropoint::gemm(am, 0u8, &b, &st, MatrixMut::new(&mut out, 1, 3)),
        Err(Error::Shape(_))
    );
    assert!(out.iter().all(|&v| v == SENT_U8));
}

#[test]
fn weight_zero_point_count() {
    let e = eng();
    let w = [0i8; N * K];
    let z = [0i8; N + 1];
    expect_err!(
        e.pack_weights(
            Matrix::new(&w, N, K),
            WeightLayout::NxK,
            PerChannel::Channel(&z)
        ),
        Err(Error::Shape(_))
    );
    expect_err!(
        e.pack_weights(
            Matrix::new(&w, K, N),
            WeightLayout::KxN,
            PerChannel::Channel(&z[..N - 1])
        ),
        Err(Error::Shape(_))
    );
}

/// Stage validation: every fault, through GEMM (all entry points) and requantize, with
/// the output left untouched.
#[test]
fn stage_validation_errors() {
    let e = eng();
    let b = weights(&e);
    let a = a_data();
    let am = Matrix::new(&a, M, K);
    let acc: Vec<i32> = (0..(M * N) as i32).collect();
    let bias2 = [1i32; N - 1];
    let s_short = [0.5f32; N - 1];
    let s_long = [0.5f32; N + 1];
    let m_short = [qm(1 << 30, 0); N - 1];
    let s_nan = [0.5f32, 0.5, f32::NAN];
    let s_zero = [0.5f32, 0.0, 0.5];
    let s_neg = [-0.5f32, 0.5, 0.5];
    let s_inf = [0.5f32, f32::INFINITY, 0.5];
    let fb_short = [0.0f32; N - 1];
    let fb_nan = [0.0f32, f32::NAN, 0.0];
    let fb_inf = [f32::NEG_INFINITY, 0.0, 0.0];
    let m_bad = [qm(1 << 30, 0), qm((1 << 30) - 1, 0), qm(1 << 30, 0)];
    let m_shift = [qm(1 << 30, 31), qm(1 << 30, 0), qm(1 << 30, 0)];
    type Check = fn(&Error) -> bool;
    let cases: Vec<(OutputStage<'_>, Check, &str)> = vec![
        (
            ok_stage().with_bias(&bias2),
            |e| matches!(e, Error::Stage(_)),
            "bias length",
        ),
        (
            OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&s_short)), 0),
            |e| matches!(e, Error::Stage(_)),
            "fp32 scale count (short)",
        ),
        (
            OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&s_long)), 0),
            |e| matches!(e, Error::Stage(_)),
            "fp32 scale count (long)",
        ),
        (
            OutputStage::quantized(
                Requantization::DoubleRounding(PerChannel::Channel(&m_short)),
                0,
            ),
            |e| matches!(e, Error::Stage(_)),
            "multiplier count (double)",
        ),
        (
            OutputStage::quantized(
                Requantization::SingleRounding(PerChannel::Channel(&m_short)),
                0,
            ),
            |e| matches!(e, Error::Stage(_)),
            "multiplier count (single)",
        ),
        (
            OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&s_nan)), 0),
            |e| matches!(e, Error::Scale { what: "requantization scale", index: 2, value } if value.is_nan()),
            "fp32 NaN scale",
        ),
        (
            OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&s_zero)), 0),
            |e| matches!(e, Error::Scale { what: "requantization scale", index: 1, value } if *value == 0.0),
            "fp32 zero scale",
        ),
        (
            OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&s_neg)), 0),
            |e| matches!(e, Error::Scale { what: "requantization scale", index: 0, value } if *value == -0.5),
            "fp32 negative scale",
        ),
        (
            OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&s_inf)), 0),
            |e| matches!(e, Error::Scale { what: "requantization scale", index: 1, value } if value.is_infinite()),
            "fp32 infinite scale",
        ),
        (
            OutputStage::quantized(fp32(-0.0), 0),
            |e| {
                matches!(
                    e,
                    Error::Scale {
                        what: "requantization scale",
                        index: 0,
                        ..
                    }
                )
            },
            "fp32 −0 scale",
        ),
        (
            OutputStage::quantized(
                Requantization::DoubleRounding(PerChannel::Channel(&m_bad)),
                0,
            ),
            |e| matches!(e, Error::Multiplier { .. }),
            "m0 below 2^30 (double)",
        ),
        (
            OutputStage::quantized(
                Requantization::SingleRounding(PerChannel::Channel(&m_shift)),
                0,
            ),
            |e| matches!(e, Error::Multiplier { .. }),
            "shift 31 (single)",
        ),
        (
            OutputStage::quantized(
                Requantization::DoubleRounding(PerChannel::Tensor(qm(1 << 30, -32))),
                0,
            ),
            |e| matches!(e, Error::Multiplier { .. }),
            "shift −32 (double, per tensor)",
        ),
        (
            OutputStage::quantized(fp32(1.0), 256),
            |e| {
                matches!(
                    e,
                    Error::ZeroPoint {
                        what: "output zero point",
                        value: 256,
                        min: 0,
                        max: 255
                    }
                )
            },
            "u8 zero point 256",
        ),
        (
            OutputStage::quantized(fp32(1.0), -1),
            |e| {
                matches!(
                    e,
                    Error::ZeroPoint {
                        what: "output zero point",
                        value: -1,
                        min: 0,
                        max: 255
                    }
                )
            },
            "u8 zero point −1",
        ),
        (
            ok_stage().with_clamp(-1, 255),
            |e| {
                matches!(
                    e,
                    Error::Clamp {
                        min: -1,
                        max: 255,
                        type_range: (0, 255)
                    }
                )
            },
            "clamp below u8",
        ),
        (
            ok_stage().with_clamp(0, 256),
            |e| {
                matches!(
                    e,
                    Error::Clamp {
                        min: 0,
                        max: 256,
                        type_range: (0, 255)
                    }
                )
            },
            "clamp above u8",
        ),
        (
            ok_stage().with_clamp(10, 9),
            |e| {
                matches!(
                    e,
                    Error::Clamp {
                        min: 10,
                        max: 9,
                        ..
                    }
                )
            },
            "clamp min > max",
        ),
        (
            OutputStage::i32(),
            |e| matches!(e, Error::Stage(_)),
            "i32 stage, u8 output",
        ),
        (
            OutputStage::f32(PerChannel::Tensor(1.0), None),
            |e| matches!(e, Error::Stage(_)),
            "f32 stage, u8 output",
        ),
    ];
    for (st, check, why) in &cases {
        let err = gemm_u8_err(am, &b, st, M, N);
        assert!(check(&err), "gemm, {why}: got {err:?}");
        // The stage is validated even when the block is empty.
        let mut none: [u8; 0] = [];
        let r = zeropoint::gemm_range(am, 0u8, &b, st, 0..0, 0..N, MatrixMut::new(&mut none, 0, N));
        assert_eq!(
            format!("{r:?}"),
            format!("{:?}", Err::<(), _>(&err)),
            "empty block, {why}"
        );
        let mut out = [SENT_U8; M * N];
        let r = e.requantize(Matrix::new(&acc, M, N), st, MatrixMut::new(&mut out, M, N));
        assert_eq!(
            format!("{r:?}"),
            format!("{:?}", Err::<(), _>(&err)),
            "requantize vs gemm, {why}"
        );
        assert!(
            out.iter().all(|&v| v == SENT_U8),
            "requantize wrote output before failing ({why})"
        );
    }
    // i8 output: zero point and clamp ranges are i8's.
    let i8_cases: Vec<(OutputStage<'_>, Check, &str)> = vec![
        (
            OutputStage::quantized(fp32(1.0), 128),
            |e| {
                matches!(
                    e,
                    Error::ZeroPoint {
                        value: 128,
                        min: -128,
                        max: 127,
                        ..
                    }
                )
            },
            "i8 zero point 128",
        ),
        (
            OutputStage::quantized(fp32(1.0), -129),
            |e| {
                matches!(
                    e,
                    Error::ZeroPoint {
                        value: -129,
                        min: -128,
                        max: 127,
                        ..
                    }
                )
            },
            "i8 zero point −129",
        ),
        (
            OutputStage::quantized(fp32(1.0), 0).with_clamp(-129, 0),
            |e| {
                matches!(
                    e,
                    Error::Clamp {
                        type_range: (-128, 127),
                        ..
                    }
                )
            },
            "clamp below i8",
        ),
        (
            OutputStage::quantized(fp32(1.0), 0).with_clamp(0, 128),
            |e| {
                matches!(
                    e,
                    Error::Clamp {
                        type_range: (-128, 127),
                        ..
                    }
                )
            },
            "clamp above i8",
        ),
    ];
    for (st, check, why) in &i8_cases {
        let mut out = [-91i8; M * N];
        let r = e.gemm(am, 0u8, &b, st, MatrixMut::new(&mut out, M, N));
        assert!(
            matches!(&r, Err(err) if check(err)),
            "gemm i8, {why}: {r:?}"
        );
        assert!(out.iter().all(|&v| v == -91), "output written ({why})");
        let r = e.requantize(Matrix::new(&acc, M, N), st, MatrixMut::new(&mut out, M, N));
        assert!(
            matches!(&r, Err(err) if check(err)),
            "requantize i8, {why}: {r:?}"
        );
        assert!(out.iter().all(|&v| v == -91), "output written ({why})");
    }
    // i32 and f32 outputs.
    let q = ok_stage();
    let f_nan = OutputStage::f32(PerChannel::Tensor(f32::NAN), None);
    let f_zero = OutputStage::f32(PerChannel::Channel(&s_zero), None);
    let f_neg = OutputStage::f32(PerChannel::Channel(&s_neg), None);
    let f_inf = OutputStage::f32(PerChannel::Channel(&s_inf), None);
    let f_count = OutputStage::f32(PerChannel::Channel(&s_short), None);
    let f_bias_len = OutputStage::f32(PerChannel::Tensor(1.0), Some(&fb_short));
    let f_bias_nan = OutputStage::f32(PerChannel::Tensor(1.0), Some(&fb_nan));
    let f_bias_inf = OutputStage::f32(PerChannel::Tensor(1.0), Some(&fb_inf));
    let f_clamp = OutputStage::f32(PerChannel::Tensor(1.0), None).with_clamp(0, 10);
    let i_clamp = OutputStage::i32().with_clamp(0, 10);
    let i_bias = OutputStage::i32().with_bias(&bias2);
    let i_plain = OutputStage::i32();
    let f_cases: Vec<(&OutputStage<'_>, Check, &str)> = vec![
        (
            &q,
            |e| matches!(e, Error::Stage(_)),
            "quantized stage, f32 output",
        ),
        (
            &i_plain,
            |e| matches!(e, Error::Stage(_)),
            "i32 stage, f32 output",
        ),
        (
            &f_nan,
            |e| matches!(e, Error::Scale { what: "output scale", index: 0, value } if value.is_nan()),
            "f32 NaN scale",
        ),
        (
            &f_zero,
            |e| {
                matches!(
                    e,
                    Error::Scale {
                        what: "output scale",
                        index: 1,
                        ..
                    }
                )
            },
            "f32 zero scale",
        ),
        (
            &f_neg,
            |e| {
                matches!(
                    e,
                    Error::Scale {
                        what: "output scale",
                        index: 0,
                        ..
                    }
                )
            },
            "f32 negative scale",
        ),
        (
            &f_inf,
            |e| {
                matches!(
                    e,
                    Error::Scale {
                        what: "output scale",
                        index: 1,
                        ..
                    }
                )
            },
            "f32 infinite scale",
        ),
        (
            &f_count,
            |e| matches!(e, Error::Stage(_)),
            "f32 scale count",
        ),
        (
            &f_bias_len,
            |e| matches!(e, Error::Stage(_)),
            "f32 bias length",
        ),
        (
            &f_bias_nan,
            |e| {
                matches!(
                    e,
                    Error::NonFinite {
                        what: "f32 bias",
                        index: 1
                    }
                )
            },
            "f32 bias NaN",
        ),
        (
            &f_bias_inf,
            |e| {
                matches!(
                    e,
                    Error::NonFinite {
                        what: "f32 bias",
                        index: 0
                    }
                )
            },
            "f32 bias −inf",
        ),
        (
            &f_clamp,
            |e| matches!(e, Error::Stage(_)),
            "clamp with f32 output",
        ),
    ];
    for (st, check, why) in &f_cases {
        let mut out = [-7.25f32; M * N];
        let r = e.gemm(am, 0u8, &b, st, MatrixMut::new(&mut out, M, N));
        assert!(
            matches!(&r, Err(err) if check(err)),
            "gemm f32, {why}: {r:?}"
        );
        assert!(out.iter().all(|&v| v == -7.25), "output written ({why})");
        let r = e.requantize(Matrix::new(&acc, M, N), st, MatrixMut::new(&mut out, M, N));
        assert!(
            matches!(&r, Err(err) if check(err)),
            "requantize f32, {why}: {r:?}"
        );
        assert!(out.iter().all(|&v| v == -7.25), "output written ({why})");
    }
    let i_cases: Vec<(&OutputStage<'_>, Check, &str)> = vec![
        (
            &q,
            |e| matches!(e, Error::Stage(_)),
            "quantized stage, i32 output",
        ),
        (
            &f_nan,
            |e| matches!(e, Error::Stage(_)),
            "f32 stage, i32 output",
        ),
        (
            &i_clamp,
            |e| matches!(e, Error::Stage(_)),
            "clamp with i32 output",
        ),
        (&i_bias, |e| matches!(e, Error::Stage(_)), "i32 bias length"),
    ];
    for (st, check, why) in &i_cases {
        let mut out = [0x5A5A_5A5Ai32; M * N];
        let r = e.gemm(am, 0u8, &b, st, MatrixMut::new(&mut out, M, N));
        assert!(
            matches!(&r, Err(err) if check(err)),
            "gemm i32, {why}: {r:?}"
        );
        assert!(
            out.iter().all(|&v| v == 0x5A5A_5A5A),
            "output written ({why})"
        );
        let r = e.requantize(Matrix::new(&acc, M, N), st, MatrixMut::new(&mut out, M, N));
        assert!(
            matches!(&r, Err(err) if check(err)),
            "requantize i32, {why}: {r:?}"
        );
        assert!(
            out.iter().all(|&v| v == 0x5A5A_5A5A),
            "output written ({why})"
        );
    }
}

#[test]
fn requantize_shape_mismatch() {
    let e = eng();
    let acc = [0i32; 12];
    let mut out = [SENT_U8; 12];
    expect_err!(
        e.requantize(
            Matrix::new(&acc[..6], 2, 3),
            &ok_stage(),
            MatrixMut::new(&mut out[..6], 3, 2)
        ),
        Err(Error::Shape(_))
    );
    expect_err!(
        e.requantize(
            Matrix::new(&acc[..6], 2, 3),
            &ok_stage(),
            MatrixMut::new(&mut out[..8], 2, 4)
        ),
        Err(Error::Shape(_))
    );
    expect_err!(
        zeropoint::requantize(
            Matrix::new(&acc[..6], 2, 3),
            &ok_stage(),
            MatrixMut::new(&mut out[..3], 1, 3)
        ),
        Err(Error::Shape(_))
    );
    assert!(out.iter().all(|&v| v == SENT_U8));
}

#[test]
fn invalid_scales_everywhere() {
    for s in [
        f32::NAN,
        0.0,
        -0.0,
        -1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -1e-45,
    ] {
        let e = expect_err!(
            QuantParams::<u8>::new(s, 0),
            Err(Error::Scale {
                what: "scale",
                index: 0,
                ..
            })
        );
        match e {
            Error::Scale { value, .. } => assert_eq!(
                value.to_bits(),
                s.to_bits(),
                "the value is reported as given"
            ),
            _ => unreachable!(),
        }
        expect_err!(
            QuantParams::<i8>::new(s, 0),
            Err(Error::Scale {
                what: "scale",
                index: 0,
                ..
            })
        );
    }
    // Subnormal and huge finite scales are valid.
    QuantParams::<u8>::new(1e-45, 0).unwrap();
    QuantParams::<u8>::new(f32::MAX, 255).unwrap();
    // Granularity scales.
    let e = eng();
    let x = [1.0f32; 6];
    let mut out = [SENT_U8; 6];
    let mut deq = [-7.25f32; 6];
    let q = [1u8; 6];
    for bad in [f32::NAN, 0.0, -2.0, f32::INFINITY] {
        let scales = [1.0, 1.0, bad];
        let g = Granularity::PerAxis {
            axis: 1,
            scales: &scales,
            zero_points: None,
        };
        expect_err!(
            e.quantize(&x, &[2, 3], &g, &mut out),
            Err(Error::Scale {
                what: "scale",
                index: 2,
                ..
            })
        );
        expect_err!(
            e.dequantize(&q, &[2, 3], &g, &mut deq),
            Err(Error::Scale {
                what: "scale",
                index: 2,
                ..
            })
        );
        let scales = [1.0, bad];
        let g = Granularity::PerBlock {
            axis: 1,
            block_size: 2,
            scales: &scales,
            zero_points: None,
        };
        // shape [1, 3], blocks of 2 → 2 scales.
        expect_err!(
            e.quantize(&x[..3], &[1, 3], &g, &mut out[..3]),
            Err(Error::Scale {
                what: "scale",
                index: 1,
                ..
            })
        );
        expect_err!(
            e.dequantize(&q[..3], &[1, 3], &g, &mut deq[..3]),
            Err(Error::Scale {
                what: "scale",
                index: 1,
                ..
            })
        );
    }
    assert!(
        out.iter().all(|&v| v == SENT_U8),
        "quantize wrote output on error"
    );
    assert!(
        deq.iter().all(|&v| v == -7.25),
        "dequantize wrote output on error"
    );
}

#[test]
fn quantize_and_dequantize_shape_errors() {
    let e = eng();
    let x = [0.5f32; 12];
    let q = [3i8; 12];
    let mut out = [-91i8; 12];
    let mut deq = [-7.25f32; 12];
    let p = QuantParams::<i8>::new(0.1, 0).unwrap();
    let t = Granularity::PerTensor(p);
    let s3 = [0.1f32; 3];
    let s4 = [0.1f32; 4];
    let z2 = [0i8; 2];
    let z3 = [0i8; 3];
    /// (granularity, shape, input length, output length, why)
    type Case<'a> = (Granularity<'a, i8>, Vec<usize>, usize, usize, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (t, vec![3, 4], 11, 12, "input shorter than the shape"),
        (t, vec![3, 4], 12, 11, "output shorter than the shape"),
        (t, vec![3, 5], 12, 12, "shape larger than the buffers"),
        (
            Granularity::PerAxis {
                axis: 2,
                scales: &s3,
                zero_points: None,
            },
            vec![3, 4],
            12,
            12,
            "axis past the rank",
        ),
        (
            Granularity::PerAxis {
                axis: 0,
                scales: &s4,
                zero_points: None,
            },
            vec![3, 4],
            12,
            12,
            "scale count ≠ shape[axis]",
        ),
        (
            Granularity::PerAxis {
                axis: 0,
                scales: &s3,
                zero_points: Some(&z2),
            },
            vec![3, 4],
            12,
            12,
            "zero point count",
        ),
        (
            Granularity::PerBlock {
                axis: 1,
                block_size: 0,
                scales: &s3,
                zero_points: None,
            },
            vec![3, 4],
            12,
            12,
            "block size 0",
        ),
        (
            Granularity::PerBlock {
                axis: 5,
                block_size: 2,
                scales: &s3,
                zero_points: None,
            },
            vec![3, 4],
            12,
            12,
            "block axis past the rank",
        ),
        (
            Granularity::PerBlock {
                axis: 0,
                block_size: 2,
                scales: &s3,
                zero_points: None,
            },
            vec![3, 4],
            12,
            12,
            "block scale count (needs 2·4 = 8)",
        ),
        (
            Granularity::PerBlock {
                axis: 1,
                block_size: 4,
                scales: &s3,
                zero_points: Some(&z2),
            },
            vec![3, 4],
            12,
            12,
            "block zero point count",
        ),
        (
            Granularity::PerBlock {
                axis: 1,
                block_size: 3,
                scales: &s3,
                zero_points: Some(&z3),
            },
            vec![3, 4],
            12,
            12,
            "block count (needs 3·2 = 6)",
        ),
    ];
    for (g, shape, nin, nout, why) in &cases {
        let r = e.quantize(&x[..*nin], shape, g, &mut out[..*nout]);
        assert!(matches!(r, Err(Error::Shape(_))), "quantize, {why}: {r:?}");
        let r = e.dequantize(&q[..*nin], shape, g, &mut deq[..*nout]);
        assert!(
            matches!(r, Err(Error::Shape(_))),
            "dequantize, {why}: {r:?}"
        );
        let r = zeropoint::quantize(&x[..*nin], shape, g, &mut out[..*nout]);
        assert!(
            matches!(&r, Err(Error::Shape(s)) if !s.is_empty()),
            "zeropoint::quantize, {why}: {r:?}"
        );
    }
    assert!(
        out.iter().all(|&v| v == -91),
        "quantize wrote output on error"
    );
    assert!(
        deq.iter().all(|&v| v == -7.25),
        "dequantize wrote output on error"
    );
}

#[test]
fn dynamic_quantization_errors_write_nothing() {
    let e = eng();
    let mut out = [SENT_U8; 8];
    expect_err!(
        e.dynamic_quantize_linear(&[], &mut out[..0]),
        Err(Error::Shape(_))
    );
    expect_err!(
        zeropoint::dynamic_quantize_linear(&[], &mut []),
        Err(Error::Shape(_))
    );
    expect_err!(
        e.dynamic_quantize_linear(&[1.0, 2.0], &mut out[..3]),
        Err(Error::Shape(_))
    );
    expect_err!(
        e.dynamic_quantize_linear(&[1.0, 2.0, f32::NAN, 4.0], &mut out[..4]),
        Err(Error::NonFinite {
            what: "input",
            index: 2
        })
    );
    expect_err!(
        e.dynamic_quantize_linear(&[f32::INFINITY, 2.0], &mut out[..2]),
        Err(Error::NonFinite {
            what: "input",
            index: 0
        })
    );
    expect_err!(
        e.dynamic_quantize_linear(&[1.0, f32::NEG_INFINITY], &mut out[..2]),
        Err(Error::NonFinite {
            what: "input",
            index: 1
        })
    );
    expect_err!(
        e.dynamic_quantize_linear(&[f32::MIN, f32::MAX], &mut out[..2]),
        Err(Error::Range { .. })
    );
    assert!(
        out.iter().all(|&v| v == SENT_U8),
        "dynamic_quantize_linear wrote output on error"
    );

    // Per row: the last row is bad, so a partial write would show in the first rows.
    let p0 = QuantParams::<i8>::new(0.125, 5).unwrap();
    let mut rows_out = [-91i8; 12];
    let mut params = [p0; 3];
    let mut x: Vec<f32> = (0..12).map(|i| i as f32 - 4.0).collect();
    x[10] = f32::NAN;
    for mode in [
        DynamicMode::Asymmetric,
        DynamicMode::Symmetric(SymmetricRange::Restricted),
    ] {
        expect_err!(
            e.dynamic_quantize_rows(
                Matrix::new(&x, 3, 4),
                mode,
                MatrixMut::new(&mut rows_out, 3, 4),
                &mut params
            ),
            Err(Error::NonFinite {
                what: "input row",
                index: 2
            })
        );
        let mut xi = x.clone();
        xi[10] = f32::INFINITY;
        expect_err!(
            e.dynamic_quantize_rows(
                Matrix::new(&xi, 3, 4),
                mode,
                MatrixMut::new(&mut rows_out, 3, 4),
                &mut params
            ),
            Err(Error::NonFinite {
                what: "input row",
                ..
            })
        );
        expect_err!(
            e.dynamic_quantize_rows(
                Matrix::new(&x[..8], 2, 4),
                mode,
                MatrixMut::new(&mut rows_out[..8], 2, 4),
                &mut params
            ),
            Err(Error::Shape(_))
        );
        expect_err!(
            e.dynamic_quantize_rows(
                Matrix::new(&x, 3, 4),
                mode,
                MatrixMut::new(&mut rows_out, 4, 3),
                &mut params
            ),
            Err(Error::Shape(_))
        );
        expect_err!(
            e.dynamic_quantize_rows(
                Matrix::new(&x[..0], 3, 0),
                mode,
                MatrixMut::new(&mut rows_out[..0], 3, 0),
                &mut params
            ),
            Err(Error::Shape(_))
        );
    }
    let mut wide = [0.0f32; 12];
    wide[8] = f32::MIN;
    wide[9] = f32::MAX;
    expect_err!(
        e.dynamic_quantize_rows(
            Matrix::new(&wide, 3, 4),
            DynamicMode::Asymmetric,
            MatrixMut::new(&mut rows_out, 3, 4),
            &mut params
        ),
        Err(Error::Range { .. })
    );
    assert!(
        rows_out.iter().all(|&v| v == -91),
        "dynamic_quantize_rows wrote output on error"
    );
    assert!(
        params.iter().all(|&p| p == p0),
        "dynamic_quantize_rows wrote parameters on error"
    );
}

#[test]
fn parameter_constructor_errors() {
    for (lo, hi) in [
        (f32::NAN, 1.0),
        (0.0, f32::NAN),
        (f32::NEG_INFINITY, 1.0),
        (0.0, f32::INFINITY),
        (2.0, 1.0),
        (-1.0, -2.0),
        (f32::MIN, f32::MAX),
        (f32::MIN, 1e38),
    ] {
        expect_err!(
            QuantParams::<u8>::from_range(lo, hi),
            Err(Error::Range { .. })
        );
        expect_err!(
            QuantParams::<i8>::from_range(lo, hi),
            Err(Error::Range { .. })
        );
    }
    for a in [-1.0f32, -1e-45, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for r in [SymmetricRange::Restricted, SymmetricRange::Full] {
            expect_err!(QuantParams::<i8>::symmetric(a, r), Err(Error::Range { .. }));
            expect_err!(QuantParams::<u8>::symmetric(a, r), Err(Error::Range { .. }));
        }
    }
    for v in [
        0.0,
        -0.0,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        2f64.powi(30),
        2f64.powi(-33),
        5e-324,
        1e300,
    ] {
        let e = expect_err!(quantize_multiplier(v), Err(Error::Multiplier { .. }));
        if let Error::Multiplier { value, reason } = e {
            assert!(
                value.to_bits() == v.to_bits() || (v.is_nan() && value.is_nan()),
                "value {value:e} for {v:e}"
            );
            assert!(!reason.is_empty());
        }
    }
    for m in [
        qm(0, 0),
        qm((1 << 30) - 1, 0),
        qm(-1, 0),
        qm(i32::MIN, 0),
        qm(1 << 30, 31),
        qm(1 << 30, -32),
        qm(i32::MAX, 1000),
    ] {
        expect_err!(check_multiplier(m), Err(Error::Multiplier { .. }));
    }
}

#[test]
fn isa_unavailable() {
    for isa in Isa::ALL {
        let r = Engine::with_isa(isa);
        if isa.is_supported() {
            let e = r.unwrap_or_else(|e| panic!("{isa}: {e}"));
            assert_eq!(e.isa(), isa);
        } else {
            let err = expect_err!(r, Err(Error::IsaUnavailable { .. }));
            assert!(
                matches!(err, Error::IsaUnavailable { isa: i, .. } if i == isa),
                "{err:?}"
            );
        }
    }
    #[cfg(target_arch = "x86_64")]
    for isa in [Isa::Neon, Isa::Dotprod, Isa::I8mm] {
        expect_err!(
            Engine::with_isa(isa),
            Err(Error::IsaUnavailable {
                reason: "belongs to another architecture",
                ..
            })
        );
    }
    #[cfg(target_arch = "aarch64")]
    for isa in [Isa::Avx2, Isa::Avx512Bw, Isa::Avx512Vnni] {
        expect_err!(
            Engine::with_isa(isa),
            Err(Error::IsaUnavailable {
                reason: "belongs to another architecture",
                ..
            })
        );
    }
}

/// Weights packed for one GEMM kernel, run with an engine whose kernel differs.
#[test]
fn layout_mismatch() {
    let gemm_variants: Vec<_> = variants()
        .into_iter()
        .filter(|v| v.op == OpKind::Gemm && v.available)
        .collect();
    let mut pair = None;
    'outer: for x in &gemm_variants {
        for y in &gemm_variants {
            if x.name == y.name {
                continue;
            }
            let (ex, ey) = (
                Engine::with_isa(x.isa).unwrap(),
                Engine::with_isa(y.isa).unwrap(),
            );
            if ex.gemm_kernel().name != ey.gemm_kernel().name {
                pair = Some((ex, ey));
                break 'outer;
            }
        }
    }
    let Some((ex, ey)) = pair else {
        println!("skipping layout mismatch: only one GEMM kernel available");
        eprintln!("skipping layout mismatch: only one GEMM kernel available");
        return;
    };
    let b = weights(&ex);
    assert_eq!(b.kernel_name(), ex.gemm_kernel().name);
    let a = a_data();
    let st = OutputStage::i32();
    let mut out = [0x5A5A_5A5Ai32; M * N];
    let err = expect_err!(
        ey.gemm(
            Matrix::new(&a, M, K),
            0u8,
            &b,
            &st,
            MatrixMut::new(&mut out, M, N)
        ),
        Err(Error::LayoutMismatch { .. })
    );
    assert_eq!(
        err,
        Error::LayoutMismatch {
            packed_for: ex.gemm_kernel().name,
            requested: ey.gemm_kernel().name
        }
    );
    expect_err!(
        ey.gemm_range(
            Matrix::new(&a, M, K),
            0u8,
            &b,
            &st,
            0..1,
            0..1,
            MatrixMut::new(&mut out[..1], 1, 1)
        ),
        Err(Error::LayoutMismatch { .. })
    );
    assert!(
        out.iter().all(|&v| v == 0x5A5A_5A5A),
        "output written on a layout mismatch"
    );
    // The free functions run the weights' own kernel.
    zeropoint::gemm(
        Matrix::new(&a, M, K),
        0u8,
        &b,
        &st,
        MatrixMut::new(&mut out, M, N),
    )
    .unwrap();
    ex.gemm(
        Matrix::new(&a, M, K),
        0u8,
        &b,
        &st,
        MatrixMut::new(&mut out, M, N),
    )
    .unwrap();
}

/// Every variant's Display is non-empty and names what it is about.
#[test]
fn every_error_displays() {
    let all = [
        (Error::Shape("A has 5 columns".into()), "A has 5 columns"),
        (
            Error::BufferTooSmall {
                what: "A",
                needed: 8,
                got: 7,
            },
            "A",
        ),
        (
            Error::Stride {
                what: "output",
                stride: 2,
                min: 3,
            },
            "output",
        ),
        (
            Error::Scale {
                what: "output scale",
                index: 4,
                value: f32::NAN,
            },
            "output scale",
        ),
        (
            Error::ZeroPoint {
                what: "output zero point",
                value: 300,
                min: 0,
                max: 255,
            },
            "300",
        ),
        (
            Error::Clamp {
                min: 9,
                max: 3,
                type_range: (0, 255),
            },
            "9",
        ),
        (
            Error::Multiplier {
                value: 0.0,
                reason: "must be finite and > 0",
            },
            "must be finite",
        ),
        (
            Error::Range {
                reason: "min > max".into(),
            },
            "min > max",
        ),
        (
            Error::NonFinite {
                what: "f32 bias",
                index: 2,
            },
            "f32 bias",
        ),
        (
            Error::Stage("bias has 2 values".into()),
            "bias has 2 values",
        ),
        (
            Error::IsaUnavailable {
                isa: Isa::I8mm,
                reason: "no",
            },
            "i8mm",
        ),
        (Error::UnknownIsa("bogus".into()), "bogus"),
        (
            Error::LayoutMismatch {
                packed_for: "x::k1",
                requested: "y::k2",
            },
            "x::k1",
        ),
    ];
    for (e, needle) in &all {
        let s = e.to_string();
        assert!(!s.is_empty(), "{e:?} displays as an empty string");
        assert!(
            s.contains(needle),
            "{e:?} displays as {s:?}, which does not mention {needle:?}"
        );
        // It is a std error.
        let dynerr: &dyn std::error::Error = e;
        assert_eq!(dynerr.to_string(), s);
    }
}
