//! Target `quantize`: quantize (f32 → u8/i8) and dequantize (u8/i8 → f32) of a tensor of
//! rank 0–3, per tensor, per axis or per block, on every engine.
//!
//! Decoded: the operation and type, the shape (each dimension 0..10), the granularity,
//! axis (possibly past the rank), block size (possibly 0), the scales (arbitrary bit
//! patterns — NaN, ±inf, 0, negative, subnormal — or generated valid ones, possibly of
//! the wrong count), zero points (none, or filled, possibly of the wrong count), buffer
//! lengths that do not match the shape, and the input values (arbitrary bits, exact
//! ties `(i + 0.5)·scale`, specials, every magnitude; or codes with extremes).
//!
//! Checked, per engine: success exactly when the arguments are valid; on `Err` nothing
//! is written; on success every element equals `scalar::requant::quantize_f32` /
//! `dequantize` with the parameter the element's index selects (computed here from
//! SPEC.md §1.3), bit for bit.

use zeropoint::kernels::scalar::requant::{dequantize, quantize_f32};
use zeropoint::{Granularity, QuantParams};

use crate::{assert_same_bits, engines, gen_scale, Code, F32Params, Fill, Out, Reader, Writer};

/// A decoded quantize / dequantize case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct QuantizeSpec {
    /// Dequantize (else quantize).
    pub dequantize: bool,
    /// i8 codes (else u8).
    pub signed: bool,
    /// Rank (mod 4).
    pub rank: u8,
    /// Dimensions (each mod 10); the first `rank` are used.
    pub dims: [u8; 3],
    /// 0 per tensor, 1 per axis, 2 per block (mod 3).
    pub gran: u8,
    /// The axis (mod 4: may be past the rank).
    pub axis: u8,
    /// The block size (mod 6: 0 is invalid).
    pub block: u8,
    /// 15 (mod 16): one scale too many; 14: one too few.
    pub count_delta: u8,
    /// The scales.
    pub scales: F32Params,
    /// 0 no zero points, 1 the right count, 2 one too many (mod 3).
    pub zp_mode: u8,
    /// The zero points.
    pub zp_fill: Fill,
    /// 15 (mod 16): the input one element longer than the shape; 14: the output one
    /// shorter.
    pub len_delta: u8,
    /// The input values.
    pub x_fill: Fill,
}

impl QuantizeSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        QuantizeSpec {
            dequantize: r.bool(),
            signed: r.bool(),
            rank: r.u8(),
            dims: [r.u8(), r.u8(), r.u8()],
            gran: r.u8(),
            axis: r.u8(),
            block: r.u8(),
            count_delta: r.u8(),
            scales: F32Params::decode(r),
            zp_mode: r.u8(),
            zp_fill: Fill::decode(r),
            len_delta: r.u8(),
            x_fill: Fill::decode(r),
        }
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.bool(self.dequantize);
        w.bool(self.signed);
        w.u8(self.rank);
        for d in self.dims {
            w.u8(d);
        }
        w.u8(self.gran);
        w.u8(self.axis);
        w.u8(self.block);
        w.u8(self.count_delta);
        self.scales.encode(w);
        w.u8(self.zp_mode);
        self.zp_fill.encode(w);
        w.u8(self.len_delta);
        self.x_fill.encode(w);
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.dims[..(self.rank % 4) as usize]
            .iter()
            .map(|&d| d as usize % 10)
            .collect()
    }
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&QuantizeSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether it was valid.
pub fn check(s: &QuantizeSpec) -> bool {
    if s.signed {
        check_typed::<i8>(s)
    } else {
        check_typed::<u8>(s)
    }
}

/// How the parameters map to elements, as decided here (SPEC.md §1.3).
enum Plan {
    Tensor,
    Axis {
        dim: usize,
        inner: usize,
    },
    Block {
        dim: usize,
        inner: usize,
        block: usize,
        blocks: usize,
    },
}

impl Plan {
    /// The parameter index of element `e` (row-major).
    fn param(&self, e: usize) -> usize {
        match *self {
            Plan::Tensor => 0,
            Plan::Axis { dim, inner } => (e / inner) % dim,
            Plan::Block {
                dim,
                inner,
                block,
                blocks,
            } => {
                let (o, d, i) = (e / (dim * inner), (e / inner) % dim, e % inner);
                (o * blocks + d / block) * inner + i
            }
        }
    }
}

