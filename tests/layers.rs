//! The quantized layers (src/layers): bit-exact against an independent integer reference
//! written here, close to plain f64 models, identical on every engine, and every bad
//! argument an `Err`.

use zeropoint::layers::{add, global_avg_pool, max_pool, DynamicScratch, Pool2d};
use zeropoint::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
    fn u8(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.f(lo, hi)).collect()
    }
}

fn engines() -> Vec<Engine> {
    let mut isas: Vec<_> = variants()
        .into_iter()
        .filter(|v| v.available)
        .map(|v| v.isa)
        .collect();
    isas.sort();
    isas.dedup();
    isas.into_iter()
        .map(|i| Engine::with_isa(i).expect("available ISA"))
        .collect()
}

// ---- independent reference requantization ----

fn rne(x: f32) -> f32 {
    x.round_ties_even()
}

fn ref_fp32(acc: i32, scale: f32, zp: i32, lo: i32, hi: i32) -> i32 {
    let y = acc as f32 * scale;
    let y = y.clamp((lo - zp) as f32, (hi - zp) as f32);
    rne(y) as i32 + zp
}

fn ref_double(acc: i32, m: QuantizedMultiplier, zp: i32, lo: i32, hi: i32) -> i32 {
    let left = m.shift.max(0);
    let right = (-m.shift).max(0);
    let x = ((acc as i64) << left).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    let h = if x == i32::MIN && m.m0 == i32::MIN {
        i32::MAX
    } else {
        let ab = x as i64 * m.m0 as i64;
        let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        ((ab + nudge) / (1i64 << 31)) as i32
    };
    let mask = ((1i64 << right) - 1) as i32;
    let rem = h & mask;
    let thr = (mask >> 1) + i32::from(h < 0);
    let r = (h >> right) + i32::from(rem > thr);
    (r as i64 + zp as i64).clamp(lo as i64, hi as i64) as i32
}

fn ref_single(acc: i32, m: QuantizedMultiplier, zp: i32, lo: i32, hi: i32) -> i32 {
    let s = (31 - m.shift) as u32;
    let r = (acc as i64 * m.m0 as i64 + (1i64 << (s - 1))) >> s;
    (r + zp as i64).clamp(lo as i64, hi as i64) as i32
}

fn ref_requant(scheme: RequantScheme, acc: i32, m: f64, zp: i32, (lo, hi): (i32, i32)) -> i32 {
    match scheme {
        RequantScheme::Fp32 => ref_fp32(acc, m as f32, zp, lo, hi),
        RequantScheme::DoubleRounding => {
            ref_double(acc, quantize_multiplier(m).unwrap(), zp, lo, hi)
        }
        RequantScheme::SingleRounding => {
            ref_single(acc, quantize_multiplier(m).unwrap(), zp, lo, hi)
        }
    }
}

fn ref_bias(b: f32, sw: f32, sx: f32) -> i32 {
    (b as f64 / (sw * sx) as f64).round_ties_even() as i32
}

// ---- observers ----

#[test]
fn observers() {
    let mut o = MinMaxObserver::new();
    assert!(o.params::<u8>().is_err());
    o.observe(&[1.0, 2.0]).unwrap();
    o.observe(&[]).unwrap();
    o.observe(&[-0.5, 0.25]).unwrap();
    assert_eq!(o.range(), Some((-0.5, 2.0)));
    assert!(matches!(
        o.observe(&[0.0, f32::NAN]),
        Err(Error::NonFinite { index: 1, .. })
    ));
    assert_eq!(o.range(), Some((-0.5, 2.0)));
    assert_eq!(
        o.params::<u8>().unwrap(),
        QuantParams::<u8>::from_range(-0.5, 2.0).unwrap()
    );
    assert_eq!(
        o.symmetric_params::<i8>(SymmetricRange::Restricted)
            .unwrap(),
        QuantParams::<i8>::symmetric(2.0, SymmetricRange::Restricted).unwrap()
    );

    let mut m = MovingAverageMinMaxObserver::new(0.5).unwrap();
    assert!(m.params::<i8>().is_err());
    m.observe(&[0.0, 4.0]).unwrap();
    m.observe(&[-2.0, 2.0]).unwrap();
    assert_eq!(m.range(), Some((-1.0, 3.0)));
    assert!(m.observe(&[f32::INFINITY]).is_err());
    assert_eq!(m.range(), Some((-1.0, 3.0)));
    assert_eq!(
        m.params::<i8>().unwrap(),
        QuantParams::<i8>::from_range(-1.0, 3.0).unwrap()
    );
    for c in [0.0, -0.1, 1.5, f32::NAN] {
        assert!(MovingAverageMinMaxObserver::new(c).is_err(), "{c}");
    }
}

// ---- Linear ----

fn linear_case(
    engine: &Engine,
    rng: &mut Rng,
    m: usize,
    k: usize,
    n: usize,
    wq: WeightQuantization,
) -> (Linear, Vec<f32>, Vec<f32>, Vec<f32>) {
    let w = rng.vec(n * k, -1.0, 1.0);
    let b = rng.vec(n, -0.5, 0.5);
    let x = rng.vec(m * k, -1.0, 2.0);
    let lin = Linear::new(engine, &w, Some(&b), n, k, wq).unwrap();
    (lin, w, b, x)
}

