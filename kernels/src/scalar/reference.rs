//! GEMM written as its definition (SPEC.md §4), on unpacked operands:
//!
//! `C[i][j] = Σ_k (A[i][k] − za)·(B[k][j] − zb[j])`, accumulated in wrapping i32.
//!
//! No decomposition, no packing, no canonicalisation: this is what the packed kernels
//! are compared against.

/// An 8-bit quantized storage type (u8 or i8) as i32.
pub trait Int8: Copy {
    /// The value as i32.
    fn to_i32(self) -> i32;
}
impl Int8 for u8 {
    fn to_i32(self) -> i32 {
        self as i32
    }
}
impl Int8 for i8 {
    fn to_i32(self) -> i32 {
        self as i32
    }
}

/// Shape and strides of a reference GEMM. B's element `(k, n)` is at
/// `b[k·b_k_stride + n·b_n_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct RefShape {
    /// Rows of A and C.
    pub m: usize,
    /// Columns of B and C.
    pub n: usize,
    /// Depth.
    pub k: usize,
    /// Elements between rows of A.
    pub a_stride: usize,
    /// Elements between `B[k][n]` and `B[k+1][n]`.
    pub b_k_stride: usize,
    /// Elements between `B[k][n]` and `B[k][n+1]`.
    pub b_n_stride: usize,
}

/// The i32 accumulators `C[i][j]` (row-major, `m·n` values, `c[i·n + j]`).
/// `zb` holds one zero point per column.
///
/// # Panics
/// If a slice is too short for the shape (this is a test oracle, not the safe API).
pub fn gemm_i32<A: Int8, B: Int8>(
    s: RefShape,
    a: &[A],
    za: i32,
    b: &[B],
    zb: &[i32],
    c: &mut [i32],
) {
    for i in 0..s.m {
        for j in 0..s.n {
            let mut acc = 0i32;
            for kk in 0..s.k {
                let x = a[i * s.a_stride + kk].to_i32() - za;
                let y = b[kk * s.b_k_stride + j * s.b_n_stride].to_i32() - zb[j];
                acc = acc.wrapping_add(x * y);
            }
            c[i * s.n + j] = acc;
        }
    }
}
