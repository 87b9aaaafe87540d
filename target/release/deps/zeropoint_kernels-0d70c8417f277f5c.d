/work/main/target/release/deps/zeropoint_kernels-0d70c8417f277f5c.d: kernels/src/lib.rs kernels/src/isa.rs kernels/src/stage.rs kernels/src/table.rs kernels/src/scalar/mod.rs kernels/src/scalar/gemm.rs kernels/src/scalar/quant.rs kernels/src/scalar/reference.rs kernels/src/scalar/requant.rs

/work/main/target/release/deps/libzeropoint_kernels-0d70c8417f277f5c.rlib: kernels/src/lib.rs kernels/src/isa.rs kernels/src/stage.rs kernels/src/table.rs kernels/src/scalar/mod.rs kernels/src/scalar/gemm.rs kernels/src/scalar/quant.rs kernels/src/scalar/reference.rs kernels/src/scalar/requant.rs

/work/main/target/release/deps/libzeropoint_kernels-0d70c8417f277f5c.rmeta: kernels/src/lib.rs kernels/src/isa.rs kernels/src/stage.rs kernels/src/table.rs kernels/src/scalar/mod.rs kernels/src/scalar/gemm.rs kernels/src/scalar/quant.rs kernels/src/scalar/reference.rs kernels/src/scalar/requant.rs

kernels/src/lib.rs:
kernels/src/isa.rs:
kernels/src/stage.rs:
kernels/src/table.rs:
kernels/src/scalar/mod.rs:
kernels/src/scalar/gemm.rs:
kernels/src/scalar/quant.rs:
kernels/src/scalar/reference.rs:
kernels/src/scalar/requant.rs:
