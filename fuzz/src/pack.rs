//! Target `pack`: weight packing on every engine, checked through what the packed
//! object reports and through the products it gives.
//!
//! Decoded: B's type (u8/i8), layout (K×N or N×K), K (0..200, or 33 000..41 192 with
//! N < 40), N (0..71), stride padding, a buffer one element short, zero points (per
//! tensor or per column, possibly of the wrong count), how B is filled, and A's zero
//! point.
//!
//! Checked, per engine: `pack_weights` succeeds exactly when the arguments are valid;
//! the packed object reports K, N, signedness, its engine's kernel and ISA, the packed
//! size of the kernel's geometry and the zero point of every column; packing the same
//! logical B from the other layout gives identical products; the products `A·B` with
//! i32 output equal `gemm_i32` of the unpacked operands — for K ≤ 48 with A the
//! identity (plus its zero point) so every packed element is read back individually,
//! otherwise with three rows of extreme A values.

use zeropoint::kernels::scalar::reference::{gemm_i32, RefShape};
use zeropoint::{Matrix, MatrixMut, OutputStage, PerChannel, WeightLayout};

use crate::{assert_same_bits, buffer_len, engines, layout_ok, Code, Fill, Reader, Writer};

/// A decoded packing case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PackSpec {
    /// B is i8 (else u8).
    pub signed: bool,
    /// B given N×K (else K×N).
    pub nxk: bool,
    /// K before reduction.
    pub k: u16,
    /// K in 33 000.. (N < 40).
    pub big_k: bool,
    /// N before reduction.
    pub n: u8,
    /// Extra row stride (mod 4).
    pub pad: u8,
    /// 15 (mod 16): B one element short.
    pub short: u8,
    /// Zero points per column (else one).
    pub zb_per_channel: bool,
    /// 15 (mod 16): one zero point too many; 14: one too few.
    pub zb_len_delta: u8,
    /// The zero points.
    pub zb_fill: Fill,
    /// B's elements.
    pub b_fill: Fill,
    /// A's zero point (u8) for the product check.
    pub za: u8,
    /// A's elements when K > 48.
    pub a_fill: Fill,
}

impl PackSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        PackSpec {
            signed: r.bool(),
            nxk: r.bool(),
            k: r.u16(),
            big_k: r.bool(),
            n: r.u8(),
            pad: r.u8(),
            short: r.u8(),
            zb_per_channel: r.bool(),
            zb_len_delta: r.u8(),
            zb_fill: Fill::decode(r),
            b_fill: Fill::decode(r),
            za: r.u8(),
            a_fill: Fill::decode(r),
        }
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.bool(self.signed);
        w.bool(self.nxk);
        w.u16(self.k);
        w.bool(self.big_k);
        w.u8(self.n);
        w.u8(self.pad);
        w.u8(self.short);
        w.bool(self.zb_per_channel);
        w.u8(self.zb_len_delta);
        self.zb_fill.encode(w);
        self.b_fill.encode(w);
        w.u8(self.za);
        self.a_fill.encode(w);
    }

    /// `(K, N)`.
    pub fn dims(&self) -> (usize, usize) {
        if self.big_k {
            (33_000 + self.k as usize % 8192, self.n as usize % 40)
        } else {
            (self.k as usize % 200, self.n as usize % 71)
        }
    }
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&PackSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether it was valid.
pub fn check(s: &PackSpec) -> bool {
    if s.signed {
        check_typed::<i8>(s)
    } else {
        check_typed::<u8>(s)
    }
}

