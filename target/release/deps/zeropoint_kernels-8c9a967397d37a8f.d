/work/main/target/release/deps/zeropoint_kernels-8c9a967397d37a8f.d: kernels/src/lib.rs kernels/src/isa.rs kernels/src/stage.rs kernels/src/table.rs kernels/src/scalar/mod.rs kernels/src/scalar/gemm.rs kernels/src/scalar/quant.rs kernels/src/scalar/reference.rs kernels/src/scalar/requant.rs kernels/src/testing/mod.rs

/work/main/target/release/deps/zeropoint_kernels-8c9a967397d37a8f: kernels/src/lib.rs kernels/src/isa.rs kernels/src/stage.rs kernels/src/table.rs kernels/src/scalar/mod.rs kernels/src/scalar/gemm.rs kernels/src/scalar/quant.rs kernels/src/scalar/reference.rs kernels/src/scalar/requant.rs kernels/src/testing/mod.rs

kernels/src/lib.rs:
kernels/src/isa.rs:
kernels/src/stage.rs:
kernels/src/table.rs:
kernels/src/scalar/mod.rs:
kernels/src/scalar/gemm.rs:
kernels/src/scalar/quant.rs:
kernels/src/scalar/reference.rs:
kernels/src/scalar/requant.rs:
kernels/src/testing/mod.rs:
