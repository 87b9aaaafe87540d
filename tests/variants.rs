//! Every compiled GEMM variant, forced through the public API (`Engine::with_isa` with
//! the variant's ISA), against the scalar reference (`kernels::scalar::reference::gemm_i32`
//! and the element functions of `kernels::scalar::requant`): every output stage, A u8/i8,
//! B i8/u8 in both layouts, K large enough to wrap i32; splitting the work with
//! `gemm_range` gives the same output as one call; GEMV equals a row of GEMM.
//! Variants the CPU lacks print `skipping <name>: CPU lacks <feature>`
//! (`ZEROPOINT_TEST_REQUIRE` turns that into a failure).
//!
//! Also: `Engine::global()` honours `ZEROPOINT_ISA` (checked in a child process).

mod common;

use common::{first_diff, param, GemmInput, Out, Rng, SchemeDesc, StageDesc};
use zeropoint::kernels::scalar::reference::{gemm_i32, RefShape};
use zeropoint::kernels::scalar::requant::{
    add_zero_point_clamp, multiply_double_rounding, multiply_single_rounding, requantize_fp32,
};
use zeropoint::kernels::testing::skip_or_require;
use zeropoint::{variants, Engine, Error, Isa, OpKind, PackedWeights, Variant};

/// The reference accumulators of `g` (row-major).
fn reference_acc(g: &GemmInput) -> Vec<i32> {
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

/// The output stage on one accumulator of column `j`, by the reference element functions.
fn reference_stage(acc: i32, j: usize, st: &StageDesc) -> i64 {
    let acc = match &st.bias {
        Some(b) => acc.wrapping_add(b[j]),
        None => acc,
    };
    let pc = st.per_channel;
    match &st.out {
        Out::I32 => acc as i64,
        Out::Quant { scheme, zp, .. } => {
            let (lo, hi) = st.bounds();
            (match scheme {
                SchemeDesc::Fp32(s) => requantize_fp32(acc, param(s, pc, j), *zp, lo, hi),
                SchemeDesc::Double(m) => add_zero_point_clamp(
                    multiply_double_rounding(acc, param(m, pc, j)) as i64,
                    *zp,
                    lo,
                    hi,
                ),
                SchemeDesc::Single(m) => add_zero_point_clamp(
                    multiply_single_rounding(acc, param(m, pc, j)),
                    *zp,
                    lo,
                    hi,
                ),
            }) as i64
        }
        Out::F32 { scales, bias } => {
            let y = acc as f32 * param(scales, pc, j);
            let y = match bias {
                Some(b) => y + b[j],
                None => y,
            };
            y.to_bits() as i64
        }
    }
}

fn expected(g: &GemmInput, st: &StageDesc) -> Vec<i64> {
    reference_acc(g)
        .iter()
        .enumerate()
        .map(|(i, &a)| reference_stage(a, i % g.n, st))
        .collect()
}

/// Asserts `got == want` element by element with a message naming the kernel, the case,
/// the index, the reference and the actual value.
fn assert_same(
    what: &str,
    v: &Variant,
    g: &GemmInput,
    st: &StageDesc,
    got: &[i64],
    want: &[i64],
    cols: usize,
) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what} {}: {}: output length",
        v.name,
        g.describe()
    );
    if let Some(i) = first_diff(got, want) {
        assert_eq!(
            got[i],
            want[i],
            "{what} {}: {} {} at [{}][{}]: reference {} actual {}",
            v.name,
            g.describe(),
            st.describe(),
            i / cols,
            i % cols,
            st.show(want[i]),
            st.show(got[i])
        );
    }
}

/// The cut points of 0..len for a few splits, including unaligned ones.
fn splits(len: usize, tile: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for cuts in [
        vec![],
        vec![1],
        vec![tile.saturating_sub(1)],
        vec![tile + 1],
        vec![len / 2],
        vec![1, 3, 5, tile + 3],
        vec![tile, 2 * tile],
    ] {
        let mut c: Vec<usize> = cuts.into_iter().filter(|&x| x > 0 && x < len).collect();
        c.insert(0, 0);
        c.push(len);
        c.dedup();
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Runs one case on one variant: full output (engine and free function), every split,
/// and GEMV row by row.
fn check_case(v: &Variant, e: &Engine, g: &GemmInput, st: &StageDesc, splits_too: bool) {
    let packed: PackedWeights = g
        .pack(e)
        .unwrap_or_else(|err| panic!("{}: pack {}: {err}", v.name, g.describe()));
    assert_eq!(
        packed.kernel_name(),
        v.name,
        "the forced kernel packed the weights"
    );
    assert_eq!(packed.isa(), v.isa);
    assert_eq!(
        (packed.k(), packed.n(), packed.is_signed()),
        (g.k, g.n, g.b_signed)
    );
    for j in 0..g.n {
        assert_eq!(
            packed.zero_point(j),
            Some(g.zb_at(j)),
            "{}: B zero point of column {j}",
            v.name
        );
    }
    assert_eq!(packed.zero_point(g.n), None);
    let want = expected(g, st);
    let full = g
        .run_full(Some(e), &packed, st)
        .unwrap_or_else(|err| panic!("{}: {} {}: {err}", v.name, g.describe(), st.describe()));
    assert_same("Engine::gemm", v, g, st, &full, &want, g.n);
    let free = g.run_full(None, &packed, st).unwrap();
    assert_same("zeropoint::gemm", v, g, st, &free, &want, g.n);
    if !splits_too {
        return;
    }
    let (mr, nr) = (e.gemm_kernel().mr, e.gemm_kernel().nr);
    for (si, rs) in splits(g.m, mr).iter().enumerate() {
        for (sj, cs) in splits(g.n, nr).iter().enumerate() {
            let mut assembled = vec![i64::MIN; g.m * g.n];
            for r in rs.windows(2) {
                for c in cs.windows(2) {
                    let use_engine = (si + sj).is_multiple_of(2);
                    let blk = g
                        .run(
                            use_engine.then_some(e),
                            &packed,
                            st,
                            Some((r[0]..r[1], c[0]..c[1])),
                        )
                        .unwrap();
                    let w = c[1] - c[0];
                    for (bi, row) in (r[0]..r[1]).enumerate() {
                        for (bj, col) in (c[0]..c[1]).enumerate() {
                            assembled[row * g.n + col] = blk[bi * w + bj];
                        }
                    }
                }
            }
            assert_same(
                &format!("gemm_range rows {rs:?} cols {cs:?}"),
                v,
                g,
                st,
                &assembled,
                &full,
                g.n,
            );
        }
    }
    // GEMV: each row of A alone (M = 1) gives that row of the GEMM.
    for i in 0..g.m {
        let mut row = g.clone();
        row.m = 1;
        row.a = g.a[i * g.a_stride..(i + 1) * g.a_stride].to_vec();
        let got = row.run_full(Some(e), &packed, st).unwrap();
        assert_same(
            &format!("GEMV of row {i}"),
            v,
            g,
            st,
            &got,
            &full[i * g.n..(i + 1) * g.n],
            g.n,
        );
    }
}

/// The available GEMM variants as (variant, engine forced to it).
fn gemm_variants() -> Vec<(Variant, Engine)> {
    let all: Vec<Variant> = variants()
        .into_iter()
        .filter(|v| v.op == OpKind::Gemm)
        .collect();
    assert!(
        all.iter().any(|v| v.isa == Isa::Scalar),
        "the scalar GEMM is always compiled"
    );
    let mut out = Vec::new();
    for v in all {
        if skip_or_require(v.name, v.isa) {
            assert!(!v.available);
            continue;
        }
        assert!(
            v.available,
            "{} runs here but variants() says unavailable",
            v.name
        );
        let e = Engine::with_isa(v.isa).unwrap_or_else(|err| panic!("{}: {err}", v.name));
        assert_eq!(
            e.gemm_kernel().name,
            v.name,
            "Engine::with_isa({}) selected another GEMM kernel",
            v.isa
        );
        out.push((v, e));
    }
    out
}

#[test]
fn every_variant_every_stage_and_type() {
    for (v, e) in gemm_variants() {
        let (mr, nr, kr) = (e.gemm_kernel().mr, e.gemm_kernel().nr, e.gemm_kernel().kr);
        let mut rng = Rng(0xC0FFEE ^ (nr as u64) << 8 ^ mr as u64);
        let mut count = 0usize;
        // Every operand type and layout × every stage kind × per tensor / per channel.
        for combo in 0..8u32 {
            let (a_signed, b_signed, nxk) = (combo & 1 != 0, combo & 2 != 0, combo & 4 != 0);
            for kind in 0..9 {
                for pc in [false, true] {
                    let m = rng.range(1, 2 * mr as i64 + 1) as usize;
                    let n = rng.range(1, 2 * nr as i64 + 3) as usize;
                    let k = rng.range(0, 4 * kr as i64 + 40) as usize;
                    let mode = (rng.next_u64() % 5) as u32;
                    let g = GemmInput::random(&mut rng, m, n, k, a_signed, b_signed, nxk, mode);
                    let st = StageDesc::random(&mut rng, kind, n, pc);
                    check_case(&v, &e, &g, &st, count.is_multiple_of(3));
                    count += 1;
                }
            }
        }
        // Shapes around the tile and the depth unroll, stages and types cycled.
        let ms = [1, 2, mr.saturating_sub(1).max(1), mr, mr + 1, 2 * mr + 1];
        let ns = [1, nr - 1, nr, nr + 1, 2 * nr + 3];
        let ks = [0, 1, 2, kr, kr + 1, 2 * kr - 1, 7, 16, 33, 64, 100];
        for &m in &ms {
            for &n in &ns {
                for &k in &ks {
                    let c = count as u32;
                    let g = GemmInput::random(
                        &mut rng,
                        m,
                        n.max(1),
                        k,
                        c & 1 != 0,
                        c & 2 != 0,
                        c & 4 != 0,
                        c % 5,
                    );
                    let st =
                        StageDesc::random(&mut rng, count % 9, n.max(1), count.is_multiple_of(2));
                    check_case(&v, &e, &g, &st, count.is_multiple_of(4));
                    count += 1;
                }
            }
        }
        eprintln!("{}: {count} cases", v.name);
    }
}

/// K = 40000 with extreme operands: |sum| > 2^31, the result wraps like the reference.
#[test]
fn every_variant_wraps_with_large_k() {
    for (v, e) in gemm_variants() {
        let nr = e.gemm_kernel().nr;
        let mut rng = Rng(0xB16_C0DE);
        for (idx, mode) in [2u32, 3, 4, 2, 3, 4, 2, 3, 4].into_iter().enumerate() {
            let n = nr + 1 + idx % 3;
            let g = GemmInput::random(
                &mut rng,
                1 + idx % 3,
                n,
                40_000 + idx,
                idx & 1 != 0,
                idx & 2 != 0,
                idx & 4 != 0,
                mode,
            );
            let acc = reference_acc(&g);
            if mode != 4 {
                // Every product is ±255², so the true sum is ±(40000 + idx)·65025.
                let exact = (40_000 + idx) as i64 * 65025 * if mode == 2 { -1 } else { 1 };
                assert_eq!(
                    acc[0] as i64,
                    exact - exact.signum() * (1i64 << 32),
                    "the reference wraps"
                );
            }
            let st = StageDesc::random(&mut rng, idx, n, idx.is_multiple_of(2));
            check_case(&v, &e, &g, &st, idx == 0);
        }
    }
}

/// With only the free functions, packed weights run with the kernel they were packed for,
/// whatever the global engine is.
#[test]
fn packed_weights_run_their_own_kernel() {
    let vs = gemm_variants();
    let mut rng = Rng(3);
    let g = GemmInput::random(&mut rng, 5, 19, 37, true, false, true, 0);
    let st = StageDesc::random(&mut rng, 4, 19, true);
    let want = expected(&g, &st);
    for (v, e) in &vs {
        let packed = g.pack(e).unwrap();
        let got = g.run_full(None, &packed, &st).unwrap();
        assert_same("zeropoint::gemm", v, &g, &st, &got, &want, g.n);
    }
    // The global engine packs for its own kernel.
    let ge = Engine::global().unwrap();
    let p = g.pack(&ge).unwrap();
    assert_eq!(p.kernel_name(), ge.gemm_kernel().name);
    assert!(
        vs.iter().any(|(v, _)| v.name == p.kernel_name()),
        "the global kernel is one of the available variants"
    );
}

/// The child half of `global_engine_honours_zeropoint_isa`: does nothing unless
/// `ZEROPOINT_CHILD` is set by the parent.
#[test]
fn child_global_engine() {
    let Ok(mode) = std::env::var("ZEROPOINT_CHILD") else {
        return;
    };
    let isa_env = std::env::var("ZEROPOINT_ISA").unwrap_or_default();
    match mode.as_str() {
        "scalar" => {
            let e = Engine::global().expect("ZEROPOINT_ISA=scalar is valid");
            assert_eq!(e.isa(), Isa::Scalar);
            assert_eq!(e.gemm_kernel().isa, Isa::Scalar);
            assert_eq!(e.elementwise_kernels().isa, Isa::Scalar);
            let w = [1i8, 2, 3, 4];
            let p = zeropoint::PackedWeights::pack(
                zeropoint::Matrix::new(&w, 2, 2),
                zeropoint::WeightLayout::KxN,
                zeropoint::PerChannel::Tensor(0i8),
            )
            .unwrap();
            assert_eq!(p.isa(), Isa::Scalar);
            println!("CHILD-OK scalar");
        }
        "unknown" => {
            let err = Engine::global().expect_err("an unknown ISA name is rejected");
            assert_eq!(err, Error::UnknownIsa(isa_env.clone()));
            assert!(err.to_string().contains(isa_env.trim()));
            // Every free function reports it.
            let mut q = [0u8; 1];
            let p = zeropoint::QuantParams::<u8>::new(1.0, 0).unwrap();
            let r =
                zeropoint::quantize(&[1.0], &[1], &zeropoint::Granularity::PerTensor(p), &mut q);
            assert_eq!(r, Err(Error::UnknownIsa(isa_env.clone())));
            let w = [1i8; 4];
            let r = zeropoint::PackedWeights::pack(
                zeropoint::Matrix::new(&w, 2, 2),
                zeropoint::WeightLayout::KxN,
                zeropoint::PerChannel::Tensor(0i8),
            );
            assert!(matches!(r, Err(Error::UnknownIsa(_))), "{r:?}");
            println!("CHILD-OK unknown");
        }
        "unavailable" => {
            let err = Engine::global().expect_err("an ISA the CPU lacks is rejected");
            assert!(
                matches!(err, Error::IsaUnavailable { isa, .. } if isa.name() == isa_env),
                "{err:?}"
            );
            println!("CHILD-OK unavailable");
        }
        "case" => {
            let e = Engine::global().expect("ZEROPOINT_ISA is case-insensitive and trimmed");
            assert_eq!(e.isa(), Isa::Scalar);
            println!("CHILD-OK case");
        }
        other => panic!("unknown ZEROPOINT_CHILD mode {other:?}"),
    }
}

/// Runs this test binary's `child_global_engine` with `ZEROPOINT_ISA=isa`; `None` when
/// the binary cannot be spawned (e.g. under an emulator without binfmt).
fn run_child(isa: &str, mode: &str) -> Option<()> {
    let exe = std::env::current_exe().expect("current_exe");
    let out = common::target_command(&exe)
        .args([
            "child_global_engine",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ZEROPOINT_ISA", isa)
        .env("ZEROPOINT_CHILD", mode)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(err) => {
            eprintln!(
                "skipping ZEROPOINT_ISA={isa:?} check: cannot spawn {}: {err}",
                exe.display()
            );
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child with ZEROPOINT_ISA={isa:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(&format!("CHILD-OK {mode}")),
        "child with ZEROPOINT_ISA={isa:?} did not run its check:\n{stdout}\n{stderr}"
    );
    Some(())
}

#[test]
fn global_engine_honours_zeropoint_isa() {
    if run_child("scalar", "scalar").is_none() {
        return;
    }
    run_child(" SCALAR ", "case");
    run_child("bogus", "unknown");
    run_child("avx3000", "unknown");
    let lacking = Isa::ALL
        .into_iter()
        .find(|i| !i.is_supported())
        .expect("some ISA is always missing (another architecture)");
    run_child(lacking.name(), "unavailable");
}

#[test]
fn global_engine_is_usable() {
    // Whatever the environment asks for (CI may set ZEROPOINT_ISA), a valid value gives an
    // engine whose kernels run here.
    match Engine::global() {
        Ok(e) => {
            assert!(e.isa().is_supported());
            assert!(e.gemm_kernel().isa.is_supported());
            assert!(e.elementwise_kernels().isa.is_supported());
            if std::env::var("ZEROPOINT_ISA").map_or(true, |v| v.trim().is_empty()) {
                assert_eq!(
                    e.isa(),
                    zeropoint::best_isa(),
                    "without ZEROPOINT_ISA the best ISA is used"
                );
            }
        }
        Err(err) => {
            let v = std::env::var("ZEROPOINT_ISA").unwrap_or_default();
            assert!(
                matches!(err, Error::UnknownIsa(_) | Error::IsaUnavailable { .. }),
                "Engine::global() failed without a bad ZEROPOINT_ISA ({v:?}): {err}"
            );
        }
    }
    let isas = zeropoint::detected_isas();
    assert_eq!(isas.first(), Some(&Isa::Scalar));
    assert_eq!(isas.last(), Some(&zeropoint::best_isa()));
}