fn check_typed<B: Code>(s: &PackSpec) -> bool {
    let (k, n) = s.dims();
    let pad = (s.pad % 4) as usize;
    // The logical K×N matrix, dense.
    let logical: Vec<B> = s.b_fill.codes(k * n);
    // Stored in the chosen layout with padding, possibly one element short.
    let (layout, rows, cols) = if s.nxk {
        (WeightLayout::NxK, n, k)
    } else {
        (WeightLayout::KxN, k, n)
    };
    let stride = cols + pad;
    let store = |nxk: bool, short: usize| -> Vec<B> {
        let (rows, cols) = if nxk { (n, k) } else { (k, n) };
        let stride = cols + pad;
        let mut v = vec![B::from_byte(0x5a); buffer_len(rows, cols, stride, 0)];
        for kk in 0..k {
            for j in 0..n {
                let at = if nxk {
                    j * stride + kk
                } else {
                    kk * stride + j
                };
                v[at] = logical[kk * n + j];
            }
        }
        v.truncate(v.len().saturating_sub(short));
        v
    };
    let b = store(s.nxk, usize::from(s.short % 16 == 15));
    let zb_count = match s.zb_len_delta % 16 {
        15 => n + 1,
        14 => n.saturating_sub(1),
        _ => n,
    };
    let zb_vals: Vec<B> = s.zb_fill.codes(zb_count.max(1));
    let zb = if s.zb_per_channel {
        PerChannel::Channel(&zb_vals[..zb_count])
    } else {
        PerChannel::Tensor(zb_vals[0])
    };
    let valid = layout_ok(b.len(), rows, cols, stride) && (!s.zb_per_channel || zb_count == n);
    let zb_of = |j: usize| match zb {
        PerChannel::Tensor(z) => z,
        PerChannel::Channel(z) => z[j],
    };

    // A for the product check (u8): identity rows over the zero point when K is small,
    // else three rows of `a_fill`.
    let za = s.za;
    let (a, m): (Vec<u8>, usize) = if k <= 48 {
        let a = (0..k * k)
            .map(|i| {
                if i / k == i % k {
                    za.wrapping_add(1)
                } else {
                    za
                }
            })
            .collect();
        (a, k)
    } else {
        (s.a_fill.codes::<u8>(3 * k), 3)
    };
    let mut expected = vec![0i32; m * n];
    if valid {
        let zb_cols: Vec<i32> = (0..n).map(|j| zb_of(j).val()).collect();
        let shape = RefShape {
            m,
            n,
            k,
            a_stride: k,
            b_k_stride: n,
            b_n_stride: 1,
        };
        gemm_i32(shape, &a, za as i32, &logical, &zb_cols, &mut expected);
    }
    let other = store(!s.nxk, 0);
    let other_layout = if s.nxk {
        WeightLayout::KxN
    } else {
        WeightLayout::NxK
    };
    let (orows, ocols) = if s.nxk { (k, n) } else { (n, k) };

    for e in engines() {
        let what = || format!("pack on {}, K×N = {k}×{n}, spec {s:?}", e.label);
        let packed =
            e.engine
                .pack_weights(Matrix::with_stride(&b[..], rows, cols, stride), layout, zb);
        assert_eq!(
            packed.is_ok(),
            valid,
            "{}: gave {:?}",
            what(),
            packed.as_ref().err()
        );
        let Ok(packed) = packed else { continue };
        let kernel = e.engine.gemm_kernel();
        assert_eq!(packed.k(), k, "{}", what());
        assert_eq!(packed.n(), n, "{}", what());
        assert_eq!(packed.is_signed(), B::SIGNED, "{}", what());
        assert_eq!(packed.kernel_name(), kernel.name, "{}", what());
        assert_eq!(packed.isa(), kernel.isa, "{}", what());
        assert_eq!(packed.packed_bytes(), kernel.packed_len(k, n), "{}", what());
        for j in 0..n + 2 {
            let want = (j < n).then(|| zb_of(j).val());
            assert_eq!(packed.zero_point(j), want, "{}: zero point {j}", what());
        }
        // Products through this packing.
        let mut got = vec![0i32; m * n];
        e.engine
            .gemm(
                Matrix::new(&a[..], m, k),
                za,
                &packed,
                &OutputStage::i32(),
                MatrixMut::new(&mut got, m, n),
            )
            .unwrap_or_else(|err| panic!("{}: gemm: {err}", what()));
        assert_same_bits(&|| format!("{} (A·B)", what()), &got, &expected);
        // The same logical B from the other layout.
        let packed2 = e
            .engine
            .pack_weights(
                Matrix::with_stride(&other[..], orows, ocols, ocols + pad),
                other_layout,
                zb,
            )
            .unwrap_or_else(|err| panic!("{}: other layout: {err}", what()));
        let mut got2 = vec![0i32; m * n];
        e.engine
            .gemm(
                Matrix::new(&a[..], m, k),
                za,
                &packed2,
                &OutputStage::i32(),
                MatrixMut::new(&mut got2, m, n),
            )
            .unwrap_or_else(|err| panic!("{}: gemm (other layout): {err}", what()));
        assert_same_bits(&|| format!("{} (other layout)", what()), &got2, &expected);
    }
    valid
}
