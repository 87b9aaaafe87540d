//! The quantized add (QLinearAdd with numpy broadcasting) and pooling on every add and
//! pooling table (`OpKind::Ops` variants, forced through `Engine::with_isa`), bit-exact
//! against independent implementations written here; every bad argument an `Err` that
//! writes nothing.

use zeropoint::kernels::testing::skip_or_require;
use zeropoint::layers::{add, add_broadcast, broadcast_shape, Nhwc, Pool2d, QTensor};
use zeropoint::{variants, Activation, Engine, Error, OpKind, QType, QuantParams};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A byte, one in four an extreme (0x00, 0x7f, 0x80, 0xff).
    fn byte(&mut self) -> u8 {
        let r = self.next();
        if r.is_multiple_of(4) {
            [0x00, 0x7f, 0x80, 0xff][(r >> 8) as usize % 4]
        } else {
            (r >> 24) as u8
        }
    }
}

/// One engine per add and pooling table this CPU runs, checked to run that table;
/// prints a skip line for the others (a failure under `ZEROPOINT_TEST_REQUIRE`).
fn engines() -> Vec<Engine> {
    let mut out = Vec::new();
    for v in variants().into_iter().filter(|v| v.op == OpKind::Ops) {
        if skip_or_require(v.name, v.isa) {
            continue;
        }
        let e = Engine::with_isa(v.isa).expect("available ISA");
        assert_eq!(e.ops_kernels().name, v.name, "the forced table runs");
        out.push(e);
    }
    out
}

/// Codes of `T` from bytes.
fn codes<T: QType>(bytes: &[u8]) -> Vec<T> {
    bytes
        .iter()
        .map(|&b| T::from_i32(if T::SIGNED { b as i8 as i32 } else { b as i32 }))
        .collect()
}

/// QLinearAdd of one pair, written from SPEC.md §8 directly (f32 operations, NaN → Z_C).
fn ref_add_one(
    x: i32,
    y: i32,
    p: [(f32, i32); 3],
    (tmin, tmax): (i32, i32),
    clamp: (i32, i32),
) -> i32 {
    let [(sa, za), (sb, zb), (sc, zc)] = p;
    let fa = (x - za) as f32 * sa;
    let fb = (y - zb) as f32 * sb;
    let v = (fa + fb) / sc;
    let q = if v.is_nan() {
        zc as f64
    } else {
        (v.round_ties_even() as f64 + zc as f64).clamp(tmin as f64, tmax as f64)
    };
    (q as i32).clamp(clamp.0, clamp.1)
}

/// Broadcast add of `a` (shape `sa`) and `b` (shape `sb`) by walking every output
/// multi-index and reducing it to each operand's shape.
#[allow(clippy::too_many_arguments)]
fn ref_add<T: QType>(
    a: &[T],
    sa: &[usize],
    b: &[T],
    sb: &[usize],
    p: [(f32, i32); 3],
    clamp: (i32, i32),
) -> (Vec<usize>, Vec<i32>) {
    let r = sa.len().max(sb.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; r - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(sa), pad(sb));
    // Sizes equal, or one of them 1 (the cases are valid): the other one.
    let out: Vec<usize> = (0..r)
        .map(|i| if pa[i] == 1 { pb[i] } else { pa[i] })
        .collect();
    let total: usize = out.iter().product();
    let mut res = Vec::with_capacity(total);
    let mut idx = vec![0usize; r];
    for _ in 0..total {
        let flat = |shape: &[usize]| {
            let mut f = 0;
            for i in 0..r {
                f = f * shape[i] + if shape[i] == 1 { 0 } else { idx[i] };
            }
            f
        };
        let (x, y) = (a[flat(&pa)].to_i32(), b[flat(&pb)].to_i32());
        res.push(ref_add_one(x, y, p, (T::MIN, T::MAX), clamp));
        for i in (0..r).rev() {
            idx[i] += 1;
            if idx[i] < out[i] {
                break;
            }
            idx[i] = 0;
        }
    }
    (out, res)
}

/// Shape pairs: equal, per-channel vector over NHWC (tiled to long runs or not),
/// scalars, general rank-4, ranks that differ, a zero-size axis, channel counts around
/// the vector widths.
fn shape_cases() -> Vec<(Vec<usize>, Vec<usize>)> {
    vec![
        (vec![2, 3, 4, 5], vec![2, 3, 4, 5]),
        (vec![1, 7, 9, 64], vec![1, 7, 9, 64]),
        (vec![1000], vec![1000]),
        (vec![2, 5, 6, 17], vec![17]),
        // Per-channel vectors tiled to long runs (the next axis' size has a divisor
        // that fits), or not (a prime size; a vector that differs per image).
        (vec![1, 97, 89, 8], vec![8]),
        (vec![24], vec![1, 13, 11, 24]),
        (vec![1, 1, 1031, 4], vec![4]),
        (vec![2, 5, 6, 17], vec![2, 1, 1, 17]),
        (vec![3, 700, 3], vec![3]),
        (vec![1, 4, 3, 64], vec![64]),
        (vec![1, 3, 2, 67], vec![1, 1, 1, 67]),
        (vec![65], vec![1, 2, 3, 65]),
        (vec![2, 3, 4, 5], vec![]),
        (vec![], vec![2, 3, 4, 5]),
        (vec![3, 129], vec![1]),
        (vec![1], vec![1]),
        (vec![], vec![]),
        (vec![2, 1, 4, 1], vec![1, 3, 1, 5]),
        (vec![3, 1, 5], vec![2, 1, 1, 1]),
        (vec![1, 1, 1, 1], vec![2, 3, 4, 5]),
        (vec![4, 1], vec![1, 37]),
        (vec![2, 3, 4], vec![2, 1, 4]),
        (vec![2, 33], vec![2, 1]),
        (vec![1, 6, 5, 1], vec![1, 6, 5, 32]),
        (vec![0, 3], vec![1, 3]),
        (vec![2, 0, 3], vec![3]),
    ]
}

fn check_add_type<T: QType>(rng: &mut Rng, engines: &[Engine]) -> usize {
    let mut cases = 0;
    let (tmin, tmax) = (T::MIN, T::MAX);
    let zps = |rng: &mut Rng| -> i32 {
        match rng.next() % 4 {
            0 => tmin,
            1 => tmax,
            2 => (tmin + tmax + 1) / 2,
            _ => tmin + (rng.next() % 256) as i32,
        }
    };
    let scale_sets: [[f32; 3]; 6] = [
        [0.02, 0.037, 0.05],
        [0.5, 0.5, 1.0],
        [1.0, 1.0, 1.0],
        [3.0e38, 3.0e38, 1.0],
        [1e-38, 1.5e-45, 1e-38],
        [0.1, 2.5, 3.0e38],
    ];
    for (ci, (sa, sb)) in shape_cases().into_iter().enumerate() {
        let na: usize = sa.iter().product();
        let nb: usize = sb.iter().product();
        let a: Vec<T> = codes(&(0..na).map(|_| rng.byte()).collect::<Vec<_>>());
        let b: Vec<T> = codes(&(0..nb).map(|_| rng.byte()).collect::<Vec<_>>());
        for (si, s) in scale_sets.iter().enumerate() {
            let (za, zb, zc) = (zps(rng), zps(rng), zps(rng));
            let pa = QuantParams::new(s[0], T::from_i32(za)).unwrap();
            let pb = QuantParams::new(s[1], T::from_i32(zb)).unwrap();
            let pc = QuantParams::new(s[2], T::from_i32(zc)).unwrap();
            for act in [Activation::None, Activation::Relu, Activation::Relu6] {
                let clamp = match act {
                    Activation::None => (tmin, tmax),
                    Activation::Relu => (zc, tmax),
                    Activation::Relu6 => (zc, pc.quantize(6.0).to_i32()),
                };
                let p = [(s[0], za), (s[1], zb), (s[2], zc)];
                let (out_shape, want) = ref_add(&a, &sa, &b, &sb, p, clamp);
                assert_eq!(broadcast_shape(&sa, &sb).unwrap(), out_shape);
                for e in engines {
                    let mut got = vec![T::from_i32(tmin); want.len()];
                    e.add(
                        QTensor::new(&a, &sa, pa),
                        QTensor::new(&b, &sb, pb),
                        &mut got,
                        pc,
                        act,
                    )
                    .unwrap();
                    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.to_i32(),
                            w,
                            "{}: {} case {ci} {sa:?} + {sb:?} scales {si} ({s:?}) zps ({za}, {zb}, {zc}) {act:?} at {i}",
                            e.ops_kernels().name,
                            T::NAME
                        );
                    }
                    cases += 1;
                }
            }
        }
    }
    cases
}

#[test]
fn add_broadcasts_like_numpy_on_every_engine() {
    let engines = engines();
    let mut rng = Rng(0x51ab);
    let n = check_add_type::<u8>(&mut rng, &engines) + check_add_type::<i8>(&mut rng, &engines);
    eprintln!("{n} add cases on {} engines", engines.len());
}

