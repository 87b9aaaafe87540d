//! Target `gemm`: packing plus GEMM with every output stage, on every engine.
//!
//! Decoded: A u8/i8, B i8/u8, weight layout K×N or N×K, M (0..28), N (0..71), K (0..1100,
//! or 33 000..41 192 with M < 3, N < 40 so that extreme operands wrap i32), row-stride
//! padding of A, B and the output, a buffer one element short, the zero points (A's;
//! B's per tensor or per column, possibly of the wrong count), how A and B are filled,
//! the output type and stage ([`crate::stage`]), and a row/column split.
//!
//! Checked, per engine: `pack_weights` and `gemm` succeed exactly when the spec is valid;
//! on `Err` nothing is written; on success every element equals the reference
//! (`gemm_i32` then `OutputStage::store`) bit for bit and the stride padding is
//! untouched; the four blocks of the split through `gemm_range` give the same bits; the
//! free `zeropoint::gemm` agrees; weights packed by one engine are refused by an engine
//! with another GEMM kernel.

use zeropoint::kernels::scalar::reference::{gemm_i32, RefShape};
use zeropoint::{Matrix, MatrixMut, PerChannel, WeightLayout};

use crate::stage::StageSpec;
use crate::{
    assert_same_bits, buffer_len, engines, layout_ok, Code, Fill, Out, OutKind, Reader, Writer,
};

/// A decoded GEMM case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GemmSpec {
    /// A is i8 (else u8).
    pub a_signed: bool,
    /// B is i8 (else u8).
    pub b_signed: bool,
    /// B given N×K (else K×N).
    pub nxk: bool,
    /// M before reduction.
    pub m: u8,
    /// N before reduction.
    pub n: u8,
    /// K before reduction.
    pub k: u16,
    /// K in 33 000.. (M < 3, N < 40).
    pub big_k: bool,
    /// Extra row stride of A (mod 4).
    pub a_pad: u8,
    /// Extra row stride of B (mod 4).
    pub b_pad: u8,
    /// Extra row stride of the output (mod 4).
    pub out_pad: u8,
    /// 13 (mod 16): A one element short; 14: B; 15: the output.
    pub short: u8,
    /// A's zero point, as a byte of A's type.
    pub za: u8,
    /// B's zero points per column (else one).
    pub zb_per_channel: bool,
    /// 15 (mod 16): one zero point too many; 14: one too few.
    pub zb_len_delta: u8,
    /// B's zero points.
    pub zb_fill: Fill,
    /// A's elements.
    pub a_fill: Fill,
    /// B's elements.
    pub b_fill: Fill,
    /// Output type ([`OutKind::from_u8`]).
    pub out: u8,
    /// The output stage.
    pub stage: StageSpec,
    /// Rows of the first block of the split (mod M + 1).
    pub row_split: u8,
    /// Columns of the first block of the split (mod N + 1).
    pub col_split: u8,
}

