//! `cargo bench`: every available variant of every operation, ids `<op>/<variant>/<shape>`
//! (for example `gemm/scalar::gemm_u8i8_4x8c1/256x256x256`), with `Throughput` set
//! (GEMM/GEMV: 2·M·N·K operations, reported by criterion as elements/s = OPS; element-wise:
//! bytes read + written; weight packing: source bytes), plus the f32 baseline
//! (`matrixmultiply::sgemm_f32`) on the same shapes. The workloads are those of
//! `zeropoint bench` (`src/cli/workloads.rs`, included below), so the two report the
//! same things.
//!
//! Variants are listed by `zeropoint::variants()` and forced through
//! `Engine::with_isa`: a new kernel is benchmarked with no change here. Inputs and packed
//! weights are built lazily, so a filter (`cargo bench -- gemv`) only pays for what it
//! runs. Sampling is set per benchmark from an estimate of one call's duration: long calls
//! use flat sampling with 10 samples. The scalar kernel is not run above 1024³ (printed;
//! `ZEROPOINT_BENCH_ALL=1` runs it).
//!
//! `cargo bench -- --quick` gives quick estimates; `cargo bench -- --test` runs each
//! benchmark once (the CI smoke test).

use std::cell::OnceCell;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use zeropoint::{variants, Isa, OpKind};

#[allow(dead_code)]
#[path = "../src/cli/workloads.rs"]
mod workloads;

use workloads::{
    engine_for, portable_packer, tile_label, ElemRun, F32Gemm, GemmInputs, GemmRun, PackKernelRun,
    PackRun, TileRun, ELEM_SHAPES, F32_BASELINE, GEMM_SHAPES, PACK_SHAPES, TILE_KS,
};

/// Sets sampling for a benchmark whose call is estimated to take `est_s` seconds.
fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, est_s: f64) {
    if est_s > 0.02 {
        // 10 samples of one call each (flat), after about one call of warm-up.
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs_f64(est_s.max(0.2)))
            .measurement_time(Duration::from_secs_f64((12.0 * est_s).max(2.0)));
    } else {
        group
            .sampling_mode(SamplingMode::Auto)
            .sample_size(30)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
}

/// A rough rate for estimating call durations: the scalar kernels run at about 6 GOPS,
/// SIMD kernels and the f32 baseline at tens of GOPS.
fn est_ops_per_s(isa: Option<Isa>) -> f64 {
    match isa {
        Some(Isa::Scalar) => 6e9,
        Some(_) => 60e9,
        None => 40e9,
    }
}

fn gemm(c: &mut Criterion) {
    let gemm_variants: Vec<_> = variants()
        .into_iter()
        .filter(|v| v.op == OpKind::Gemm)
        .collect();
    for &shape in GEMM_SHAPES {
        let label = shape.label();
        let inputs: OnceCell<GemmInputs> = OnceCell::new();
        let mut group = c.benchmark_group(shape.op);
        if shape.m == 1 {
            group.throughput(Throughput::BytesDecimal(shape.weight_bytes()));
        } else {
            group.throughput(Throughput::Elements(shape.ops()));
        }
        for v in &gemm_variants {
            let id = format!("{}/{}/{label}", shape.op, v.name);
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    eprintln!("skipping {id}: {why}");
                    continue;
                }
            };
            if let Some(why) = shape.skip_reason(v.isa) {
                eprintln!("skipping {id}: {why}");
                continue;
            }
            configure(&mut group, shape.ops() as f64 / est_ops_per_s(Some(v.isa)));
            let mut run: Option<GemmRun<'_>> = None;
            group.bench_function(BenchmarkId::new(v.name, &label), |b| {
                let inputs = inputs.get_or_init(|| GemmInputs::new(shape));
                let run = run.get_or_insert_with(|| {
                    GemmRun::new(engine, inputs).expect("benchmark weights pack")
                });
                b.iter(|| run.run());
            });
        }
        if shape.m == 1 {
            group.throughput(Throughput::BytesDecimal(4 * shape.weight_bytes()));
        }
        configure(&mut group, shape.ops() as f64 / est_ops_per_s(None));
        let mut f32_run: Option<F32Gemm> = None;
        group.bench_function(BenchmarkId::new(F32_BASELINE, &label), |b| {
            let run = f32_run.get_or_insert_with(|| F32Gemm::new(shape));
            b.iter(|| run.run());
        });
        group.finish();
    }
}

/// The GEMM microkernel alone on operands resident in L1/L2 (`tile_l1`).
fn tile_l1(c: &mut Criterion) {
    let mut group = c.benchmark_group("tile_l1");
    for &k in TILE_KS {
        for v in variants().iter().filter(|v| v.op == OpKind::Gemm) {
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    eprintln!("skipping tile_l1/{}/k{k}: {why}", v.name);
                    continue;
                }
            };
            let mut run = TileRun::new(&engine, k);
            group.throughput(Throughput::Elements(run.ops()));
            configure(&mut group, run.ops() as f64 / est_ops_per_s(Some(v.isa)));
            let label = tile_label(engine.gemm_kernel(), k);
            group.bench_function(BenchmarkId::new(v.name, label), |b| b.iter(|| run.run()));
        }
    }
    group.finish();
}

fn elementwise(c: &mut Criterion) {
    let elem_variants: Vec<_> = variants()
        .into_iter()
        .filter(|v| v.op == OpKind::Elementwise)
        .collect();
    for &shape in ELEM_SHAPES {
        let mut group = c.benchmark_group(shape.op_name());
        group.throughput(Throughput::BytesDecimal(shape.bytes()));
        for v in &elem_variants {
            let id = format!("{}/{}/{}", shape.op_name(), v.name, shape.label());
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    eprintln!("skipping {id}: {why}");
                    continue;
                }
            };
            // The scalar element-wise kernels move about 1 GB/s.
            let rate = if v.isa == Isa::Scalar { 1e9 } else { 8e9 };
            configure(&mut group, shape.bytes() as f64 / rate);
            let mut run: Option<ElemRun> = None;
            group.bench_function(BenchmarkId::new(v.name, shape.label()), |b| {
                let run = run.get_or_insert_with(|| ElemRun::new(engine, shape));
                b.iter(|| run.run());
            });
        }
        group.finish();
    }
}

/// Weight packing per GEMM variant, both source layouts, throughput in source bytes:
/// `pack/<variant>/4096x4096_nxk` (and `…_kxn`) through `Engine::pack_weights`;
/// `pack_kernel/<variant>/…` the table's packer alone into a reused buffer, and
/// `pack_kernel/scalar::gemm::pack::<NR,KR>/…` the portable packer of the same layout
/// (the baseline).
fn pack(c: &mut Criterion) {
    for (op, kernel_level) in [("pack", false), ("pack_kernel", true)] {
        let mut group = c.benchmark_group(op);
        for &shape in PACK_SHAPES {
            group.throughput(Throughput::BytesDecimal(shape.bytes()));
            // Portable baselines already run for this shape (several tables share a
            // layout, e.g. amx and avx512vnni).
            let mut baselines: Vec<String> = Vec::new();
            for v in variants().iter().filter(|v| v.op == OpKind::Gemm) {
                let id = format!("{op}/{}/{}", v.name, shape.label());
                let engine = match engine_for(v) {
                    Ok(e) => e,
                    Err(why) => {
                        eprintln!("skipping {id}: {why}");
                        continue;
                    }
                };
                if !kernel_level {
                    // The portable packer moves about 1 GB/s, the SIMD packers several.
                    let rate = if v.isa == Isa::Scalar { 1e9 } else { 4e9 };
                    configure(&mut group, shape.bytes() as f64 / rate);
                    let mut run: Option<PackRun> = None;
                    group.bench_function(BenchmarkId::new(v.name, shape.label()), |b| {
                        let run = run.get_or_insert_with(|| PackRun::new(engine, shape));
                        b.iter(|| run.run());
                    });
                    continue;
                }
                let kernel = engine.gemm_kernel();
                let mut packers = vec![(v.name.to_string(), kernel.pack, 8e9)];
                if v.isa != Isa::Scalar {
                    if let Some((name, f)) = portable_packer(kernel.nr, kernel.kr) {
                        if !baselines.contains(&name) {
                            baselines.push(name.clone());
                            packers.push((name, f, 0.5e9));
                        }
                    }
                }
                for (name, packer, rate) in packers {
                    configure(&mut group, shape.bytes() as f64 / rate);
                    let mut run: Option<PackKernelRun> = None;
                    group.bench_function(BenchmarkId::new(name, shape.label()), |b| {
                        let run =
                            run.get_or_insert_with(|| PackKernelRun::new(&engine, packer, shape));
                        b.iter(|| run.run());
                    });
                }
            }
        }
        group.finish();
    }
}

/// The quantized layers (issue 6): `linear` (32×4096×4096, u8 → u8, against the
/// `gemm` row of the same shape), `conv2d` (3×3, 64 → 64 channels, 56×56, stride 1,
/// padding 1), per GEMM variant; `depthwise` (3×3 on 56×56×128, u8 → u8, channel
/// multiplier 1 and 2; bytes = input read) per depthwise variant. Throughput as in `gemm` (2·MACs) for the first two.
fn layers(c: &mut Criterion) {
    use zeropoint::layers::Nhwc;
    use zeropoint::{
        Activation, Conv2d, Conv2dGeometry, Linear, Matrix, MatrixMut, QuantParams, RequantScheme,
        WeightQuantization,
    };
    let wq = WeightQuantization::default();
    let p = QuantParams::<u8>::new(0.05, 128).expect("valid");
    let weights = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect()
    };
    let bytes = |n: usize| -> Vec<u8> { (0..n).map(|i| (i * 7 % 251) as u8).collect() };
    for v in variants() {
        let id = format!("layers/{}", v.name);
        let engine = match engine_for(&v) {
            Ok(e) => e,
            Err(why) => {
                eprintln!("skipping {id}: {why}");
                continue;
            }
        };
        let est = est_ops_per_s(Some(v.isa));
        match v.op {
            OpKind::Gemm => {
                let (m, k, n) = (32, 4096, 4096);
                let mut group = c.benchmark_group("linear");
                group.throughput(Throughput::Elements((2 * m * k * n) as u64));
                configure(&mut group, (2 * m * k * n) as f64 / est);
                let mut run = None;
                group.bench_function(BenchmarkId::new(v.name, "32x4096x4096"), |b| {
                    let (lin, sq, x, y) = run.get_or_insert_with(|| {
                        let lin = Linear::new(&engine, &weights(n * k), None, n, k, wq)
                            .expect("valid layer");
                        let sq = lin
                            .static_quant(
                                p,
                                QuantParams::new(2.0, 128u8).expect("valid"),
                                RequantScheme::Fp32,
                                Activation::None,
                            )
                            .expect("valid parameters");
                        (lin, sq, bytes(m * k), vec![0u8; m * n])
                    });
                    b.iter(|| {
                        lin.forward(sq, Matrix::new(x, m, k), MatrixMut::new(y, m, n))
                            .expect("valid call")
                    });
                });
                group.finish();
                let s = Nhwc::new(1, 56, 56, 64);
                let ops = 2 * 56 * 56 * 64 * 576;
                let mut group = c.benchmark_group("conv2d");
                group.throughput(Throughput::Elements(ops as u64));
                configure(&mut group, ops as f64 / est);
                let mut run = None;
                group.bench_function(BenchmarkId::new(v.name, "3x3_64to64_56x56"), |b| {
                    let (conv, sq, x, y) = run.get_or_insert_with(|| {
                        let g = Conv2dGeometry::new(3, 3).with_padding([1; 4]);
                        let conv = Conv2d::new(&engine, 64, 64, g, &weights(64 * 576), None, wq)
                            .expect("valid layer");
                        let sq = conv
                            .static_quant(
                                p,
                                QuantParams::new(1.0, 128u8).expect("valid"),
                                RequantScheme::Fp32,
                                Activation::None,
                            )
                            .expect("valid parameters");
                        (conv, sq, bytes(56 * 56 * 64), vec![0u8; 56 * 56 * 64])
                    });
                    b.iter(|| conv.forward(sq, x, s, y).expect("valid call"));
                });
                group.finish();
            }
            OpKind::Depthwise => {
                let (h, w, ch) = (56, 56, 128);
                let s = Nhwc::new(1, h, w, ch);
                let mut group = c.benchmark_group("depthwise");
                group.throughput(Throughput::BytesDecimal((h * w * ch) as u64));
                for (mult, shape) in [(1, "3x3_56x56x128"), (2, "3x3_56x56x128_m2")] {
                    let oc = ch * mult;
                    configure(&mut group, (h * w * oc * 9) as f64 / est);
                    let mut run = None;
                    group.bench_function(BenchmarkId::new(v.name, shape), |b| {
                        let (conv, sq, x, y) = run.get_or_insert_with(|| {
                            let g = Conv2dGeometry::new(3, 3)
                                .with_padding([1; 4])
                                .with_groups(ch);
                            let conv = Conv2d::new(&engine, ch, oc, g, &weights(9 * oc), None, wq)
                                .expect("valid layer");
                            let sq = conv
                                .static_quant(p, p, RequantScheme::Fp32, Activation::None)
                                .expect("valid parameters");
                            (conv, sq, bytes(h * w * ch), vec![0u8; h * w * oc])
                        });
                        b.iter(|| conv.forward(sq, x, s, y).expect("valid call"));
                    });
                }
                group.finish();
            }
            OpKind::Elementwise | OpKind::Ops => {}
        }
    }
}

