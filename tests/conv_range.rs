//! `Conv2d` over ranges of output pixels (`forward_range`, `forward_range_with_stage`,
//! `forward_par`): every split — random ranges, one scratch reused across calls, threads
//! of the caller's own — gives the same bits as one full call, on every engine, for
//! dense, grouped, depthwise, 1×1 (direct and strided) and padded / strided / dilated
//! convolutions, with u8 and i8 input; the full result equals an independent
//! convolution written here; bad ranges and buffers are errors that write nothing.

use zeropoint::kernels::testing::skip_or_require;
use zeropoint::layers::ConvScratch;
use zeropoint::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn f(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// One engine per ISA this CPU runs (GEMM variants: every GEMM and depthwise kernel is
/// reached); prints a skip line for the others.
fn engines() -> Vec<Engine> {
    let mut isas: Vec<Isa> = Vec::new();
    for v in variants() {
        if v.op != OpKind::Gemm && v.op != OpKind::Depthwise {
            continue;
        }
        if skip_or_require(v.name, v.isa) {
            continue;
        }
        isas.push(v.isa);
    }
    isas.sort();
    isas.dedup();
    isas.into_iter()
        .map(|i| Engine::with_isa(i).expect("available ISA"))
        .collect()
}

/// Independent NHWC convolution to i32 accumulators (codes as i32 with their zero
/// points).
#[allow(clippy::too_many_arguments)]
fn ref_conv(
    x: &[i32],
    s: Nhwc,
    zx: i32,
    w: &[i32],
    zw: &[i32],
    oc: usize,
    g: &Conv2dGeometry,
) -> Vec<i32> {
    let (kh, kw) = g.kernel;
    let cin_g = s.c / g.groups;
    let ng = oc / g.groups;
    let oh = (s.h + g.padding[0] + g.padding[2] - g.dilation.0 * (kh - 1) - 1) / g.stride.0 + 1;
    let ow = (s.w + g.padding[1] + g.padding[3] - g.dilation.1 * (kw - 1) - 1) / g.stride.1 + 1;
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
                                    + ci];
                                let wv = w[((o * kh + ky) * kw + kx) * cin_g + ci];
                                acc += (xv - zx) * (wv - zw[o]);
                            }
                        }
                    }
                    y[((n * oh + oy) * ow + ox) * oc + o] = acc;
                }
            }
        }
    }
    y
}

fn cases() -> Vec<(&'static str, Nhwc, usize, Conv2dGeometry)> {
    vec![
        (
            "dense 3x3",
            Nhwc::new(2, 7, 6, 5),
            4,
            Conv2dGeometry::new(3, 3),
        ),
        (
            "strided padded",
            Nhwc::new(1, 8, 9, 6),
            6,
            Conv2dGeometry::new(3, 2)
                .with_stride(2, 1)
                .with_padding([1, 0, 2, 1]),
        ),
        (
            "dilated padded",
            Nhwc::new(1, 9, 9, 4),
            8,
            Conv2dGeometry::new(3, 3)
                .with_dilation(2, 3)
                .with_padding([2, 3, 2, 3]),
        ),
        (
            "grouped",
            Nhwc::new(2, 6, 5, 6),
            9,
            Conv2dGeometry::new(3, 3)
                .with_groups(3)
                .with_padding([1; 4]),
        ),
        (
            "depthwise",
            Nhwc::new(2, 6, 7, 37),
            37,
            Conv2dGeometry::new(3, 3)
                .with_groups(37)
                .with_padding([1; 4]),
        ),
        (
            "depthwise strided dilated",
            Nhwc::new(1, 10, 9, 5),
            5,
            Conv2dGeometry::new(5, 3)
                .with_groups(5)
                .with_stride(2, 3)
                .with_dilation(1, 2)
                .with_padding([2, 1, 0, 2]),
        ),
        (
            "1x1 direct",
            Nhwc::new(3, 4, 5, 7),
            3,
            Conv2dGeometry::new(1, 1),
        ),
        (
            "1x1 strided",
            Nhwc::new(1, 5, 5, 4),
            4,
            Conv2dGeometry::new(1, 1).with_stride(2, 2),
        ),
        (
            "grouped, 8 channels per group, strided, dilated, padded",
            Nhwc::new(2, 7, 9, 16),
            12,
            Conv2dGeometry::new(3, 3)
                .with_groups(2)
                .with_stride(2, 1)
                .with_dilation(1, 2)
                .with_padding([1, 2, 0, 1]),
        ),
        (
            "1x5 over 30-pixel rows, 40 outputs",
            Nhwc::new(1, 3, 30, 8),
            40,
            Conv2dGeometry::new(1, 5).with_padding([0, 2, 0, 2]),
        ),
        (
            "several im2col blocks",
            Nhwc::new(2, 24, 24, 64),
            16,
            Conv2dGeometry::new(3, 3).with_padding([1; 4]),
        ),
    ]
}

/// Random splits of `0..total`: boundaries at random points (empty ranges included).
fn random_split(rng: &mut Rng, total: usize) -> Vec<core::ops::Range<usize>> {
    let mut cuts: Vec<usize> = (0..rng.below(6) + 1)
        .map(|_| rng.below(total + 1))
        .collect();
    cuts.push(0);
    cuts.push(total);
    cuts.sort();
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

fn check_type<X: QType + OutType>(rng: &mut Rng, engines: &[Engine]) -> usize {
    let mut checked = 0;
    for (name, s, oc, g) in cases() {
        let k = g.kernel.0 * g.kernel.1 * (s.c / g.groups);
        let wf: Vec<f32> = (0..oc * k).map(|_| rng.f(-1.0, 1.0)).collect();
        let bias: Vec<f32> = (0..oc).map(|_| rng.f(-0.3, 0.3)).collect();
        let numel = s.numel().unwrap();
        let x: Vec<X> = (0..numel)
            .map(|_| X::from_i32(X::MIN + (rng.next() % 256) as i32))
            .collect();
        let zx = X::from_i32(X::MIN + 120);
        let px = QuantParams::new(0.02, zx).unwrap();
        let py = QuantParams::new(0.05 * (k as f32).sqrt(), X::from_i32(X::MIN + 128)).unwrap();
        let mut first: Option<(Vec<i32>, Vec<X>)> = None;
        for e in engines {
            let conv = Conv2d::new(
                e,
                s.c,
                oc,
                g,
                &wf,
                Some(&bias),
                WeightQuantization::PerChannelAsymmetric,
            )
            .unwrap();
            let os = conv.output_shape(s).unwrap();
            let total = os.n * os.h * os.w;
            let sq = conv
                .static_quant(px, py, RequantScheme::DoubleRounding, Activation::Relu)
                .unwrap();
            let mut acc = vec![0i32; total * oc];
            conv.forward_with_stage(&x, s, zx, &OutputStage::i32(), &mut acc)
                .unwrap();
            let mut y = vec![X::from_i32(0); total * oc];
            conv.forward(&sq, &x, s, &mut y).unwrap();
            if let Some(f) = &first {
                assert_eq!(
                    f,
                    &(acc.clone(), y.clone()),
                    "{name} {} on {:?}",
                    X::NAME,
                    e.isa()
                );
            } else {
                // The quantized weights, recovered as the layer makes them.
                let mut wq = vec![0i32; oc * k];
                let mut zw = vec![0i32; oc];
                for o in 0..oc {
                    let row = &wf[o * k..(o + 1) * k];
                    let (lo, hi) = row
                        .iter()
                        .fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
                    let p = QuantParams::<i8>::from_range(lo, hi).unwrap();
                    for t in 0..k {
                        wq[o * k + t] = p.quantize(row[t]) as i32;
                    }
                    zw[o] = p.zero_point() as i32;
                }
                let xi: Vec<i32> = x.iter().map(|v| v.to_i32()).collect();
                let want = ref_conv(&xi, s, zx.to_i32(), &wq, &zw, oc, &g);
                assert_eq!(acc, want, "{name} {}: full forward vs reference", X::NAME);
                first = Some((acc.clone(), y.clone()));
            }
            // Random splits, one scratch for every call (of both output types).
            let mut scratch = ConvScratch::new();
            for _ in 0..4 {
                let mut acc2 = vec![0x5555_5555i32; total * oc];
                let mut y2 = vec![X::from_i32(X::MAX); total * oc];
                for r in random_split(rng, total) {
                    conv.forward_range_with_stage(
                        &x,
                        s,
                        zx,
                        &OutputStage::i32(),
                        r.clone(),
                        &mut acc2[r.start * oc..r.end * oc],
                        &mut scratch,
                    )
                    .unwrap();
                    conv.forward_range(
                        &sq,
                        &x,
                        s,
                        r.clone(),
                        &mut y2[r.start * oc..r.end * oc],
                        &mut scratch,
                    )
                    .unwrap();
                }
                assert_eq!(acc2, acc, "{name} {} on {:?}: split i32", X::NAME, e.isa());
                assert_eq!(y2, y, "{name} {} on {:?}: split", X::NAME, e.isa());
                checked += 2;
            }
            // Output rows of one image: (img·OH + oy0)·OW..(img·OH + oy1)·OW.
            if os.h >= 2 {
                let img = os.n - 1;
                let r = (img * os.h + 1) * os.w..(img * os.h + os.h) * os.w;
                let mut part = vec![X::from_i32(0); r.len() * oc];
                conv.forward_range(&sq, &x, s, r.clone(), &mut part, &mut scratch)
                    .unwrap();
                assert_eq!(part, y[r.start * oc..r.end * oc], "{name}: output rows");
            }
            // The caller's own threads, one scratch each, chunks of the output.
            let threads = 3;
            let chunk = total.div_ceil(threads).max(1);
            let mut y3 = vec![X::from_i32(0); total * oc];
            std::thread::scope(|sc| {
                for (t, part) in y3.chunks_mut(chunk * oc).enumerate() {
                    let (conv, sq, x) = (&conv, &sq, &x);
                    sc.spawn(move || {
                        let mut scratch = ConvScratch::default();
                        let r = t * chunk..t * chunk + part.len() / oc;
                        conv.forward_range(sq, x, s, r, part, &mut scratch).unwrap();
                    });
                }
            });
            assert_eq!(y3, y, "{name} {} on {:?}: threads", X::NAME, e.isa());
            #[cfg(feature = "rayon")]
            {
                let mut y4 = vec![X::from_i32(0); total * oc];
                conv.forward_par(&sq, &x, s, &mut y4).unwrap();
                assert_eq!(y4, y, "{name} {} on {:?}: forward_par", X::NAME, e.isa());
                let mut acc4 = vec![0i32; total * oc];
                conv.forward_par_with_stage(&x, s, zx, &OutputStage::i32(), &mut acc4)
                    .unwrap();
                assert_eq!(
                    acc4,
                    acc,
                    "{name} {} on {:?}: forward_par i32",
                    X::NAME,
                    e.isa()
                );
            }
            checked += 2;
        }
    }
    checked
}

#[test]
fn every_split_gives_the_same_bits_on_every_engine() {
    let mut rng = Rng(0xc0ffee);
    let engines = engines();
    let n = check_type::<u8>(&mut rng, &engines) + check_type::<i8>(&mut rng, &engines);
    eprintln!("{n} split checks");
}

#[test]
fn range_errors_write_nothing() {
    let e = Engine::global().unwrap();
    let s = Nhwc::new(2, 5, 5, 4);
    let x = vec![3u8; s.numel().unwrap()];
    for g in [
        Conv2dGeometry::new(3, 3).with_padding([1; 4]),
        Conv2dGeometry::new(3, 3)
            .with_padding([1; 4])
            .with_groups(4),
        Conv2dGeometry::new(1, 1),
    ] {
        let k = g.kernel.0 * g.kernel.1 * (4 / g.groups);
        let wf = vec![0.25f32; 4 * k];
        let conv = Conv2d::new(&e, 4, 4, g, &wf, None, WeightQuantization::default()).unwrap();
        let p = QuantParams::<u8>::new(0.1, 3).unwrap();
        let sq = conv
            .static_quant(p, p, RequantScheme::Fp32, Activation::None)
            .unwrap();
        let total = 2 * 5 * 5;
        let mut scratch = ConvScratch::new();
        let mut out = vec![0xabu8; 8 * 4];
        #[allow(clippy::reversed_empty_ranges)]
        let bad: Vec<(core::ops::Range<usize>, usize)> = vec![
            (total - 4..total + 4, 32), // past the end
            (total + 1..total + 1, 0),  // empty but outside
            (5..3, 0),                  // reversed
            (0..8, 31),                 // out one short
            (0..8, 33),                 // out one long
            (0..7, 32),                 // out for 8 pixels, range of 7
        ];
        for (r, n_out) in bad {
            let mut o = vec![0xabu8; n_out];
            let res = conv.forward_range(&sq, &x, s, r.clone(), &mut o, &mut scratch);
            assert!(
                matches!(res, Err(Error::Shape(_))),
                "{r:?} {n_out}: {res:?}"
            );
            assert!(o.iter().all(|&v| v == 0xab));
        }
        // Bad input length, bad input channels, a stage for other channels.
        assert!(conv
            .forward_range(&sq, &x[1..], s, 0..8, &mut out, &mut scratch)
            .is_err());
        let s3 = Nhwc::new(2, 5, 5, 3);
        assert!(conv
            .forward_range(
                &sq,
                &x[..s3.numel().unwrap()],
                s3,
                0..8,
                &mut out,
                &mut scratch
            )
            .is_err());
        let short = [0.5f32; 2];
        let stage = OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&short)), 3);
        assert!(conv
            .forward_range_with_stage(&x, s, 3u8, &stage, 0..8, &mut out, &mut scratch)
            .is_err());
        assert!(out.iter().all(|&v| v == 0xab));
        // An empty range inside is fine and writes nothing.
        conv.forward_range(&sq, &x, s, 7..7, &mut [], &mut scratch)
            .unwrap();
        #[cfg(feature = "rayon")]
        {
            let mut full = vec![0xabu8; total * 4 - 1];
            assert!(conv.forward_par(&sq, &x, s, &mut full).is_err());
            assert!(full.iter().all(|&v| v == 0xab));
        }
    }
}

/// One scratch reused across calls that change what an implicit-GEMM indirection list
/// depends on (the input's contents and zero point in the same buffer, the range, the
/// convolution's geometry, the input buffer itself) gives the bits of a fresh scratch:
/// the lists kept for the next call are reused only when they are still right. With i8
/// input the tiles may read a flipped copy of the input kept in the scratch, whose
/// address stays the same when the input buffer changes: the copy must be refreshed.
#[test]
fn a_reused_scratch_gives_the_bits_of_a_fresh_one() {
    reused_scratch::<u8>(0x5c7a_7c11);
    reused_scratch::<i8>(0x1d8e_22f3);
}

fn reused_scratch<X: QType>(seed: u64) {
    let mut rng = Rng(seed);
    let s = Nhwc::new(2, 9, 11, 8);
    let geoms = [
        Conv2dGeometry::new(3, 3).with_padding([1; 4]),
        Conv2dGeometry::new(3, 3)
            .with_stride(2, 1)
            .with_padding([0, 1, 2, 0]),
        Conv2dGeometry::new(1, 3)
            .with_dilation(1, 2)
            .with_groups(2)
            .with_padding([0, 2, 0, 2]),
    ];
    let numel = s.numel().unwrap();
    for e in engines() {
        let convs: Vec<Conv2d> = geoms
            .iter()
            .map(|&g| {
                let k = g.kernel.0 * g.kernel.1 * (s.c / g.groups);
                let wf: Vec<f32> = (0..12 * k).map(|_| rng.f(-1.0, 1.0)).collect();
                Conv2d::new(
                    &e,
                    s.c,
                    12,
                    g,
                    &wf,
                    None,
                    WeightQuantization::PerChannelSymmetric,
                )
                .unwrap()
            })
            .collect();
        let mut bufs = [vec![0u8; numel], vec![0u8; numel]];
        let mut scratch = ConvScratch::new();
        // Pairs of rounds with the same buffer, range and geometry (the second one reuses
        // the lists), the buffer switching every pair, the range every three pairs, the
        // geometry every four.
        for round in 0..24 {
            let conv = &convs[round / 8 % 3];
            let b = round / 2 % 2;
            // New contents in the same allocation, and a new zero point.
            for v in bufs[b].iter_mut() {
                *v = rng.next() as u8;
            }
            let input: &[X] = X::from_bytes_mut(&mut bufs[b]);
            let zx = X::from_i32(if X::SIGNED {
                rng.next() as u8 as i8 as i32
            } else {
                rng.next() as u8 as i32
            });
            let os = conv.output_shape(s).unwrap();
            let total = os.n * os.h * os.w;
            let range = if round / 6 % 2 == 1 {
                3..total - 5
            } else {
                0..total
            };
            let mut got = vec![0i32; range.len() * 12];
            let mut want = got.clone();
            for (out, scr) in [
                (&mut got, &mut scratch),
                (&mut want, &mut ConvScratch::new()),
            ] {
                conv.forward_range_with_stage(
                    input,
                    s,
                    zx,
                    &OutputStage::i32(),
                    range.clone(),
                    out,
                    scr,
                )
                .unwrap();
            }
            assert_eq!(got, want, "round {round} on {:?}", e.isa());
        }
    }
}