fn f64_linear(w: &[f32], b: &[f32], x: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut y = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            y[i * n + j] = b[j] as f64
                + (0..k)
                    .map(|t| x[i * k + t] as f64 * w[j * k + t] as f64)
                    .sum::<f64>();
        }
    }
    y
}

fn check_linear_static<X: QType, Y: QType + OutType>(
    lin: &Linear,
    x: &[f32],
    m: usize,
    scheme: RequantScheme,
    act: Activation,
    px: QuantParams<X>,
    py: QuantParams<Y>,
) -> Vec<Y> {
    let (k, n) = (lin.in_features(), lin.out_features());
    let mut xq = vec![X::default(); m * k];
    quantize(x, &[m, k], &Granularity::PerTensor(px), &mut xq).unwrap();
    let sq = lin.static_quant(px, py, scheme, act).unwrap();
    let mut y = vec![Y::default(); m * n];
    lin.forward(&sq, Matrix::new(&xq, m, k), MatrixMut::new(&mut y, m, n))
        .unwrap();
    // Independent reference.
    let (w, sw, zw) = (lin.weights(), lin.weight_scales(), lin.weight_zero_points());
    let zy = py.zero_point().to_i32();
    let clamp = match act {
        Activation::None => (Y::MIN, Y::MAX),
        Activation::Relu => (zy, Y::MAX),
        Activation::Relu6 => (zy, py.quantize(6.0).to_i32()),
    };
    for i in 0..m {
        for j in 0..n {
            let mut acc = ref_bias(lin.bias()[j], sw[j], px.scale());
            for t in 0..k {
                acc = acc.wrapping_add(
                    (xq[i * k + t].to_i32() - px.zero_point().to_i32())
                        * (w[j * k + t] as i32 - zw[j] as i32),
                );
            }
            let mm = sw[j] as f64 * px.scale() as f64 / py.scale() as f64;
            let want = ref_requant(scheme, acc, mm, zy, clamp);
            assert_eq!(y[i * n + j].to_i32(), want, "({i},{j}) {scheme:?} {act:?}");
        }
    }
    y
}

#[test]
fn linear_static_is_bit_exact_and_close_to_f64() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (m, k, n) = (7, 37, 19);
    let px8 = QuantParams::<u8>::from_range(-1.0, 2.0).unwrap();
    let pxi8 = QuantParams::<i8>::from_range(-1.0, 2.0).unwrap();
    for wq in [
        WeightQuantization::PerChannelSymmetric,
        WeightQuantization::PerTensorSymmetric,
        WeightQuantization::PerChannelAsymmetric,
        WeightQuantization::PerTensorAsymmetric,
    ] {
        let mut first: Option<Vec<u8>> = None;
        for e in engines() {
            let mut r2 = Rng(rng.0);
            let (lin, w, b, x) = linear_case(&e, &mut r2, m, k, n, wq);
            let want = f64_linear(&w, &b, &x, m, k, n);
            let (lo, hi) = want
                .iter()
                .fold((0f64, 0f64), |(a, c), &v| (a.min(v), c.max(v)));
            let py = QuantParams::<u8>::from_range(lo as f32, hi as f32).unwrap();
            for scheme in [
                RequantScheme::Fp32,
                RequantScheme::DoubleRounding,
                RequantScheme::SingleRounding,
            ] {
                for act in [Activation::None, Activation::Relu, Activation::Relu6] {
                    let y = check_linear_static(&lin, &x, m, scheme, act, px8, py);
                    check_linear_static::<i8, i8>(
                        &lin,
                        &x,
                        m,
                        scheme,
                        act,
                        pxi8,
                        QuantParams::from_range(lo as f32, hi as f32).unwrap(),
                    );
                    if scheme == RequantScheme::Fp32 && act == Activation::None {
                        // Close to the f64 model: a few output steps.
                        let tol = 4.0 * py.scale() as f64 + 0.05;
                        for (q, &r) in y.iter().zip(&want) {
                            let d = py.dequantize(*q) as f64;
                            assert!((d - r).abs() < tol, "{wq:?}: {d} vs {r}");
                        }
                        match &first {
                            None => first = Some(y.clone()),
                            Some(f) => assert_eq!(f, &y, "{wq:?} differs on {:?}", e.isa()),
                        }
                    }
                }
            }
        }
        rng.next();
    }
}

#[test]
fn linear_dynamic_matches_reference_and_f64() {
    let (m, k, n) = (5, 64, 33);
    for wq in [
        WeightQuantization::PerChannelSymmetric,
        WeightQuantization::PerTensorAsymmetric,
        WeightQuantization::PerChannelAsymmetric,
    ] {
        let mut first: Option<Vec<f32>> = None;
        for e in engines() {
            let mut rng = Rng(99);
            let (lin, w, b, x) = linear_case(&e, &mut rng, m, k, n, wq);
            let mut y = vec![0f32; m * n];
            let mut scratch = DynamicScratch::default();
            lin.forward_dynamic(
                Matrix::new(&x, m, k),
                MatrixMut::new(&mut y, m, n),
                &mut scratch,
            )
            .unwrap();
            // Reference: per-row asymmetric u8, i32 accumulators, f32(acc)·(sx·sw) + b.
            let mut xq = vec![0u8; m * k];
            let mut ps = vec![QuantParams::<u8>::new(1.0, 0).unwrap(); m];
            dynamic_quantize_rows(
                Matrix::new(&x, m, k),
                DynamicMode::Asymmetric,
                MatrixMut::new(&mut xq, m, k),
                &mut ps,
            )
            .unwrap();
            let want64 = f64_linear(&w, &b, &x, m, k, n);
            for i in 0..m {
                for j in 0..n {
                    let mut acc = 0i32;
                    for t in 0..k {
                        acc += (xq[i * k + t] as i32 - ps[i].zero_point() as i32)
                            * (lin.weights()[j * k + t] as i32
                                - lin.weight_zero_points()[j] as i32);
                    }
                    let s = ps[i].scale() * lin.weight_scales()[j];
                    let want = acc as f32 * s + b[j];
                    assert_eq!(y[i * n + j].to_bits(), want.to_bits(), "({i},{j})");
                    assert!((y[i * n + j] as f64 - want64[i * n + j]).abs() < 0.1);
                }
            }
            match &first {
                None => first = Some(y),
                Some(f) => assert_eq!(f, &y),
            }
        }
    }
}

#[test]
fn linear_errors() {
    let e = Engine::global().unwrap();
    let w = vec![0.5f32; 6];
    let wq = WeightQuantization::default();
    assert!(Linear::new(&e, &w, None, 0, 6, wq).is_err());
    assert!(Linear::new(&e, &w, None, 2, 2, wq).is_err());
    assert!(Linear::new(&e, &w, Some(&[0.0]), 2, 3, wq).is_err());
    assert!(Linear::new(&e, &w, Some(&[0.0, f32::NAN]), 2, 3, wq).is_err());
    let mut bad = w.clone();
    bad[4] = f32::INFINITY;
    assert!(matches!(
        Linear::new(&e, &bad, None, 2, 3, wq),
        Err(Error::NonFinite { index: 4, .. })
    ));
    let lin = Linear::new(&e, &w, Some(&[1e30, 0.0]), 2, 3, wq).unwrap();
    let px = QuantParams::<u8>::new(1e-3, 0).unwrap();
    let py = QuantParams::<u8>::new(0.1, 0).unwrap();
    // Bias 1e30 at scale ~4e-6 does not fit i32.
    assert!(matches!(
        lin.static_quant(px, py, RequantScheme::Fp32, Activation::None),
        Err(Error::Range { .. })
    ));
    let lin = Linear::new(&e, &w, None, 2, 3, wq).unwrap();
    // Multiplier out of range for fixed point.
    let tiny = QuantParams::<u8>::new(1e-30, 0).unwrap();
    assert!(lin
        .static_quant(tiny, py, RequantScheme::DoubleRounding, Activation::None)
        .is_err());
    let sq = lin
        .static_quant(px, py, RequantScheme::Fp32, Activation::Relu)
        .unwrap();
    let x = [0u8; 6];
    let mut y = [0u8; 4];
    assert!(lin
        .forward(&sq, Matrix::new(&x, 3, 2), MatrixMut::new(&mut y, 2, 2))
        .is_err());
    assert!(lin
        .forward(
            &sq,
            Matrix::new(&x, 2, 3),
            MatrixMut::new(&mut y[..3], 2, 2)
        )
        .is_err());
    let other = Linear::new(&e, &[0.1; 9], None, 3, 3, wq).unwrap();
    let sq3 = other
        .static_quant(px, py, RequantScheme::Fp32, Activation::None)
        .unwrap();
    assert!(matches!(
        lin.forward(&sq3, Matrix::new(&x, 2, 3), MatrixMut::new(&mut y, 2, 2)),
        Err(Error::Stage(_))
    ));
    let mut s = DynamicScratch::default();
    let xf = [0.0f32, 1.0, f32::NAN, 0.0, 0.0, 0.0];
    let mut yf = [7.0f32; 4];
    assert!(lin
        .forward_dynamic(
            Matrix::new(&xf, 2, 3),
            MatrixMut::new(&mut yf, 2, 2),
            &mut s
        )
        .is_err());
    assert_eq!(yf, [7.0; 4], "nothing written on error");
    assert!(lin
        .forward_dynamic(
            Matrix::new(&xf, 3, 2),
            MatrixMut::new(&mut yf, 2, 2),
            &mut s
        )
        .is_err());
    assert!(lin
        .forward_dynamic(
            Matrix::new(&xf, 2, 3),
            MatrixMut::new(&mut yf, 1, 4),
            &mut s
        )
        .is_err());
}

// ---- add and pooling ----

#[test]
fn add_matches_onnx_reference() {
    let mut rng = Rng(7);
    let a: Vec<u8> = (0..1000).map(|_| rng.u8()).collect();
    let b: Vec<u8> = (0..1000).map(|_| rng.u8()).collect();
    let pa = QuantParams::<u8>::new(0.02, 100).unwrap();
    let pb = QuantParams::<u8>::new(0.037, 3).unwrap();
    let pc = QuantParams::<u8>::new(0.05, 128).unwrap();
    for act in [Activation::None, Activation::Relu, Activation::Relu6] {
        let mut c = vec![0u8; 1000];
        add(&a, pa, &b, pb, &mut c, pc, act).unwrap();
        for i in 0..1000 {
            let fa = (a[i] as i32 - 100) as f32 * 0.02;
            let fb = (b[i] as i32 - 3) as f32 * 0.037;
            let q = (rne((fa + fb) / 0.05) + 128.0).clamp(0.0, 255.0) as i32;
            let q = match act {
                Activation::None => q,
                Activation::Relu => q.max(128),
                Activation::Relu6 => q.clamp(128, 128 + 120),
            };
            assert_eq!(c[i] as i32, q, "{i} {act:?}");
        }
    }
    let mut c = vec![0u8; 999];
    assert!(add(&a, pa, &b, pb, &mut c, pc, Activation::None).is_err());
    assert!(add(&a[..5], pa, &b, pb, &mut c[..5], pc, Activation::None).is_err());
}

#[test]
fn pooling_matches_reference() {
    let mut rng = Rng(11);
    let s = Nhwc::new(2, 5, 6, 3);
    let x: Vec<i8> = (0..2 * 5 * 6 * 3).map(|_| rng.u8() as i8).collect();
    let px = QuantParams::<i8>::new(0.1, -5).unwrap();
    let py = QuantParams::<i8>::new(0.03, 2).unwrap();
    let mut y = vec![0i8; 6];
    global_avg_pool(&x, s, px, &mut y, py).unwrap();
    let scale = (0.1f64 / (0.03f32 as f64 * 30.0)) as f32;
    for img in 0..2 {
        for c in 0..3 {
            let acc: i32 = (0..30).map(|p| x[(img * 30 + p) * 3 + c] as i32 + 5).sum();
            let want = ref_fp32(acc, scale, 2, -128, 127);
            assert_eq!(y[img * 3 + c] as i32, want);
            let mean: f64 = (0..30)
                .map(|p| px.dequantize(x[(img * 30 + p) * 3 + c]) as f64)
                .sum::<f64>()
                / 30.0;
            assert!((py.dequantize(y[img * 3 + c]) as f64 - mean).abs() <= 0.016);
        }
    }
    assert!(global_avg_pool(&x, s, px, &mut y[..5], py).is_err());
    assert!(global_avg_pool(&x[..10], s, px, &mut y, py).is_err());
    assert!(global_avg_pool(&x[..0], Nhwc::new(1, 0, 3, 0), px, &mut y[..0], py).is_err());

    let pool = Pool2d {
        kernel: (3, 2),
        stride: (2, 2),
        padding: [1, 1, 1, 0],
    };
    let os = pool.output_shape(s).unwrap();
    assert_eq!((os.h, os.w), ((5 + 2 - 3) / 2 + 1, (6 + 1 - 2) / 2 + 1));
    let mut y = vec![0i8; os.numel().unwrap()];
    max_pool(&x, s, &pool, &mut y).unwrap();
    for img in 0..2 {
        for oy in 0..os.h {
            for ox in 0..os.w {
                for c in 0..3 {
                    let mut m = i32::MIN;
                    for ky in 0..3 {
                        for kx in 0..2 {
                            let iy = (oy * 2 + ky) as isize - 1;
                            let ix = (ox * 2 + kx) as isize - 1;
                            if (0..5).contains(&iy) && (0..6).contains(&ix) {
                                m = m.max(
                                    x[((img * 5 + iy as usize) * 6 + ix as usize) * 3 + c] as i32,
                                );
                            }
                        }
                    }
                    assert_eq!(y[((img * os.h + oy) * os.w + ox) * 3 + c] as i32, m);
                }
            }
        }
    }
    assert!(max_pool(&x, s, &pool, &mut y[1..]).is_err());
    for bad in [
        Pool2d {
            kernel: (0, 2),
            stride: (1, 1),
            padding: [0; 4],
        },
        Pool2d {
            kernel: (2, 2),
            stride: (0, 1),
            padding: [0; 4],
        },
        Pool2d {
            kernel: (2, 2),
            stride: (1, 1),
            padding: [2, 0, 0, 0],
        },
        Pool2d {
            kernel: (9, 2),
            stride: (1, 1),
            padding: [0; 4],
        },
    ] {
        assert!(max_pool(&x, s, &bad, &mut y).is_err(), "{bad:?}");
    }
}

// ---- Conv2d ----

/// Independent NHWC integer convolution: i32 accumulators (no bias).
#[allow(clippy::too_many_arguments)]
fn ref_conv(
    x: &[u8],
    s: Nhwc,
    zx: i32,
    w: &[i8],
    zw: &[i8],
    oc: usize,
    g: &Conv2dGeometry,
) -> (Vec<i32>, Nhwc) {
    let (kh, kw) = g.kernel;
    let cin_g = s.c / g.groups;
    let ng = oc / g.groups;
    let oh = (s.h + g.padding[0] + g.padding[2] - g.dilation.0 * (kh - 1) - 1) / g.stride.0 + 1;
    let ow = (s.w + g.padding[1] + g.padding[3] - g.dilation.1 * (kw - 1) - 1) / g.stride.1 + 1;
    let os = Nhwc::new(s.n, oh, ow, oc);
    let mut y = vec![0i32; s.n * oh * ow * oc];
    for n in 0..s.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let gi = o / ng;
                    let mut acc = 0i32;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * g.stride.0 + ky * g.dilation.0) as isize
                                - g.padding[0] as isize;
                            let ix = (ox * g.stride.1 + kx * g.dilation.1) as isize
                                - g.padding[1] as isize;
                            if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                continue;
                            }
                            for ci in 0..cin_g {
                                let xv = x[((n * s.h + iy as usize) * s.w + ix as usize) * s.c
                                    + gi * cin_g
                                    + ci] as i32;
                                let wv = w[((o * kh + ky) * kw + kx) * cin_g + ci] as i32;
                                acc += (xv - zx) * (wv - zw[o] as i32);
                            }
                        }
                    }
                    y[((n * oh + oy) * ow + ox) * oc + o] = acc;
                }
            }
        }
    }
    (y, os)
}

#[test]
fn conv2d_geometries_are_bit_exact_on_every_engine() {
    let cases: Vec<(Nhwc, usize, Conv2dGeometry)> = vec![
        (Nhwc::new(2, 7, 6, 5), 4, Conv2dGeometry::new(3, 3)),
        (
            Nhwc::new(1, 8, 9, 6),
            6,
            Conv2dGeometry::new(3, 2)
                .with_stride(2, 1)
                .with_padding([1, 0, 2, 1]),
        ),
        (
            Nhwc::new(1, 9, 9, 4),
            8,
            Conv2dGeometry::new(3, 3)
                .with_dilation(2, 3)
                .with_padding([2, 3, 2, 3]),
        ),
        (
            Nhwc::new(2, 6, 5, 6),
            9,
            Conv2dGeometry::new(3, 3)
                .with_groups(3)
                .with_padding([1; 4]),
        ),
        (
            Nhwc::new(2, 6, 7, 8),
            8,
            Conv2dGeometry::new(3, 3)
                .with_groups(8)
                .with_padding([1; 4]),
        ),
        (
            Nhwc::new(1, 10, 9, 5),
            5,
            Conv2dGeometry::new(5, 3)
                .with_groups(5)
                .with_stride(2, 3)
                .with_dilation(1, 2)
                .with_padding([2, 1, 0, 2]),
        ),
        (Nhwc::new(3, 4, 5, 7), 3, Conv2dGeometry::new(1, 1)),
        (
            Nhwc::new(1, 6, 6, 4),
            8,
            Conv2dGeometry::new(3, 3)
                .with_groups(4)
                .with_padding([1; 4]),
        ),
        (
            Nhwc::new(1, 5, 5, 4),
            4,
            Conv2dGeometry::new(1, 1).with_stride(2, 2),
        ),
        (
            Nhwc::new(2, 7, 9, 16),
            12,
            Conv2dGeometry::new(3, 3)
                .with_groups(2)
                .with_stride(2, 1)
                .with_dilation(1, 2)
                .with_padding([1, 2, 0, 1]),
        ),
        (
            Nhwc::new(1, 3, 30, 8),
            40,
            Conv2dGeometry::new(1, 5).with_padding([0, 2, 0, 2]),
        ),
        (
            Nhwc::new(1, 40, 40, 64),
            16,
            Conv2dGeometry::new(3, 3).with_padding([1; 4]),
        ),
        // K = 864 over three panels of output channels (the last partial), five tiles
        // of 32 pixels (the last partial): deep enough for AMX to overlap one panel's
        // products with the previous panel's output stage.
        (
            Nhwc::new(1, 12, 12, 96),
            70,
            Conv2dGeometry::new(3, 3).with_padding([1; 4]),
        ),
    ];
    let mut rng = Rng(0xfeed);
    for (ci, (s, oc, g)) in cases.into_iter().enumerate() {
        let k = g.kernel.0 * g.kernel.1 * (s.c / g.groups);
        let wf = rng.vec(oc * k, -1.0, 1.0);
        let bias = rng.vec(oc, -0.3, 0.3);
        let x: Vec<u8> = (0..s.numel().unwrap()).map(|_| rng.u8()).collect();
        let px = QuantParams::<u8>::new(0.02, 120).unwrap();
        let py = QuantParams::<u8>::new(0.05 * (k as f32).sqrt(), 128).unwrap();
        let mut first: Option<(Vec<i32>, Vec<u8>)> = None;
        for e in engines() {
            for wq in [
                WeightQuantization::PerChannelSymmetric,
                WeightQuantization::PerChannelAsymmetric,
            ] {
                let conv = Conv2d::new(&e, s.c, oc, g, &wf, Some(&bias), wq).unwrap();
                assert_eq!(conv.is_depthwise(), g.groups == s.c && g.groups > 1);
                // Recover the quantized weights as the layer does (same formula).
                let mut wq8 = vec![0i8; oc * k];
                let mut zw = vec![0i8; oc];
                for o in 0..oc {
                    let row = &wf[o * k..(o + 1) * k];
                    let (lo, hi) = row
                        .iter()
                        .fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
                    let p = match wq {
                        WeightQuantization::PerChannelSymmetric => {
                            QuantParams::<i8>::symmetric(hi.max(-lo), SymmetricRange::Restricted)
                                .unwrap()
                        }
                        _ => QuantParams::<i8>::from_range(lo, hi).unwrap(),
                    };
                    assert_eq!(p.scale(), conv.weight_scales()[o]);
                    for t in 0..k {
                        wq8[o * k + t] = p.quantize(row[t]);
                    }
                    zw[o] = p.zero_point();
                }
                let (want, os) = ref_conv(&x, s, 120, &wq8, &zw, oc, &g);
                assert_eq!(conv.output_shape(s).unwrap(), os);
                let mut acc = vec![0i32; want.len()];
                conv.forward_with_stage(&x, s, 120u8, &OutputStage::i32(), &mut acc)
                    .unwrap();
                assert_eq!(acc, want, "case {ci} {:?} {wq:?}", e.isa());
                let sq = conv
                    .static_quant(px, py, RequantScheme::DoubleRounding, Activation::Relu)
                    .unwrap();
                let mut y = vec![0u8; want.len()];
                conv.forward(&sq, &x, s, &mut y).unwrap();
                for (i, (&a, &q)) in want.iter().zip(&y).enumerate() {
                    let o = i % oc;
                    let sw = conv.weight_scales()[o];
                    let accb = a.wrapping_add(ref_bias(bias[o], sw, 0.02));
                    let m = sw as f64 * 0.02 / py.scale() as f64;
                    assert_eq!(
                        q as i32,
                        ref_requant(RequantScheme::DoubleRounding, accb, m, 128, (128, 255)),
                        "case {ci} {i}"
                    );
                }
                if wq == WeightQuantization::PerChannelSymmetric {
                    match &first {
                        None => first = Some((acc, y)),
                        Some(f) => assert_eq!(f, &(acc, y), "case {ci} on {:?}", e.isa()),
                    }
                }
            }
        }
    }
}