#[test]
fn add_free_functions_match_the_engine() {
    let mut rng = Rng(3);
    let a: Vec<u8> = (0..300).map(|_| rng.byte()).collect();
    let b: Vec<u8> = (0..300).map(|_| rng.byte()).collect();
    let pa = QuantParams::<u8>::new(0.02, 100).unwrap();
    let pb = QuantParams::<u8>::new(0.037, 3).unwrap();
    let pc = QuantParams::<u8>::new(0.05, 128).unwrap();
    let e = Engine::global().unwrap();
    let shape = [300];
    let mut want = vec![0u8; 300];
    e.add(
        QTensor::new(&a, &shape, pa),
        QTensor::new(&b, &shape, pb),
        &mut want,
        pc,
        Activation::Relu,
    )
    .unwrap();
    let mut got = vec![0u8; 300];
    add(&a, pa, &b, pb, &mut got, pc, Activation::Relu).unwrap();
    assert_eq!(got, want);
    got.fill(0);
    add_broadcast(
        QTensor::new(&a, &[3, 100], pa),
        QTensor::new(&b, &[3, 100], pb),
        &mut got,
        pc,
        Activation::Relu,
    )
    .unwrap();
    assert_eq!(got, want);
    // The flat `add` does not broadcast: a length-1 `b` is an error.
    assert!(matches!(
        add(&a, pa, &b[..1], pb, &mut got, pc, Activation::None),
        Err(Error::Shape(_))
    ));
}

#[test]
fn broadcast_shapes() {
    assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
    assert_eq!(broadcast_shape(&[], &[5]).unwrap(), vec![5]);
    assert_eq!(broadcast_shape(&[], &[]).unwrap(), Vec::<usize>::new());
    assert_eq!(broadcast_shape(&[0], &[1]).unwrap(), vec![0]);
    assert_eq!(broadcast_shape(&[1, 0], &[3, 1]).unwrap(), vec![3, 0]);
    assert!(broadcast_shape(&[3], &[4]).is_err());
    assert!(broadcast_shape(&[2, 3], &[3, 3]).is_err());
    assert!(broadcast_shape(&[0], &[2]).is_err());
}

#[test]
fn add_errors_write_nothing() {
    let p = QuantParams::<u8>::new(0.1, 7).unwrap();
    let a = vec![1u8; 24];
    let b = vec![2u8; 6];
    for e in engines() {
        let cases: Vec<(&[usize], &[usize], usize)> = vec![
            (&[2, 3, 4], &[3, 1, 4], 24), // axis 1: 3 vs 1 fine, axis 0: 2 vs 3 → error
            (&[4, 6], &[4], 24),          // 6 vs 4
            (&[2, 3, 4], &[6], 24),       // b's shape [6] against 4
            (&[2, 3, 4], &[2, 3], 24),    // [2,3] aligned right: 3 vs 4
            (&[2, 3, 5], &[6], 30),       // a's data has 24 codes, not 30
            (&[2, 3, 4], &[7], 24),       // b's data has 6 codes, not 7 (and 7 vs 4)
            (&[2, 3, 4], &[1, 6, 1], 24), // 6 vs 3
            (&[2, 3, 4], &[2, 3, 1], 23), // output one short
            (&[2, 3, 4], &[2, 3, 1], 25), // output one long
            (&[usize::MAX, 2], &[1], 24), // overflowing shape
        ];
        for (sa, sb, n_out) in cases {
            let mut out = vec![0xabu8; n_out];
            let r = e.add(
                QTensor::new(&a, sa, p),
                QTensor::new(&b, sb, p),
                &mut out,
                p,
                Activation::None,
            );
            assert!(
                matches!(r, Err(Error::Shape(_))),
                "{sa:?} + {sb:?} into {n_out}: {r:?}"
            );
            assert!(out.iter().all(|&v| v == 0xab), "{sa:?} + {sb:?} wrote");
        }
        // And the valid neighbour of the last cases works.
        let mut out = vec![0u8; 24];
        e.add(
            QTensor::new(&a, &[2, 3, 4], p),
            QTensor::new(&b, &[2, 3, 1], p),
            &mut out,
            p,
            Activation::None,
        )
        .unwrap();
    }
}

// ---- pooling ----

fn ref_fp32(acc: i32, scale: f32, zp: i32, lo: i32, hi: i32) -> i32 {
    let y = acc as f32 * scale;
    let y = y.clamp((lo - zp) as f32, (hi - zp) as f32);
    y.round_ties_even() as i32 + zp
}

fn check_pools_type<T: QType + zeropoint::OutType>(rng: &mut Rng, engines: &[Engine]) -> usize {
    let mut cases = 0;
    for (ci, &c) in [1usize, 3, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 130]
        .iter()
        .enumerate()
    {
        let (h, w) = [(17, 19), (1, 1), (16, 16), (3, 5)][ci % 4];
        let s = Nhwc::new(2, h, w, c);
        let numel = s.numel().unwrap();
        let fill = ci % 4;
        let x: Vec<T> = codes(
            &(0..numel)
                .map(|_| match fill {
                    0 => 0xff,
                    1 => 0x80,
                    _ => rng.byte(),
                })
                .collect::<Vec<_>>(),
        );
        let zx = [T::MIN, T::MAX, 0, 3][ci % 4];
        let px = QuantParams::new(0.1, T::from_i32(zx)).unwrap();
        let py = QuantParams::new(0.03, T::from_i32([T::MAX, T::MIN, 2, 0][ci % 4])).unwrap();
        let scale = (0.1f64 / (0.03f32 as f64 * (h * w) as f64)) as f32;
        let zy = py.zero_point().to_i32();
        let want: Vec<i32> = (0..2 * c)
            .map(|i| {
                let (img, ch) = (i / c, i % c);
                let acc: i32 = (0..h * w)
                    .map(|p| x[(img * h * w + p) * c + ch].to_i32() - zx)
                    .sum();
                ref_fp32(acc, scale, zy, T::MIN, T::MAX)
            })
            .collect();
        let pools = [
            Pool2d {
                kernel: (3, 3),
                stride: (2, 2),
                padding: [1; 4],
            },
            Pool2d {
                kernel: (2, 3),
                stride: (1, 2),
                padding: [0, 2, 1, 0],
            },
            Pool2d {
                kernel: (1, 1),
                stride: (1, 1),
                padding: [0; 4],
            },
        ];
        for e in engines {
            let mut y = vec![T::from_i32(0); 2 * c];
            e.global_avg_pool(&x, s, px, &mut y, py).unwrap();
            let got: Vec<i32> = y.iter().map(|v| v.to_i32()).collect();
            assert_eq!(
                got,
                want,
                "{}: global_avg_pool {} {s:?}",
                e.ops_kernels().name,
                T::NAME
            );
            cases += 1;
            for pool in &pools {
                let Ok(os) = pool.output_shape(s) else {
                    continue;
                };
                let (kh, kw) = pool.kernel;
                let mut want = Vec::new();
                for img in 0..2 {
                    for oy in 0..os.h {
                        for ox in 0..os.w {
                            for ch in 0..c {
                                let mut m = i32::MIN;
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let iy = (oy * pool.stride.0 + ky) as isize
                                            - pool.padding[0] as isize;
                                        let ix = (ox * pool.stride.1 + kx) as isize
                                            - pool.padding[1] as isize;
                                        if (0..h as isize).contains(&iy)
                                            && (0..w as isize).contains(&ix)
                                        {
                                            let i = ((img * h + iy as usize) * w + ix as usize) * c
                                                + ch;
                                            m = m.max(x[i].to_i32());
                                        }
                                    }
                                }
                                want.push(m);
                            }
                        }
                    }
                }
                let mut y = vec![T::from_i32(0); os.numel().unwrap()];
                e.max_pool(&x, s, pool, &mut y).unwrap();
                let got: Vec<i32> = y.iter().map(|v| v.to_i32()).collect();
                assert_eq!(
                    got,
                    want,
                    "{}: max_pool {} {s:?} {pool:?}",
                    e.ops_kernels().name,
                    T::NAME
                );
                cases += 1;
            }
        }
    }
    cases
}

#[test]
fn pooling_matches_reference_on_every_engine() {
    let engines = engines();
    let mut rng = Rng(0x9001);
    let n = check_pools_type::<u8>(&mut rng, &engines) + check_pools_type::<i8>(&mut rng, &engines);
    eprintln!("{n} pooling cases on {} engines", engines.len());
}

#[test]
fn pooling_errors_write_nothing() {
    let s = Nhwc::new(1, 4, 4, 3);
    let x = vec![5u8; 48];
    let p = QuantParams::<u8>::new(0.1, 0).unwrap();
    let pool = Pool2d {
        kernel: (2, 2),
        stride: (2, 2),
        padding: [0; 4],
    };
    for e in engines() {
        let mut y = vec![0xabu8; 12];
        assert!(e.max_pool(&x, s, &pool, &mut y[..11]).is_err());
        assert!(e.max_pool(&x[..47], s, &pool, &mut y).is_err());
        let bad = Pool2d {
            padding: [2, 0, 0, 0],
            ..pool
        };
        assert!(e.max_pool(&x, s, &bad, &mut y).is_err());
        assert!(e.global_avg_pool(&x, s, p, &mut y[..2], p).is_err());
        assert!(e.global_avg_pool(&x[..40], s, p, &mut y[..3], p).is_err());
        assert!(e
            .global_avg_pool(&x[..0], Nhwc::new(1, 0, 4, 3), p, &mut y[..3], p)
            .is_err());
        assert!(y.iter().all(|&v| v == 0xab));
    }
}
