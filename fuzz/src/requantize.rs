//! Target `requantize`: the stand-alone output stage over an i32 matrix (columns are the
//! channels), on every engine.
//!
//! Decoded: rows (0..13), columns (0..71), row-stride padding of input and output, a
//! buffer one element short, how the i32 input is filled (random, extremes `i32::MIN`,
//! `i32::MAX`, ±1, every magnitude, small), the output type and the stage
//! ([`crate::stage`]).
//!
//! Checked, per engine: `requantize` succeeds exactly when the spec is valid; on `Err`
//! nothing is written; on success every element equals `OutputStage::store` bit for bit
//! and the padding is untouched.

use zeropoint::{Matrix, MatrixMut};

use crate::stage::StageSpec;
use crate::{assert_same_bits, buffer_len, engines, layout_ok, Fill, Out, OutKind, Reader, Writer};

/// A decoded requantize case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RequantizeSpec {
    /// Rows (mod 13).
    pub rows: u8,
    /// Columns (mod 71).
    pub cols: u8,
    /// Extra row stride of the input (mod 4).
    pub src_pad: u8,
    /// Extra row stride of the output (mod 4).
    pub out_pad: u8,
    /// 14 (mod 16): the input one element short; 15: the output.
    pub short: u8,
    /// The i32 input.
    pub src_fill: Fill,
    /// Output type ([`OutKind::from_u8`]).
    pub out: u8,
    /// The stage.
    pub stage: StageSpec,
}

impl RequantizeSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        RequantizeSpec {
            rows: r.u8(),
            cols: r.u8(),
            src_pad: r.u8(),
            out_pad: r.u8(),
            short: r.u8(),
            src_fill: Fill::decode(r),
            out: r.u8(),
            stage: StageSpec::decode(r),
        }
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.rows);
        w.u8(self.cols);
        w.u8(self.src_pad);
        w.u8(self.out_pad);
        w.u8(self.short);
        self.src_fill.encode(w);
        w.u8(self.out);
        self.stage.encode(w);
    }
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&RequantizeSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether it was valid.
pub fn check(s: &RequantizeSpec) -> bool {
    match OutKind::from_u8(s.out) {
        OutKind::I32 => check_typed::<i32>(s),
        OutKind::U8 => check_typed::<u8>(s),
        OutKind::I8 => check_typed::<i8>(s),
        OutKind::F32 => check_typed::<f32>(s),
    }
}

fn check_typed<O: Out>(s: &RequantizeSpec) -> bool {
    let (rows, cols) = (s.rows as usize % 13, s.cols as usize % 71);
    let short = |which: u8| usize::from(s.short % 16 == which);
    let src_stride = cols + (s.src_pad % 4) as usize;
    let src_len = buffer_len(rows, cols, src_stride, short(14));
    let src = s.src_fill.i32s(src_len);
    let out_stride = cols + (s.out_pad % 4) as usize;
    let out_len = buffer_len(rows, cols, out_stride, short(15));
    let stage = s.stage.values(cols, OutKind::from_u8(s.out));
    let valid = layout_ok(src_len, rows, cols, src_stride)
        && layout_ok(out_len, rows, cols, out_stride)
        && stage.valid::<O>(cols);
    let mut expected = vec![O::SENTINEL; out_len];
    if valid {
        let raw = stage.raw::<O>();
        for i in 0..rows {
            for j in 0..cols {
                expected[i * out_stride + j] =
                    stage.reference::<O>(&raw, src[i * src_stride + j], j);
            }
        }
    }
    let safe = stage.safe();
    for e in engines() {
        let what = || format!("requantize on {}, {rows}×{cols}, spec {s:?}", e.label);
        let mut got = vec![O::SENTINEL; out_len];
        let r = e.engine.requantize(
            Matrix::with_stride(&src[..], rows, cols, src_stride),
            &safe,
            MatrixMut::with_stride(&mut got, rows, cols, out_stride),
        );
        assert_eq!(r.is_ok(), valid, "{}: requantize gave {r:?}", what());
        assert_same_bits(&what, &got, &expected);
    }
    valid
}