/// The add and pooling table of each variant (`OpKind::Ops`), u8, bytes read + written:
/// `add` (QLinearAdd) of two 56×56×64 tensors (`56x56x64`) and of a 56×56×64 tensor
/// with a per-channel vector of 64 (`56x56x64+64`, broadcast over NHWC);
/// `global_avg_pool` of 56×56×64 and 7×7×2048 (to 1×64 / 1×2048); `max_pool` 3×3,
/// stride 2, padding 1 of 112×112×64 (the ResNet stem, to 56×56×64).
fn ops(c: &mut Criterion) {
    use zeropoint::layers::{Nhwc, Pool2d, QTensor};
    use zeropoint::{Activation, QuantParams};
    let ops_variants: Vec<_> = variants()
        .into_iter()
        .filter(|v| v.op == OpKind::Ops)
        .collect();
    let bytes = |n: usize, seed: usize| -> Vec<u8> {
        (0..n).map(|i| ((i + seed) * 7 % 251) as u8).collect()
    };
    let pa = QuantParams::<u8>::new(0.05, 128).expect("valid");
    let pb = QuantParams::<u8>::new(0.03, 120).expect("valid");
    let pc = QuantParams::<u8>::new(0.07, 125).expect("valid");
    let (h, w, ch) = (56usize, 56usize, 64usize);
    let n = h * w * ch;
    let full = [1, h, w, ch];
    let vec_shape = [ch];
    // (id shape, B's shape, bytes moved)
    let add_cases: [(&str, &[usize], usize); 2] = [
        ("56x56x64", &full, 3 * n),
        ("56x56x64+64", &vec_shape, 2 * n + ch),
    ];
    for (label, b_shape, moved) in add_cases {
        let mut group = c.benchmark_group("add");
        group.throughput(Throughput::BytesDecimal(moved as u64));
        for v in &ops_variants {
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    eprintln!("skipping add/{}/{label}: {why}", v.name);
                    continue;
                }
            };
            configure(&mut group, 1e-4);
            let mut run = None;
            group.bench_function(BenchmarkId::new(v.name, label), |bch| {
                let (a, b, y) = run.get_or_insert_with(|| {
                    let bn = b_shape.iter().product();
                    (bytes(n, 1), bytes(bn, 2), vec![0u8; n])
                });
                bch.iter(|| {
                    engine
                        .add(
                            QTensor::new(a, &full, pa),
                            QTensor::new(b, b_shape, pb),
                            y,
                            pc,
                            Activation::None,
                        )
                        .expect("valid call")
                });
            });
        }
        group.finish();
    }
    for (label, s) in [
        ("56x56x64", Nhwc::new(1, 56, 56, 64)),
        ("7x7x2048", Nhwc::new(1, 7, 7, 2048)),
    ] {
        let numel = s.n * s.h * s.w * s.c;
        let mut group = c.benchmark_group("global_avg_pool");
        group.throughput(Throughput::BytesDecimal((numel + s.n * s.c) as u64));
        for v in &ops_variants {
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    eprintln!("skipping global_avg_pool/{}/{label}: {why}", v.name);
                    continue;
                }
            };
            configure(&mut group, 1e-4);
            let mut run = None;
            group.bench_function(BenchmarkId::new(v.name, label), |bch| {
                let (x, y) = run.get_or_insert_with(|| (bytes(numel, 3), vec![0u8; s.n * s.c]));
                bch.iter(|| engine.global_avg_pool(x, s, pa, y, pc).expect("valid call"));
            });
        }
        group.finish();
    }
    let s = Nhwc::new(1, 112, 112, 64);
    let pool = Pool2d {
        kernel: (3, 3),
        stride: (2, 2),
        padding: [1; 4],
    };
    let os = pool.output_shape(s).expect("valid pooling");
    let (numel, out_numel) = (s.h * s.w * s.c, os.h * os.w * os.c);
    let mut group = c.benchmark_group("max_pool");
    group.throughput(Throughput::BytesDecimal((numel + out_numel) as u64));
    for v in &ops_variants {
        let label = "3x3s2_112x112x64";
        let engine = match engine_for(v) {
            Ok(e) => e,
            Err(why) => {
                eprintln!("skipping max_pool/{}/{label}: {why}", v.name);
                continue;
            }
        };
        configure(&mut group, 1e-4);
        let mut run = None;
        group.bench_function(BenchmarkId::new(v.name, label), |bch| {
            let (x, y) = run.get_or_insert_with(|| (bytes(numel, 4), vec![0u8; out_numel]));
            bch.iter(|| engine.max_pool(x, s, &pool, y).expect("valid call"));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().nresamples(20_000);
    targets = gemm, tile_l1, elementwise, pack, layers, ops
}
criterion_main!(benches);
