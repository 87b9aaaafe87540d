//! Target `conv`: `Conv2d` (grouped, depthwise, strided, dilated, padded) with every
//! output stage, on every engine.
//!
//! Decoded: the input's and the weights' types (u8/i8), batch (0..3), height and width
//! (0..13), groups (1..4) with input and output channels per group (1..41), or a
//! depthwise layer (one input channel per group, 2..17 groups, channel multiplier 1..4),
//! kernel (0..6 each way), stride and dilation (0..4 each way; 0 is invalid), padding
//! (0..4 on each side), the input's zero point, the weights' zero points (per tensor or
//! per output channel, possibly of the wrong count), how input and weights are filled, a
//! buffer one element short (input, weights or output), the output type and stage
//! ([`crate::stage`]), and where to split the output pixels.
//!
//! Checked, per engine: `Conv2d::from_quantized` succeeds exactly when the geometry, the
//! weights' length and the zero points' count are valid, and `forward_with_stage`
//! exactly when the input's length, the geometry on this input, the stage and the
//! output's length are; on `Err` nothing is written; on success every element equals an
//! independent direct convolution (i32, padded pixels at the input's zero point) put
//! through the reference stage (`OutputStage::store`) bit for bit; the same output comes
//! from `forward_range_with_stage` over two ranges of pixels, one with a fresh scratch
//! and one reusing it.
//!
//! The paths this reaches: a 1×1 unpadded stride-1 layer as one GEMM, the implicit GEMM
//! through indirection lists (input channels per group a multiple of the kernel's K
//! group) with the AMX batches of packed tiles, im2col blocks otherwise, and the
//! depthwise kernels.

use zeropoint::layers::ConvScratch;
use zeropoint::{Conv2d, Conv2dGeometry, Nhwc, PerChannel};

use crate::stage::StageSpec;
use crate::{assert_same_bits, engines, Code, Fill, Out, OutKind, Reader, Writer};

/// A decoded convolution case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ConvSpec {
    /// The input is i8 (else u8).
    pub x_signed: bool,
    /// The weights are i8 (else u8).
    pub w_signed: bool,
    /// Batch (mod 3).
    pub n: u8,
    /// Input height (mod 13).
    pub h: u8,
    /// Input width (mod 13).
    pub w: u8,
    /// A depthwise layer: one input channel per group.
    pub depthwise: bool,
    /// Groups: 1 + (mod 3), or 2 + (mod 16) when depthwise.
    pub groups: u8,
    /// Input channels per group: 1 + (mod 40) (1 when depthwise).
    pub cin_g: u8,
    /// Output channels per group: 1 + (mod 40), or the multiplier 1 + (mod 3) when
    /// depthwise.
    pub cout_g: u8,
    /// Kernel height and width (each mod 6).
    pub kernel: [u8; 2],
    /// Stride (each mod 4).
    pub stride: [u8; 2],
    /// Dilation (each mod 4).
    pub dilation: [u8; 2],
    /// Padding top, left, bottom, right (each mod 4).
    pub padding: [u8; 4],
    /// 13 (mod 16): the input one element short; 14: the weights; 15: the output.
    pub short: u8,
    /// The input's zero point, as a byte of its type.
    pub zx: u8,
    /// The weights' zero points per output channel (else one).
    pub zw_per_channel: bool,
    /// 15 (mod 16): one zero point too many; 14: one too few.
    pub zw_len_delta: u8,
    /// The weights' zero points.
    pub zw_fill: Fill,
    /// The input's elements.
    pub x_fill: Fill,
    /// The weights' elements.
    pub w_fill: Fill,
    /// Output type ([`OutKind::from_u8`]).
    pub out: u8,
    /// The output stage.
    pub stage: StageSpec,
    /// First pixel of the second range (mod pixels + 1).
    pub split: u16,
}

impl ConvSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        ConvSpec {
            x_signed: r.bool(),
            w_signed: r.bool(),
            n: r.u8(),
            h: r.u8(),
            w: r.u8(),
            depthwise: r.bool(),
            groups: r.u8(),
            cin_g: r.u8(),
            cout_g: r.u8(),
            kernel: [r.u8(), r.u8()],
            stride: [r.u8(), r.u8()],
            dilation: [r.u8(), r.u8()],
            padding: [r.u8(), r.u8(), r.u8(), r.u8()],
            short: r.u8(),
            zx: r.u8(),
            zw_per_channel: r.bool(),
            zw_len_delta: r.u8(),
            zw_fill: Fill::decode(r),
            x_fill: Fill::decode(r),
            w_fill: Fill::decode(r),
            out: r.u8(),
            stage: StageSpec::decode(r),
            split: r.u16(),
        }
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.bool(self.x_signed);
        w.bool(self.w_signed);
        w.u8(self.n);
        w.u8(self.h);
        w.u8(self.w);
        w.bool(self.depthwise);
        w.u8(self.groups);
        w.u8(self.cin_g);
        w.u8(self.cout_g);
        for v in self
            .kernel
            .iter()
            .chain(&self.stride)
            .chain(&self.dilation)
            .chain(&self.padding)
        {
            w.u8(*v);
        }
        w.u8(self.short);
        w.u8(self.zx);
        w.bool(self.zw_per_channel);
        w.u8(self.zw_len_delta);
        self.zw_fill.encode(w);
        self.x_fill.encode(w);
        self.w_fill.encode(w);
        w.u8(self.out);
        self.stage.encode(w);
        w.u16(self.split);
    }

    /// The input's shape, the geometry, and the output channels.
    pub fn layer(&self) -> (Nhwc, Conv2dGeometry, usize) {
        let (groups, cin_g, cout_g) = if self.depthwise {
            (
                2 + self.groups as usize % 16,
                1,
                1 + self.cout_g as usize % 3,
            )
        } else {
            (
                1 + self.groups as usize % 3,
                1 + self.cin_g as usize % 40,
                1 + self.cout_g as usize % 40,
            )
        };
        let shape = Nhwc::new(
            self.n as usize % 3,
            self.h as usize % 13,
            self.w as usize % 13,
            groups * cin_g,
        );
        let m = |v: u8, r: u8| (v % r) as usize;
        let geom = Conv2dGeometry::new(m(self.kernel[0], 6), m(self.kernel[1], 6))
            .with_stride(m(self.stride[0], 4), m(self.stride[1], 4))
            .with_dilation(m(self.dilation[0], 4), m(self.dilation[1], 4))
            .with_padding(self.padding.map(|p| m(p, 4)))
            .with_groups(groups);
        (shape, geom, groups * cout_g)
    }
}

/// The output height and width, or `None` where the geometry is invalid for this input
/// (decided here, independently of the library).
fn output_hw(s: Nhwc, g: &Conv2dGeometry) -> Option<(usize, usize)> {
    let (kh, kw) = g.kernel;
    let (sh, sw) = g.stride;
    let (dh, dw) = g.dilation;
    let [pt, pl, pb, pr] = g.padding;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 || dh == 0 || dw == 0 {
        return None;
    }
    let (eh, ew) = (dh * (kh - 1) + 1, dw * (kw - 1) + 1);
    let (ph, pw) = (s.h + pt + pb, s.w + pl + pr);
    (ph >= eh && pw >= ew).then(|| ((ph - eh) / sh + 1, (pw - ew) / sw + 1))
}

/// The direct convolution in i32 (wrapping, as the crate's accumulators): OHWI weights,
/// `Σ (x − zx)·(w − zw[o])` over the taps inside the input (padded pixels hold `zx`
/// and add nothing).
#[allow(clippy::too_many_arguments)]
fn reference<X: Code, B: Code>(
    x: &[X],
    s: Nhwc,
    zx: i32,
    w: &[B],
    zw: &[i32],
    oc: usize,
    g: &Conv2dGeometry,
    (oh, ow): (usize, usize),
) -> Vec<i32> {
    let (kh, kw) = g.kernel;
    let cin_g = s.c / g.groups;
    let ng = oc / g.groups;
    let mut y = vec![0i32; s.n * oh * ow * oc];
    for n in 0..s.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let gi = o / ng;
                    let mut acc = 0i32;
                    for ky in 0..kh {
                        let iy =
                            (oy * g.stride.0 + ky * g.dilation.0) as isize - g.padding[0] as isize;
                        if iy < 0 || iy >= s.h as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * g.stride.1 + kx * g.dilation.1) as isize
                                - g.padding[1] as isize;
                            if ix < 0 || ix >= s.w as isize {
                                continue;
                            }
                            let xrow = ((n * s.h + iy as usize) * s.w + ix as usize) * s.c;
                            let wrow = ((o * kh + ky) * kw + kx) * cin_g;
                            for ci in 0..cin_g {
                                let xv = x[xrow + gi * cin_g + ci].val() - zx;
                                let wv = w[wrow + ci].val() - zw[o];
                                acc = acc.wrapping_add(xv.wrapping_mul(wv));
                            }
                        }
                    }
                    y[((n * oh + oy) * ow + ox) * oc + o] = acc;
                }
            }
        }
    }
    y
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&ConvSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether the spec was valid (the layer had to be
/// built and run).
pub fn check(s: &ConvSpec) -> bool {
    match (s.x_signed, s.w_signed) {
        (false, false) => with_out::<u8, u8>(s),
        (false, true) => with_out::<u8, i8>(s),
        (true, false) => with_out::<i8, u8>(s),
        (true, true) => with_out::<i8, i8>(s),
    }
}

fn with_out<X: Code, B: Code>(s: &ConvSpec) -> bool {
    match OutKind::from_u8(s.out) {
        OutKind::I32 => check_typed::<X, B, i32>(s),
        OutKind::U8 => check_typed::<X, B, u8>(s),
        OutKind::I8 => check_typed::<X, B, i8>(s),
        OutKind::F32 => check_typed::<X, B, f32>(s),
    }
}

fn check_typed<X: Code, B: Code, O: Out>(s: &ConvSpec) -> bool {
    let (shape, geom, oc) = s.layer();
    let short = |which: u8| usize::from(s.short % 16 == which);
    let (kh, kw) = geom.kernel;
    let cin_g = shape.c / geom.groups;
    let k = kh * kw * cin_g;
    let x_len = (shape.n * shape.h * shape.w * shape.c).saturating_sub(short(13));
    let x: Vec<X> = s.x_fill.codes(x_len);
    let zx = X::from_byte(s.zx);
    let w_len = (oc * k).saturating_sub(short(14));
    let w: Vec<B> = s.w_fill.codes(w_len);
    let zw_count = match s.zw_len_delta % 16 {
        15 => oc + 1,
        14 => oc - 1,
        _ => oc,
    };
    let zw_vals: Vec<B> = s.zw_fill.codes(zw_count.max(1));
    let zw = if s.zw_per_channel {
        PerChannel::Channel(&zw_vals[..zw_count])
    } else {
        PerChannel::Tensor(zw_vals[0])
    };
    let geometry_ok = kh > 0
        && kw > 0
        && geom.stride.0 > 0
        && geom.stride.1 > 0
        && geom.dilation.0 > 0
        && geom.dilation.1 > 0;
    let build_valid = geometry_ok && w_len == oc * k && (!s.zw_per_channel || zw_count == oc);
    let hw = output_hw(shape, &geom);
    let out_kind = OutKind::from_u8(s.out);
    let stage = s.stage.values(oc, out_kind);
    let pixels = hw.map_or(0, |(oh, ow)| shape.n * oh * ow);
    let out_len = (pixels * oc).saturating_sub(short(15));
    let run_valid = hw.is_some()
        && x.len() == shape.n * shape.h * shape.w * shape.c
        && stage.valid::<O>(oc)
        && out_len == pixels * oc;

    let mut expected = vec![O::SENTINEL; out_len];
    if build_valid && run_valid {
        let zw_cols: Vec<i32> = (0..oc)
            .map(|o| match zw {
                PerChannel::Tensor(z) => z.val(),
                PerChannel::Channel(z) => z[o].val(),
            })
            .collect();
        let hw = hw.expect("run_valid");
        let acc = reference(&x, shape, zx.val(), &w, &zw_cols, oc, &geom, hw);
        let raw = stage.raw::<O>();
        for (e, (i, &a)) in expected.iter_mut().zip(acc.iter().enumerate()) {
            *e = stage.reference::<O>(&raw, a, i % oc);
        }
    }

    let safe = stage.safe();
    let mut scratch = ConvScratch::new();
    for e in engines() {
        let what = || {
            format!(
                "conv on {}, {shape:?} → {oc} channels, {geom:?}, spec {s:?}",
                e.label
            )
        };
        let conv = Conv2d::from_quantized(
            &e.engine,
            shape.c,
            oc,
            geom,
            &w,
            zw,
            PerChannel::Tensor(1.0),
            None,
        );
        assert_eq!(
            conv.is_ok(),
            build_valid,
            "{}: from_quantized gave {:?}",
            what(),
            conv.as_ref().err()
        );
        let Ok(conv) = conv else { continue };
        let mut got = vec![O::SENTINEL; out_len];
        let r = conv.forward_with_stage(&x, shape, zx, &safe, &mut got);
        assert_eq!(r.is_ok(), run_valid, "{}: forward gave {r:?}", what());
        // On Err nothing is written: `expected` is all sentinels then.
        assert_same_bits(&what, &got, &expected);
        if !run_valid {
            continue;
        }
        // Two ranges of pixels: the first with a fresh scratch, the second reusing the
        // scratch of the previous engine's ranges (the lists are keyed, not trusted).
        let cut = s.split as usize % (pixels + 1);
        for (range, fresh) in [(0..cut, true), (cut..pixels, false)] {
            let mut part = vec![O::SENTINEL; range.len() * oc];
            let mut own = ConvScratch::new();
            let sc = if fresh { &mut own } else { &mut scratch };
            let r =
                conv.forward_range_with_stage(&x, shape, zx, &safe, range.clone(), &mut part, sc);
            let what_part = || format!("{} (forward_range {range:?})", what());
            assert!(r.is_ok(), "{}: {r:?}", what_part());
            assert_same_bits(
                &what_part,
                &part,
                &expected[range.start * oc..range.end * oc],
            );
        }
    }
    build_valid && run_valid
}