fn check_typed<T: Code>(s: &QuantizeSpec) -> bool {
    let shape = s.shape();
    let numel: usize = shape.iter().product();
    let axis = (s.axis % 4) as usize;
    let block = (s.block % 6) as usize;
    let gran = s.gran % 3;
    // The plan and the parameter count the shape needs, or None when the axis or block
    // size is invalid.
    let plan = match gran {
        0 => Some((Plan::Tensor, 1)),
        _ if axis >= shape.len() => None,
        1 => {
            let inner = shape[axis + 1..].iter().product();
            Some((
                Plan::Axis {
                    dim: shape[axis],
                    inner,
                },
                shape[axis],
            ))
        }
        _ if block == 0 => None,
        _ => {
            let outer: usize = shape[..axis].iter().product();
            let inner: usize = shape[axis + 1..].iter().product();
            let blocks = shape[axis].div_ceil(block);
            Some((
                Plan::Block {
                    dim: shape[axis],
                    inner,
                    block,
                    blocks,
                },
                outer * blocks * inner,
            ))
        }
    };
    let need = plan.as_ref().map_or(1, |p| p.1);
    let count = if gran == 0 {
        1
    } else {
        match s.count_delta % 16 {
            15 => need + 1,
            14 => need.saturating_sub(1),
            _ => need,
        }
    };
    let scales = s.scales.values(count, gen_scale);
    let zps: Option<Vec<T>> = match s.zp_mode % 3 {
        0 => None,
        1 => Some(s.zp_fill.codes(count)),
        _ => Some(s.zp_fill.codes(count + 1)),
    };
    let in_len = numel + usize::from(s.len_delta % 16 == 15);
    let out_len = numel.saturating_sub(usize::from(s.len_delta % 16 == 14));

    // Per-tensor parameters go through their constructor first.
    let tensor_params = if gran == 0 {
        let z = zps.as_ref().map_or(T::from_i32(0), |z| z[0]);
        let p = QuantParams::new(scales[0], z);
        let scale_ok = scales[0].is_finite() && scales[0] > 0.0;
        assert_eq!(
            p.is_ok(),
            scale_ok,
            "QuantParams::new({:e}): {p:?}",
            scales[0]
        );
        match p {
            Ok(p) => Some(p),
            Err(_) => return false,
        }
    } else {
        None
    };
    let g = match (gran, &zps) {
        (0, _) => Granularity::PerTensor(tensor_params.expect("built above")),
        (1, z) => Granularity::PerAxis {
            axis,
            scales: &scales,
            zero_points: z.as_deref(),
        },
        (_, z) => Granularity::PerBlock {
            axis,
            block_size: block,
            scales: &scales,
            zero_points: z.as_deref(),
        },
    };
    let valid = in_len == numel
        && out_len == numel
        && plan.is_some()
        && scales.iter().all(|v| v.is_finite() && *v > 0.0)
        // Per tensor, the one zero point is inside the parameters: counts do not apply.
        && (gran == 0 || (count == need && zps.as_ref().is_none_or(|z| z.len() == need)));
    let zp_of = |p: usize| zps.as_ref().map_or(0, |z| z[p].val());
    // The scale the input values are generated around (ties are relative to it).
    let ref_scale = scales
        .first()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(1.0);
    if s.dequantize {
        let q: Vec<T> = s.x_fill.codes(in_len);
        let mut expected = vec![f32::SENTINEL; out_len];
        if valid {
            let plan = &plan.as_ref().expect("valid").0;
            for (e, x) in expected.iter_mut().enumerate() {
                let p = plan.param(e);
                *x = dequantize(q[e].val(), zp_of(p), scales[p]);
            }
        }
        for e in engines() {
            let what = || format!("dequantize on {}, shape {shape:?}, spec {s:?}", e.label);
            let mut got = vec![f32::SENTINEL; out_len];
            let r = e.engine.dequantize(&q, &shape, &g, &mut got);
            assert_eq!(r.is_ok(), valid, "{}: gave {r:?}", what());
            assert_same_bits(&what, &got, &expected);
        }
    } else {
        let x = s.x_fill.f32s(in_len, ref_scale);
        let mut expected = vec![T::SENTINEL; out_len];
        if valid {
            let plan = &plan.as_ref().expect("valid").0;
            for (e, q) in expected.iter_mut().enumerate() {
                let p = plan.param(e);
                *q = T::from_i32(quantize_f32(x[e], scales[p], zp_of(p), T::MIN, T::MAX));
            }
        }
        for e in engines() {
            let what = || format!("quantize on {}, shape {shape:?}, spec {s:?}", e.label);
            let mut got = vec![T::SENTINEL; out_len];
            let r = e.engine.quantize(&x, &shape, &g, &mut got);
            assert_eq!(r.is_ok(), valid, "{}: gave {r:?}", what());
            assert_same_bits(&what, &got, &expected);
        }
    }
    valid
}
