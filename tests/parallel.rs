//! `gemm_par` (feature `rayon`) and hand-made thread splits with `gemm_range` give the
//! same bits as one `gemm` call.
#![cfg(feature = "rayon")]

use zeropoint::*;

fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn gemm_par_equals_gemm() {
    for &(m, k, n) in &[
        (1, 300, 1000),
        (2, 64, 70),
        (37, 129, 65),
        (200, 33, 17),
        (3, 4096, 5),
    ] {
        let a = data(m * k, 1);
        let w: Vec<i8> = data(k * n, 2).into_iter().map(|b| b as i8).collect();
        let zb: Vec<i8> = data(n, 3).into_iter().map(|b| b as i8).collect();
        let packed = PackedWeights::pack(
            Matrix::new(&w, k, n),
            WeightLayout::KxN,
            PerChannel::Channel(&zb),
        )
        .unwrap();
        let bias: Vec<i32> = (0..n as i32).map(|j| j * 1000 - 77).collect();
        let mults: Vec<QuantizedMultiplier> = (0..n)
            .map(|j| quantize_multiplier(1e-4 * (1.0 + j as f64 / n as f64)).unwrap())
            .collect();
        let stage = OutputStage::quantized(
            Requantization::DoubleRounding(PerChannel::Channel(&mults)),
            3,
        )
        .with_bias(&bias)
        .with_clamp(3, 120);
        let mut one = vec![0i8; m * n];
        gemm(
            Matrix::new(&a, m, k),
            7u8,
            &packed,
            &stage,
            MatrixMut::new(&mut one, m, n),
        )
        .unwrap();
        let mut par = vec![0i8; m * n];
        gemm_par(
            Matrix::new(&a, m, k),
            7u8,
            &packed,
            &stage,
            MatrixMut::new(&mut par, m, n),
        )
        .unwrap();
        assert_eq!(one, par, "{m}×{k}×{n}");
        assert!(
            one.iter().any(|&v| v != 3),
            "degenerate test data at {m}×{k}×{n}"
        );
    }
}

#[test]
fn gemm_par_rejects_bad_shapes() {
    let w = [1i8; 6];
    let packed = PackedWeights::pack(
        Matrix::new(&w, 2, 3),
        WeightLayout::KxN,
        PerChannel::Tensor(0),
    )
    .unwrap();
    let a = [1u8; 4];
    let mut out = [0i32; 5];
    let r = gemm_par(
        Matrix::new(&a, 2, 2),
        0u8,
        &packed,
        &OutputStage::i32(),
        MatrixMut::new(&mut out, 2, 3),
    );
    assert!(matches!(r, Err(Error::BufferTooSmall { .. })), "{r:?}");
}