/// Depthwise with i8 input and u8 weights, channel counts around every SIMD block size
/// (8, 16, 32, 64), against a direct reference, on every engine.
#[test]
fn depthwise_i8_input_and_channel_tails() {
    let mut rng = Rng(0xd3);
    for c in [2usize, 3, 8, 15, 16, 17, 31, 37, 64, 80, 131] {
        let s = Nhwc::new(2, 5, 4, c);
        let g = Conv2dGeometry::new(3, 2)
            .with_groups(c)
            .with_padding([1, 1, 1, 0])
            .with_stride(1, 2);
        let x: Vec<i8> = (0..s.numel().unwrap()).map(|_| rng.u8() as i8).collect();
        let w: Vec<u8> = (0..c * 6).map(|_| rng.u8()).collect();
        let zw: Vec<u8> = (0..c).map(|_| rng.u8()).collect();
        let zx = -17i8;
        let mut first: Option<Vec<i32>> = None;
        for e in engines() {
            let conv = Conv2d::from_quantized(
                &e,
                c,
                c,
                g,
                &w,
                PerChannel::Channel(&zw),
                PerChannel::Tensor(1.0),
                None,
            )
            .unwrap();
            assert!(conv.is_depthwise());
            let os = conv.output_shape(s).unwrap();
            let mut y = vec![0i32; os.numel().unwrap()];
            conv.forward_with_stage(&x, s, zx, &OutputStage::i32(), &mut y)
                .unwrap();
            for n in 0..2 {
                for oy in 0..os.h {
                    for ox in 0..os.w {
                        for ch in 0..c {
                            let mut acc = 0i32;
                            for ky in 0..3 {
                                for kx in 0..2 {
                                    let iy = (oy + ky) as isize - 1;
                                    let ix = (ox * 2 + kx) as isize - 1;
                                    if iy < 0 || ix < 0 || iy >= 5 || ix >= 4 {
                                        continue;
                                    }
                                    let xv = x[((n * 5 + iy as usize) * 4 + ix as usize) * c + ch];
                                    acc += (xv as i32 - zx as i32)
                                        * (w[ch * 6 + ky * 2 + kx] as i32 - zw[ch] as i32);
                                }
                            }
                            assert_eq!(
                                y[((n * os.h + oy) * os.w + ox) * c + ch],
                                acc,
                                "c={c} {:?} ({n},{oy},{ox},{ch})",
                                e.isa()
                            );
                        }
                    }
                }
            }
            match &first {
                None => first = Some(y),
                Some(f) => assert_eq!(f, &y),
            }
        }
    }
}