impl GemmSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        GemmSpec {
            a_signed: r.bool(),
            b_signed: r.bool(),
            nxk: r.bool(),
            m: r.u8(),
            n: r.u8(),
            k: r.u16(),
            big_k: r.bool(),
            a_pad: r.u8(),
            b_pad: r.u8(),
            out_pad: r.u8(),
            short: r.u8(),
            za: r.u8(),
            zb_per_channel: r.bool(),
            zb_len_delta: r.u8(),
            zb_fill: Fill::decode(r),
            a_fill: Fill::decode(r),
            b_fill: Fill::decode(r),
            out: r.u8(),
            stage: StageSpec::decode(r),
            row_split: r.u8(),
            col_split: r.u8(),
        }
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.bool(self.a_signed);
        w.bool(self.b_signed);
        w.bool(self.nxk);
        w.u8(self.m);
        w.u8(self.n);
        w.u16(self.k);
        w.bool(self.big_k);
        w.u8(self.a_pad);
        w.u8(self.b_pad);
        w.u8(self.out_pad);
        w.u8(self.short);
        w.u8(self.za);
        w.bool(self.zb_per_channel);
        w.u8(self.zb_len_delta);
        self.zb_fill.encode(w);
        self.a_fill.encode(w);
        self.b_fill.encode(w);
        w.u8(self.out);
        self.stage.encode(w);
        w.u8(self.row_split);
        w.u8(self.col_split);
    }

    /// `(M, N, K)`.
    pub fn dims(&self) -> (usize, usize, usize) {
        if self.big_k {
            (
                self.m as usize % 3,
                self.n as usize % 40,
                33_000 + self.k as usize % 8192,
            )
        } else {
            (
                self.m as usize % 28,
                self.n as usize % 71,
                self.k as usize % 1100,
            )
        }
    }
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&GemmSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether the spec was valid (the API had to
/// succeed).
pub fn check(s: &GemmSpec) -> bool {
    match (s.a_signed, s.b_signed) {
        (false, false) => with_out::<u8, u8>(s),
        (false, true) => with_out::<u8, i8>(s),
        (true, false) => with_out::<i8, u8>(s),
        (true, true) => with_out::<i8, i8>(s),
    }
}

fn with_out<A: Code, B: Code>(s: &GemmSpec) -> bool {
    match OutKind::from_u8(s.out) {
        OutKind::I32 => check_typed::<A, B, i32>(s),
        OutKind::U8 => check_typed::<A, B, u8>(s),
        OutKind::I8 => check_typed::<A, B, i8>(s),
        OutKind::F32 => check_typed::<A, B, f32>(s),
    }
}

fn check_typed<A: Code, B: Code, O: Out>(s: &GemmSpec) -> bool {
    let (m, n, k) = s.dims();
    let short = |which: u8| usize::from(s.short % 16 == which);
    // A: M×K.
    let a_stride = k + (s.a_pad % 4) as usize;
    let a_len = buffer_len(m, k, a_stride, short(13));
    let a: Vec<A> = s.a_fill.codes(a_len);
    let za = A::from_byte(s.za);
    // B: K×N logically, stored per layout.
    let (layout, b_rows, b_cols) = if s.nxk {
        (WeightLayout::NxK, n, k)
    } else {
        (WeightLayout::KxN, k, n)
    };
    let b_stride = b_cols + (s.b_pad % 4) as usize;
    let b_len = buffer_len(b_rows, b_cols, b_stride, short(14));
    let b: Vec<B> = s.b_fill.codes(b_len);
    let (b_k_stride, b_n_stride) = if s.nxk { (1, b_stride) } else { (b_stride, 1) };
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
    // Output.
    let out_kind = OutKind::from_u8(s.out);
    let stage = s.stage.values(n, out_kind);
    let out_stride = n + (s.out_pad % 4) as usize;
    let out_len = buffer_len(m, n, out_stride, short(15));

    let pack_valid =
        layout_ok(b_len, b_rows, b_cols, b_stride) && (!s.zb_per_channel || zb_count == n);
    let run_valid = layout_ok(a_len, m, k, a_stride)
        && layout_ok(out_len, m, n, out_stride)
        && stage.valid::<O>(n);

    // The reference: the definition on unpacked operands, then the stage per element.
    let mut expected = vec![O::SENTINEL; out_len];
    if pack_valid && run_valid {
        let zb_cols: Vec<i32> = (0..n)
            .map(|j| match zb {
                PerChannel::Tensor(z) => z.val(),
                PerChannel::Channel(z) => z[j].val(),
            })
            .collect();
        let mut c = vec![0i32; m * n];
        let shape = RefShape {
            m,
            n,
            k,
            a_stride,
            b_k_stride,
            b_n_stride,
        };
        gemm_i32(shape, &a, za.val(), &b, &zb_cols, &mut c);
        let raw = stage.raw::<O>();
        for i in 0..m {
            for j in 0..n {
                expected[i * out_stride + j] = stage.reference::<O>(&raw, c[i * n + j], j);
            }
        }
    }

    let safe = stage.safe();
    let a_mat = Matrix::with_stride(&a[..], m, k, a_stride);
    let b_mat = Matrix::with_stride(&b[..], b_rows, b_cols, b_stride);
    let all = engines();
    let mut packs = Vec::new();
    for e in all {
        let what = || format!("gemm on {}, M×N×K = {m}×{n}×{k}, spec {s:?}", e.label);
        let packed = e.engine.pack_weights(b_mat, layout, zb);
        assert_eq!(
            packed.is_ok(),
            pack_valid,
            "{}: pack_weights gave {:?}",
            what(),
            packed.as_ref().err()
        );
        let Ok(packed) = packed else { continue };
        let mut got = vec![O::SENTINEL; out_len];
        let r = e.engine.gemm(
            a_mat,
            za,
            &packed,
            &safe,
            MatrixMut::with_stride(&mut got, m, n, out_stride),
        );
        assert_eq!(r.is_ok(), run_valid, "{}: gemm gave {r:?}", what());
        // On Err nothing is written: `expected` is all sentinels then.
        assert_same_bits(&what, &got, &expected);

        // The free function runs the weights' own kernel: same result.
        let mut free = vec![O::SENTINEL; out_len];
        let r = zeropoint::gemm(
            a_mat,
            za,
            &packed,
            &safe,
            MatrixMut::with_stride(&mut free, m, n, out_stride),
        );
        assert_eq!(r.is_ok(), run_valid, "{}: free gemm gave {r:?}", what());
        assert_same_bits(&|| format!("{} (free gemm)", what()), &free, &expected);

        if run_valid {
            // Four blocks of a split, each through gemm_range into its own buffer.
            let rs = s.row_split as usize % (m + 1);
            let cs = s.col_split as usize % (n + 1);
            for (rows, cols) in [
                (0..rs, 0..cs),
                (0..rs, cs..n),
                (rs..m, 0..cs),
                (rs..m, cs..n),
            ] {
                let (br, bc) = (rows.len(), cols.len());
                let bstride = bc + (s.out_pad % 4) as usize;
                let mut blk = vec![O::SENTINEL; buffer_len(br, bc, bstride, 0)];
                let r = e.engine.gemm_range(
                    a_mat,
                    za,
                    &packed,
                    &safe,
                    rows.clone(),
                    cols.clone(),
                    MatrixMut::with_stride(&mut blk, br, bc, bstride),
                );
                let what_blk = || format!("{} (gemm_range {rows:?} × {cols:?})", what());
                assert!(r.is_ok(), "{}: {r:?}", what_blk());
                let mut want = vec![O::SENTINEL; blk.len()];
                for i in 0..br {
                    for j in 0..bc {
                        want[i * bstride + j] =
                            expected[(rows.start + i) * out_stride + cols.start + j];
                    }
                }
                assert_same_bits(&what_blk, &blk, &want);
            }
        }
        packs.push((e, packed));
    }
    // Weights packed for one kernel are refused by an engine with another.
    for (e, packed) in &packs {
        for f in all {
            if f.engine.gemm_kernel().name == e.engine.gemm_kernel().name {
                continue;
            }
            let mut got = vec![O::SENTINEL; out_len];
            let r = f.engine.gemm(
                a_mat,
                za,
                packed,
                &safe,
                MatrixMut::with_stride(&mut got, m, n, out_stride),
            );
            assert!(
                matches!(r, Err(zeropoint::Error::LayoutMismatch { .. })),
                "weights packed on {} run on {}: {r:?}",
                e.label,
                f.label
            );
            assert!(got.iter().all(|v| v.bits() == O::SENTINEL.bits()));
        }
    }
    pack_valid && run_valid
}
