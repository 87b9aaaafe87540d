//! Exhaustive where the domain is small: quantize at every tie `k·scale/2` and the f32
//! neighbours of each, over the whole range up to saturation and past it, for a grid of
//! scales and zero points at both ends and in the middle; a strided sweep over all f32
//! bit patterns; dequantize of every u8/i8 code for every zero point. Every available
//! element-wise engine is run (through the public API) and compared with an independent
//! binary64 model (`common::model`).

mod common;

use common::model;
use zeropoint::{variants, Engine, Granularity, OpKind, QType, QuantParams};

/// Every element-wise engine this CPU can run; prints `skipping …` for the others.
fn engines() -> Vec<Engine> {
    let mut v = Vec::new();
    for var in variants() {
        if var.op != OpKind::Elementwise {
            continue;
        }
        if zeropoint::kernels::testing::skip_or_require(var.name, var.isa) {
            continue;
        }
        let e = Engine::with_isa(var.isa).expect("an available variant's ISA is usable");
        assert_eq!(
            e.elementwise_kernels().name,
            var.name,
            "Engine::with_isa({}) did not select {}",
            var.isa,
            var.name
        );
        v.push(e);
    }
    assert!(!v.is_empty(), "no element-wise engine available");
    v
}

const SCALES: [f32; 13] = [
    1.0,
    0.5,
    0.25,
    0.1,
    0.3,
    1.0 / 3.0,
    0.007_812_5,
    1e-3,
    7.5,
    1e-20,
    1e20,
    f32::MIN_POSITIVE,
    3.0e-5,
];

/// The ties `k·scale/2` for every `k` whose tie lies within 3 of the saturation bounds of
/// `[qmin − zp, qmax − zp]` (and past them), each with its two f32 neighbours.
fn tie_inputs(scale: f32, zp: i32, qmin: i32, qmax: i32) -> Vec<f32> {
    let (k0, k1) = (2 * (qmin - zp - 3), 2 * (qmax - zp + 3));
    let mut xs = Vec::with_capacity(3 * (k1 - k0 + 1) as usize + 8);
    for k in k0..=k1 {
        let x = (k as f64 * scale as f64 * 0.5) as f32;
        xs.push(x);
        if x.is_finite() {
            xs.push(model::next_up(x));
            xs.push(model::next_down(x));
        }
    }
    xs.extend([
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        f32::MAX,
        f32::MIN,
    ]);
    xs
}

/// Quantizes `xs` with `engine` (and, when `global` is set, with the free function) and
/// compares every element with the model.
fn check_quantize<T: QType>(engine: &Engine, xs: &[f32], scale: f32, zp: i32, global: bool) {
    let p = QuantParams::<T>::new(scale, T::from_i32(zp)).unwrap();
    let g = Granularity::PerTensor(p);
    let mut out = vec![T::from_i32(T::MIN); xs.len()];
    engine.quantize(xs, &[xs.len()], &g, &mut out).unwrap();
    let mut runs = vec![(engine.elementwise_kernels().name, out)];
    if global {
        let mut out = vec![T::from_i32(T::MAX); xs.len()];
        zeropoint::quantize(xs, &[xs.len()], &g, &mut out).unwrap();
        runs.push(("zeropoint::quantize (global engine)", out));
    }
    for (name, out) in runs {
        for (i, (&x, &q)) in xs.iter().zip(&out).enumerate() {
            let want = model::quantize(x, scale, zp, T::MIN, T::MAX);
            assert_eq!(
                q.to_i32(),
                want,
                "{name}: quantize {} [{i}] x={x:e} ({:#010x}) scale={scale:e} zp={zp}: model {want} actual {}",
                T::NAME,
                x.to_bits(),
                q.to_i32()
            );
        }
    }
}

