//! Which kernels dispatch picks on this CPU. CI runs the suite natively and under
//! `qemu-x86_64 -cpu Haswell` / `-cpu Nehalem` (and qemu-aarch64 lanes), and sets
//! `ZEROPOINT_EXPECT_ISA` to the ISA that lane's CPU must get; without it the choice is
//! printed and checked for consistency only.

use zeropoint::{best_isa, detected_isas, variants, Engine, Isa, OpKind};

#[test]
fn dispatch_picks_the_expected_isa() {
    let engine = Engine::global().expect("global engine");
    let best = best_isa();
    println!(
        "detected {:?}; best {best}; gemm {} elementwise {}",
        detected_isas(),
        engine.gemm_kernel().name,
        engine.elementwise_kernels().name
    );
    if std::env::var_os("ZEROPOINT_ISA").is_none() {
        assert_eq!(engine.isa(), best);
    }
    // The best ISA's own GEMM kernel is compiled for every ISA of this architecture.
    let gemm_isas: Vec<Isa> = variants()
        .iter()
        .filter(|v| v.op == OpKind::Gemm)
        .map(|v| v.isa)
        .collect();
    if gemm_isas.contains(&engine.isa()) {
        assert_eq!(
            engine.gemm_kernel().isa,
            engine.isa(),
            "the capped ISA has its own GEMM kernel"
        );
    }
    match std::env::var("ZEROPOINT_EXPECT_ISA") {
        Ok(want) => {
            let want =
                Isa::from_name(&want).unwrap_or_else(|| panic!("bad ZEROPOINT_EXPECT_ISA={want}"));
            assert_eq!(best, want, "this CPU should dispatch to {want}");
            assert_eq!(
                engine.gemm_kernel().isa,
                want,
                "GEMM kernel {}",
                engine.gemm_kernel().name
            );
        }
        Err(_) => println!("ZEROPOINT_EXPECT_ISA unset: not asserting a particular ISA"),
    }
}

#[test]
fn every_available_variant_can_be_forced_and_is_the_one_that_runs() {
    for v in variants() {
        let e = Engine::with_isa(v.isa);
        if !v.available {
            assert!(e.is_err(), "{} is unavailable but could be forced", v.name);
            println!(
                "skipping {}: CPU lacks {}",
                v.name,
                v.isa.missing_feature().unwrap_or("?")
            );
            continue;
        }
        let e = e.unwrap();
        match v.op {
            OpKind::Gemm => {
                assert_eq!(e.gemm_kernel().name, v.name);
                let w = [1i8, 2, 3, 4];
                let p = e
                    .pack_weights(
                        zeropoint::Matrix::new(&w, 2, 2),
                        zeropoint::WeightLayout::KxN,
                        zeropoint::PerChannel::Tensor(0),
                    )
                    .unwrap();
                assert_eq!(p.kernel_name(), v.name);
            }
            OpKind::Elementwise => {
                // The element-wise table used is the best one at or below the ISA.
                assert!(
                    e.elementwise_kernels().isa <= v.isa
                        || e.elementwise_kernels().isa == Isa::Scalar
                );
            }
            OpKind::Depthwise => {
                // Every depthwise kernel is the best one for its own ISA.
                assert_eq!(e.depthwise_kernel().name, v.name);
            }
            OpKind::Ops => {
                // Every add and pooling table is the best one for its own ISA.
                assert_eq!(e.ops_kernels().name, v.name);
            }
        }
    }
}