/// Depthwise with a channel multiplier (`groups = in`, `out = M·in`) through the depthwise
/// kernels, against the same convolution as a grouped GEMM (groups of two input channels,
/// the other channel's weights at the zero point) and as a dense GEMM, against a direct
/// reference, on every engine: u8 and i8 input, i8 and u8 weights, symmetric and
/// asymmetric zero points, the i32 accumulators and a requantized output.
#[test]
fn depthwise_multiplier_matches_grouped_gemm() {
    let mut rng = Rng(0x6d17);
    let geoms = [
        Conv2dGeometry::new(3, 3).with_padding([1; 4]),
        Conv2dGeometry::new(5, 3)
            .with_stride(2, 1)
            .with_dilation(1, 2)
            .with_padding([2, 1, 0, 2]),
        Conv2dGeometry::new(1, 1),
    ];
    let cases = [
        (2usize, 2usize),
        (3, 2),
        (8, 2),
        (16, 3),
        (18, 4),
        (64, 2),
        (70, 2),
        (17, 5),
        (6, 8),
    ];
    let mut checked = 0;
    for (ci, &(c, m)) in cases.iter().enumerate() {
        let oc = c * m;
        let g = geoms[ci % geoms.len()];
        let taps = g.kernel.0 * g.kernel.1;
        let s = Nhwc::new(2, 6, 7, c);
        for variant in 0..4 {
            // variant: bit 0 = i8 input, bit 1 = asymmetric weights.
            let asym = variant & 2 != 0;
            let w: Vec<i8> = (0..oc * taps)
                .map(|i| match i % 5 {
                    0 => [-128, 127, -127, 0][(i / 5) % 4],
                    _ => rng.u8() as i8,
                })
                .collect();
            let zw: Vec<i8> = (0..oc)
                .map(|o| {
                    if asym {
                        [rng.u8() as i8, -128, 127][o % 3]
                    } else {
                        0
                    }
                })
                .collect();
            // The same weights as a grouped convolution over pairs of input channels and
            // as a dense one: the entries of other input channels hold the zero point.
            let spread = |cin_g: usize| -> Vec<i8> {
                let ng = oc / (c / cin_g);
                let mut v = Vec::with_capacity(oc * taps * cin_g);
                for o in 0..oc {
                    let local = o / m - (o / ng) * cin_g;
                    for t in 0..taps {
                        for l in 0..cin_g {
                            v.push(if l == local { w[o * taps + t] } else { zw[o] });
                        }
                    }
                }
                v
            };
            let x: Vec<u8> = (0..s.numel().unwrap())
                .map(|i| {
                    if i % 11 == 0 {
                        [0, 255][i % 2]
                    } else {
                        rng.u8()
                    }
                })
                .collect();
            let zx = [0u8, 255, 131, 7][variant];
            let (want, os) = ref_conv(&x, s, zx as i32, &w, &zw, oc, &g.with_groups(c));
            let bias: Vec<i32> = (0..oc).map(|o| o as i32 * 977 - 5000).collect();
            let mults: Vec<f32> = (0..oc).map(|o| 0.0007 + o as f32 * 1e-5).collect();
            let stage =
                OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&mults)), 3)
                    .with_bias(&bias);
            let mut first: Option<(Vec<i32>, Vec<u8>)> = None;
            for e in engines() {
                let mut layouts = vec![(c, w.clone())];
                if c % 2 == 0 {
                    layouts.push((c / 2, spread(2)));
                }
                layouts.push((1, spread(c)));
                for (groups, wl) in layouts {
                    let conv = Conv2d::from_quantized(
                        &e,
                        c,
                        oc,
                        g.with_groups(groups),
                        &wl,
                        PerChannel::Channel(&zw),
                        PerChannel::Tensor(0.01),
                        None,
                    )
                    .unwrap();
                    assert_eq!(conv.is_depthwise(), groups == c);
                    assert_eq!(conv.output_shape(s).unwrap(), os);
                    let mut acc = vec![0i32; os.numel().unwrap()];
                    let mut y = vec![0u8; acc.len()];
                    if variant & 1 == 0 {
                        conv.forward_with_stage(&x, s, zx, &OutputStage::i32(), &mut acc)
                            .unwrap();
                        conv.forward_with_stage(&x, s, zx, &stage, &mut y).unwrap();
                    } else {
                        // i8 input with the same differences: x ^ 0x80 with zx − 128.
                        let xi: Vec<i8> = x.iter().map(|&v| (v ^ 0x80) as i8).collect();
                        let zi = (zx ^ 0x80) as i8;
                        conv.forward_with_stage(&xi, s, zi, &OutputStage::i32(), &mut acc)
                            .unwrap();
                        conv.forward_with_stage(&xi, s, zi, &stage, &mut y).unwrap();
                    }
                    assert_eq!(
                        acc,
                        want,
                        "C={c} M={m} groups {groups} variant {variant} on {:?}",
                        e.isa()
                    );
                    match &first {
                        None => first = Some((acc, y)),
                        Some(f) => assert_eq!(
                            f,
                            &(acc, y),
                            "C={c} M={m} groups {groups} variant {variant} on {:?}",
                            e.isa()
                        ),
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0);
}

/// Per-tensor requantization parameters through every convolution path (implicit GEMM,
/// grouped, im2col, one GEMM for 1×1, depthwise), every scheme, u8 and i8 output. The
/// implicit GEMM once lowered each group's stage from a temporary and read per-tensor
/// multipliers and scales from freed stack memory (found by the `conv` fuzz target:
/// AMX gave 108 where the reference gives 255).
#[test]
fn conv2d_per_tensor_stages_on_every_path() {
    let cases: Vec<(Nhwc, usize, Conv2dGeometry)> = vec![
        (
            Nhwc::new(1, 9, 8, 16),
            20,
            Conv2dGeometry::new(3, 3)
                .with_stride(1, 2)
                .with_padding([1; 4]),
        ),
        (
            Nhwc::new(1, 7, 7, 16),
            12,
            Conv2dGeometry::new(3, 3)
                .with_groups(2)
                .with_padding([1; 4]),
        ),
        (Nhwc::new(1, 6, 7, 5), 9, Conv2dGeometry::new(3, 2)),
        (Nhwc::new(2, 5, 5, 24), 40, Conv2dGeometry::new(1, 1)),
        (
            Nhwc::new(1, 6, 6, 8),
            16,
            Conv2dGeometry::new(3, 3)
                .with_groups(8)
                .with_padding([1; 4]),
        ),
    ];
    let mut rng = Rng(0xc0de);
    for (ci, (s, oc, g)) in cases.into_iter().enumerate() {
        let k = g.kernel.0 * g.kernel.1 * (s.c / g.groups);
        let w: Vec<i8> = (0..oc * k).map(|_| rng.u8() as i8).collect();
        let zw = vec![0i8; oc];
        let x: Vec<u8> = (0..s.numel().unwrap()).map(|_| rng.u8()).collect();
        let zx = 117u8;
        let (want, os) = ref_conv(&x, s, zx as i32, &w, &zw, oc, &g);
        let bias: Vec<i32> = (0..oc).map(|o| o as i32 * 37 - 300).collect();
        // Real multipliers that spread the accumulators over the whole output range.
        let m = 4.0 / (k as f64 * 128.0 * 128.0).sqrt();
        let qm = quantize_multiplier(m).unwrap();
        let mf = m as f32;
        for scheme in [
            RequantScheme::Fp32,
            RequantScheme::DoubleRounding,
            RequantScheme::SingleRounding,
        ] {
            let requant = match scheme {
                RequantScheme::Fp32 => Requantization::Fp32(PerChannel::Tensor(mf)),
                RequantScheme::DoubleRounding => {
                    Requantization::DoubleRounding(PerChannel::Tensor(qm))
                }
                RequantScheme::SingleRounding => {
                    Requantization::SingleRounding(PerChannel::Tensor(qm))
                }
            };
            for e in engines() {
                let conv = Conv2d::from_quantized(
                    &e,
                    s.c,
                    oc,
                    g,
                    &w,
                    PerChannel::Tensor(0i8),
                    PerChannel::Tensor(0.01f32),
                    None,
                )
                .unwrap();
                assert_eq!(conv.output_shape(s).unwrap(), os);
                let what = |t: &str| format!("case {ci} {scheme:?} {t} on {:?}", e.isa());
                let stage = OutputStage::quantized(requant, 100).with_bias(&bias);
                let mut y = vec![0u8; want.len()];
                conv.forward_with_stage(&x, s, zx, &stage, &mut y).unwrap();
                let stage8 = OutputStage::quantized(requant, -20).with_bias(&bias);
                let mut y8 = vec![0i8; want.len()];
                conv.forward_with_stage(&x, s, zx, &stage8, &mut y8)
                    .unwrap();
                let m_eff = if scheme == RequantScheme::Fp32 {
                    mf as f64
                } else {
                    m
                };
                for (i, &a) in want.iter().enumerate() {
                    let acc = a.wrapping_add(bias[i % oc]);
                    let u = ref_requant(scheme, acc, m_eff, 100, (0, 255));
                    assert_eq!(y[i] as i32, u, "{} at {i}", what("u8"));
                    let v = ref_requant(scheme, acc, m_eff, -20, (-128, 127));
                    assert_eq!(y8[i] as i32, v, "{} at {i}", what("i8"));
                }
            }
        }
    }
}

#[test]
fn conv2d_errors() {
    let e = Engine::global().unwrap();
    let wq = WeightQuantization::default();
    let g = Conv2dGeometry::new(3, 3);
    let w = vec![0.1f32; 2 * 9 * 4];
    for bad in [
        Conv2dGeometry::new(0, 3),
        g.with_stride(0, 1),
        g.with_dilation(1, 0),
        g.with_groups(0),
        g.with_groups(3),
    ] {
        assert!(Conv2d::new(&e, 4, 2, bad, &w, None, wq).is_err(), "{bad:?}");
    }
    assert!(Conv2d::new(&e, 4, 2, g, &w[1..], None, wq).is_err());
    for bad in [
        Conv2dGeometry::new(0, 3),
        g.with_stride(1, 0),
        g.with_dilation(0, 1),
        g.with_dilation(usize::MAX, 1),
        g.with_padding([usize::MAX, 0, 1, 0]),
    ] {
        assert!(bad.output_hw(4, 4).is_err(), "{bad:?}");
    }
    assert!(g.output_hw(2, 4).is_err());
    assert_eq!(g.with_padding([1; 4]).output_hw(2, 4).unwrap(), (2, 4));
    assert!(Conv2d::new(&e, 0, 2, g, &w, None, wq).is_err());
    assert!(Conv2d::new(&e, 4, 2, g, &w, Some(&[0.0]), wq).is_err());
    let conv = Conv2d::new(&e, 4, 2, g, &w, None, wq).unwrap();
    let s = Nhwc::new(1, 4, 4, 4);
    let x = vec![0u8; 64];
    let mut y = vec![0i32; 8];
    conv.forward_with_stage(&x, s, 0u8, &OutputStage::i32(), &mut y)
        .unwrap();
    assert!(conv
        .forward_with_stage(&x[1..], s, 0u8, &OutputStage::i32(), &mut y)
        .is_err());
    assert!(conv
        .forward_with_stage(&x, s, 0u8, &OutputStage::i32(), &mut y[1..])
        .is_err());
    assert!(conv
        .forward_with_stage(&x, Nhwc::new(1, 2, 8, 4), 0u8, &OutputStage::i32(), &mut y)
        .is_err());
    assert!(conv
        .forward_with_stage(&x, Nhwc::new(1, 4, 8, 2), 0u8, &OutputStage::i32(), &mut y)
        .is_err());
    assert!(conv
        .forward_with_stage(
            &x[..8],
            Nhwc::new(1, 2, 1, 4),
            0u8,
            &OutputStage::i32(),
            &mut y
        )
        .is_err());
    let mut yu = vec![0u8; 8];
    assert!(conv
        .forward_with_stage(&x, s, 0u8, &OutputStage::i32(), &mut yu)
        .is_err());
    let bad_stage = OutputStage::i32().with_bias(&[1, 2, 3]);
    assert!(matches!(
        conv.forward_with_stage(&x, s, 0u8, &bad_stage, &mut y),
        Err(Error::Stage(_))
    ));
}