#[test]
fn quantize_every_tie_and_neighbour() {
    let mut count = 0usize;
    for (ei, e) in engines().iter().enumerate() {
        for &scale in &SCALES {
            for zp in [0, 1, 128, 254, 255] {
                let xs = tie_inputs(scale, zp, 0, 255);
                check_quantize::<u8>(e, &xs, scale, zp, ei == 0);
                count += xs.len();
            }
            for zp in [-128, -127, 0, 126, 127] {
                let xs = tie_inputs(scale, zp, -128, 127);
                check_quantize::<i8>(e, &xs, scale, zp, ei == 0);
                count += xs.len();
            }
        }
    }
    assert!(count > 100_000, "only {count} values checked");
}

/// For power-of-two scales every `k·scale/2` is an exact tie: pin the ties-to-even rule
/// directly (not only through the model).
#[test]
fn exact_ties_round_to_even() {
    for e in engines() {
        for scale in [1.0f32, 0.5, 0.007_812_5, 2f32.powi(-100), 2f32.powi(100)] {
            for zp in [0u8, 128, 255] {
                let xs: Vec<f32> = (-600..=600).map(|k| (k as f32 + 0.5) * scale).collect();
                let p = QuantParams::<u8>::new(scale, zp).unwrap();
                let mut out = vec![0u8; xs.len()];
                e.quantize(&xs, &[xs.len()], &Granularity::PerTensor(p), &mut out)
                    .unwrap();
                for (i, k) in (-600i32..=600).enumerate() {
                    // k + 0.5 rounds to the even one of k and k + 1.
                    let r = if k % 2 == 0 { k } else { k + 1 };
                    let want = (r + zp as i32).clamp(0, 255);
                    assert_eq!(
                        out[i] as i32,
                        want,
                        "{}: quantize u8 ({k}+0.5)·{scale:e}, zp {zp}: expected {want} got {}",
                        e.elementwise_kernels().name,
                        out[i]
                    );
                }
            }
        }
    }
}

/// A strided sweep over all 2^32 bit patterns (every 4099th, about a million values,
/// NaNs, infinities and subnormals included) for a few scales and zero points.
#[test]
fn quantize_strided_bit_patterns() {
    let xs: Vec<f32> = (0..=u32::MAX).step_by(4099).map(f32::from_bits).collect();
    assert!(xs.len() > 1_000_000);
    for e in engines() {
        for (scale, zu, zi) in [(1.0f32, 0, 0), (0.1, 255, -128), (3.0e-5, 128, 127)] {
            check_quantize::<u8>(&e, &xs, scale, zu, false);
            check_quantize::<i8>(&e, &xs, scale, zi, false);
        }
    }
}

/// Dequantize every code for every zero point, per tensor, and the same table in one
/// per-axis call (one zero point per row).
#[test]
fn dequantize_every_code_and_zero_point() {
    let scales = [1.0f32, 0.1, 1.0 / 3.0, 3.0e-5, 1e-45, 1e30, f32::MAX];
    let codes_u8: Vec<u8> = (0..=255).collect();
    let codes_i8: Vec<i8> = (-128..=127).collect();
    for e in engines() {
        let name = e.elementwise_kernels().name;
        for &scale in &scales {
            let mut out = vec![0f32; 256];
            for zp in 0..=255u8 {
                let p = QuantParams::<u8>::new(scale, zp).unwrap();
                e.dequantize(&codes_u8, &[256], &Granularity::PerTensor(p), &mut out)
                    .unwrap();
                for (q, &o) in out.iter().enumerate() {
                    let want = model::dequantize(q as i32, zp as i32, scale);
                    assert_eq!(
                        o.to_bits(),
                        want.to_bits(),
                        "{name}: dequantize u8 q={q} zp={zp} scale={scale:e}: model {want:e} actual {o:e}"
                    );
                }
            }
            for zp in -128..=127i8 {
                let p = QuantParams::<i8>::new(scale, zp).unwrap();
                e.dequantize(&codes_i8, &[256], &Granularity::PerTensor(p), &mut out)
                    .unwrap();
                for (&q, &o) in codes_i8.iter().zip(&out) {
                    let want = model::dequantize(q as i32, zp as i32, scale);
                    assert_eq!(
                        o.to_bits(),
                        want.to_bits(),
                        "{name}: dequantize i8 q={q} zp={zp} scale={scale:e}: model {want:e} actual {o:e}"
                    );
                }
            }
            // The same 256 × 256 tables through one per-axis call (axis 0 = zero point).
            let table: Vec<u8> = (0..256).flat_map(|_| 0..=255u8).collect();
            let zps: Vec<u8> = (0..=255).collect();
            let row_scales = vec![scale; 256];
            let g = Granularity::PerAxis {
                axis: 0,
                scales: &row_scales,
                zero_points: Some(&zps),
            };
            let mut out = vec![0f32; 256 * 256];
            e.dequantize(&table, &[256, 256], &g, &mut out).unwrap();
            for (idx, &o) in out.iter().enumerate() {
                let (z, q) = (idx / 256, idx % 256);
                let want = model::dequantize(q as i32, z as i32, scale);
                assert_eq!(
                    o.to_bits(),
                    want.to_bits(),
                    "{name}: per-axis dequantize u8 [{z}][{q}] scale={scale:e}"
                );
            }
        }
    }
}

/// Per-axis and per-block quantize / dequantize of rank-3 tensors against the model with
/// the parameter index written out for each element.
#[test]
fn per_axis_and_per_block_index_every_element() {
    let shape = [3usize, 5, 4];
    let n: usize = shape.iter().product();
    let xs: Vec<f32> = (0..n).map(|i| (i as f32 - 30.0) * 0.37 + 0.5).collect();
    let mut rng = common::Rng(99);
    for e in engines() {
        let name = e.elementwise_kernels().name;
        for axis in 0..3 {
            // Per axis.
            let dim = shape[axis];
            let scales: Vec<f32> = (0..dim).map(|i| 0.05 * (i + 1) as f32).collect();
            let zps: Vec<i8> = (0..dim).map(|_| rng.point(-128, 127) as i8).collect();
            for with_zp in [false, true] {
                let g = Granularity::PerAxis {
                    axis,
                    scales: &scales,
                    zero_points: with_zp.then_some(&zps[..]),
                };
                let mut q = vec![0i8; n];
                e.quantize(&xs, &shape, &g, &mut q).unwrap();
                let mut back = vec![0f32; n];
                e.dequantize(&q, &shape, &g, &mut back).unwrap();
                for (i, &x) in xs.iter().enumerate() {
                    let idx = [i / 20, (i / 4) % 5, i % 4];
                    let c = idx[axis];
                    let z = if with_zp { zps[c] as i32 } else { 0 };
                    let want = model::quantize(x, scales[c], z, -128, 127);
                    assert_eq!(
                        q[i] as i32, want,
                        "{name}: per-axis {axis} quantize {idx:?}: x={x:e}"
                    );
                    let wd = model::dequantize(want, z, scales[c]);
                    assert_eq!(
                        back[i].to_bits(),
                        wd.to_bits(),
                        "{name}: per-axis {axis} dequantize {idx:?}"
                    );
                }
            }
            // Per block, block sizes that divide the axis and that do not.
            for block in [1usize, 2, 3, dim, dim + 1] {
                let nb = dim.div_ceil(block);
                let mut pshape = shape;
                pshape[axis] = nb;
                let pn: usize = pshape.iter().product();
                let scales: Vec<f32> = (0..pn).map(|i| 0.03 * (i % 7 + 1) as f32).collect();
                let zps: Vec<u8> = (0..pn).map(|_| rng.point(0, 255) as u8).collect();
                let g = Granularity::PerBlock {
                    axis,
                    block_size: block,
                    scales: &scales,
                    zero_points: Some(&zps),
                };
                let mut q = vec![0u8; n];
                e.quantize(&xs, &shape, &g, &mut q).unwrap();
                let mut back = vec![0f32; n];
                e.dequantize(&q, &shape, &g, &mut back).unwrap();
                for (i, &x) in xs.iter().enumerate() {
                    let mut idx = [i / 20, (i / 4) % 5, i % 4];
                    let orig = idx;
                    idx[axis] /= block;
                    let p = (idx[0] * pshape[1] + idx[1]) * pshape[2] + idx[2];
                    let want = model::quantize(x, scales[p], zps[p] as i32, 0, 255);
                    assert_eq!(
                        q[i] as i32, want,
                        "{name}: per-block axis {axis} block {block} quantize {orig:?} (param {p}): x={x:e}"
                    );
                    let wd = model::dequantize(want, zps[p] as i32, scales[p]);
                    assert_eq!(
                        back[i].to_bits(),
                        wd.to_bits(),
                        "{name}: per-block dequantize {orig:?}"
                    );
                }
            }
        }
    }
}

/// Dynamic quantization: the parameters are `from_range` of the data (widened to 0) and
/// the codes are the model's quantization with them.
#[test]
fn dynamic_quantization_codes_follow_the_model() {
    let mut rng = common::Rng(5);
    for e in engines() {
        for len in [1usize, 2, 7, 16, 33, 100] {
            let x: Vec<f32> = (0..len)
                .map(|_| rng.range(-100_000, 100_000) as f32 * 1e-3)
                .collect();
            let mut q = vec![0u8; len];
            let p = e.dynamic_quantize_linear(&x, &mut q).unwrap();
            let lo = x.iter().copied().fold(0.0f32, f32::min);
            let hi = x.iter().copied().fold(0.0f32, f32::max);
            let want_p = QuantParams::<u8>::from_range(lo, hi).unwrap();
            assert_eq!(p, want_p, "DynamicQuantizeLinear params, len {len}");
            for (i, (&xi, &qi)) in x.iter().zip(&q).enumerate() {
                let want = model::quantize(xi, p.scale(), p.zero_point() as i32, 0, 255);
                assert_eq!(qi as i32, want, "DynamicQuantizeLinear [{i}] x={xi:e}");
            }
            // Per row, both modes, u8 and i8.
            let rows = 3;
            let cols = len;
            let stride = cols + 2;
            let xm: Vec<f32> = (0..rows * stride)
                .map(|_| rng.range(-5000, 3000) as f32 * 7e-3)
                .collect();
            for mode in [
                zeropoint::DynamicMode::Asymmetric,
                zeropoint::DynamicMode::Symmetric(zeropoint::SymmetricRange::Restricted),
                zeropoint::DynamicMode::Symmetric(zeropoint::SymmetricRange::Full),
            ] {
                let mut out = vec![0i8; rows * cols];
                let mut params = vec![QuantParams::<i8>::new(1.0, 0).unwrap(); rows];
                e.dynamic_quantize_rows(
                    zeropoint::Matrix::with_stride(&xm, rows, cols, stride),
                    mode,
                    zeropoint::MatrixMut::new(&mut out, rows, cols),
                    &mut params,
                )
                .unwrap();
                for r in 0..rows {
                    let row = &xm[r * stride..r * stride + cols];
                    let lo = row.iter().copied().fold(f32::INFINITY, f32::min);
                    let hi = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let want_p = match mode {
                        zeropoint::DynamicMode::Asymmetric => {
                            QuantParams::<i8>::from_range(lo, hi).unwrap()
                        }
                        zeropoint::DynamicMode::Symmetric(sr) => {
                            QuantParams::<i8>::symmetric(hi.max(-lo), sr).unwrap()
                        }
                    };
                    assert_eq!(params[r], want_p, "dynamic_quantize_rows {mode:?} row {r}");
                    for c in 0..cols {
                        let want = model::quantize(
                            row[c],
                            want_p.scale(),
                            want_p.zero_point() as i32,
                            -128,
                            127,
                        );
                        assert_eq!(
                            out[r * cols + c] as i32,
                            want,
                            "dynamic_quantize_rows {mode:?} [{r}][{c}]"
                        );
                    }
                }
            }
        }
    }
}
