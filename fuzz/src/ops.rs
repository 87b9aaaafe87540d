//! Target `ops`: the quantized element-wise and pooling operators on every engine —
//! `Engine::add` (QLinearAdd with numpy broadcasting and a fused activation),
//! `Engine::max_pool` and `Engine::global_avg_pool`.
//!
//! Decoded: the operator, the code type (u8/i8), for `add` two shapes of rank 0..4 (each
//! axis 0..6, then per axis left alone, set to 1 in one operand, or made equal, so that
//! most pairs broadcast and some do not), three scales of any magnitude from 2^−40 to
//! 2^8 (or simple ones) with zero points, the activation; for the pools an NHWC shape
//! (batch 0..3, height and width 0..9, channels 0..80), the window, stride and padding
//! (0..4 each, 0 invalid), the output's parameters; how the operands are filled, and a
//! buffer one element short (first operand, second operand or output).
//!
//! Checked, per engine: the call succeeds exactly when the shapes, lengths and window
//! are valid (decided here, from SPEC.md §8); on `Err` nothing is written; on success
//! every code equals the reference written here from SPEC.md §8: `add` per output index
//! with f32 operations (NaN to the output zero point, saturated, then the activation's
//! clamp), `max_pool` as the maximum over the window's taps inside the image,
//! `global_avg_pool` as the i32 sum of `x − Z_X` put through the Fp32 stage with scale
//! `f32(S_X / (S_Y·h·w))` (in f64).

use zeropoint::layers::{Pool2d, QTensor};
use zeropoint::{Activation, Nhwc, QuantParams};

use crate::{assert_same_bits, engines, gen_scale, Code, Fill, Reader, Rng, Writer};

/// A decoded operator case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OpsSpec {
    /// 0 add, 1 max_pool, 2 global_avg_pool (mod 3).
    pub op: u8,
    /// i8 codes (else u8).
    pub signed: bool,
    /// Ranks of the add operands (each mod 5).
    pub rank: [u8; 2],
    /// Axis sizes of the add operands, innermost last (each mod 6).
    pub dims: [[u8; 4]; 2],
    /// Per axis (aligned at the last): 0 as decoded, 1 first operand's size 1, 2 the
    /// second's, 3 the second's equal to the first's (mod 4).
    pub bcast: [u8; 4],
    /// Pool input: batch (mod 3), height and width (mod 9), channels (mod 80).
    pub nhwc: [u8; 4],
    /// Pool window, stride (each mod 4) and padding (each mod 4).
    pub window: [u8; 2],
    /// Pool stride.
    pub stride: [u8; 2],
    /// Pool padding top, left, bottom, right.
    pub padding: [u8; 4],
    /// Scale modes of the first operand, the second and the output: odd a simple scale
    /// (1/16, 1/10, 3/8 or 2 by the seed), even any magnitude.
    pub scale_mode: [u8; 3],
    /// Seeds of the scales.
    pub scale_seed: [u64; 3],
    /// Zero points, as bytes of the code type.
    pub zp: [u8; 3],
    /// Activation of add: 0 none, 1 ReLU, 2 ReLU6 (mod 3).
    pub activation: u8,
    /// 13 (mod 16): the first operand one code short; 14: the second; 15: the output.
    pub short: u8,
    /// The first operand's codes.
    pub a_fill: Fill,
    /// The second operand's codes.
    pub b_fill: Fill,
}

impl OpsSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        let mut s = OpsSpec {
            op: r.u8(),
            signed: r.bool(),
            ..OpsSpec::default()
        };
        let mut bytes = |v: &mut [u8]| v.iter_mut().for_each(|b| *b = r.u8());
        bytes(&mut s.rank);
        bytes(&mut s.dims[0]);
        bytes(&mut s.dims[1]);
        bytes(&mut s.bcast);
        bytes(&mut s.nhwc);
        bytes(&mut s.window);
        bytes(&mut s.stride);
        bytes(&mut s.padding);
        bytes(&mut s.scale_mode);
        for v in &mut s.scale_seed {
            *v = r.u64();
        }
        let mut bytes = |v: &mut [u8]| v.iter_mut().for_each(|b| *b = r.u8());
        bytes(&mut s.zp);
        s.activation = r.u8();
        s.short = r.u8();
        s.a_fill = Fill::decode(r);
        s.b_fill = Fill::decode(r);
        s
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.op);
        w.bool(self.signed);
        for v in self
            .rank
            .iter()
            .chain(&self.dims[0])
            .chain(&self.dims[1])
            .chain(&self.bcast)
            .chain(&self.nhwc)
            .chain(&self.window)
            .chain(&self.stride)
            .chain(&self.padding)
            .chain(&self.scale_mode)
        {
            w.u8(*v);
        }
        for v in self.scale_seed {
            w.u64(v);
        }
        for v in self.zp {
            w.u8(v);
        }
        w.u8(self.activation);
        w.u8(self.short);
        self.a_fill.encode(w);
        self.b_fill.encode(w);
    }

    /// The two add shapes, outermost axis first.
    pub fn add_shapes(&self) -> (Vec<usize>, Vec<usize>) {
        let (ra, rb) = (self.rank[0] as usize % 5, self.rank[1] as usize % 5);
        // Aligned at the last axis: axis i of 4 (0 outermost) belongs to an operand of
        // rank r when i ≥ 4 − r.
        let mut a = [0usize; 4];
        let mut b = [0usize; 4];
        for i in 0..4 {
            a[i] = self.dims[0][i] as usize % 6;
            b[i] = self.dims[1][i] as usize % 6;
            match self.bcast[i] % 4 {
                1 => a[i] = 1,
                2 => b[i] = 1,
                3 => b[i] = a[i],
                _ => {}
            }
        }
        (a[4 - ra..].to_vec(), b[4 - rb..].to_vec())
    }

    /// The pool input's shape and window.
    pub fn pool(&self) -> (Nhwc, Pool2d) {
        let m = |v: u8, r: u8| (v % r) as usize;
        let shape = Nhwc::new(
            m(self.nhwc[0], 3),
            m(self.nhwc[1], 9),
            m(self.nhwc[2], 9),
            m(self.nhwc[3], 80),
        );
        let pool = Pool2d {
            kernel: (m(self.window[0], 4), m(self.window[1], 4)),
            stride: (m(self.stride[0], 4), m(self.stride[1], 4)),
            padding: self.padding.map(|p| m(p, 4)),
        };
        (shape, pool)
    }

    /// The three quantization parameters (first operand or input, second operand,
    /// output).
    fn params<T: Code>(&self) -> [QuantParams<T>; 3] {
        core::array::from_fn(|i| {
            let mut rng = Rng(self.scale_seed[i]);
            let scale = if self.scale_mode[i] % 2 == 1 {
                [1.0 / 16.0, 0.1, 0.375, 2.0][self.scale_seed[i] as usize % 4]
            } else {
                gen_scale(&mut rng)
            };
            QuantParams::new(scale, T::from_byte(self.zp[i])).expect("a valid scale")
        })
    }
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&OpsSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether the spec was valid (the call had to
/// succeed).
pub fn check(s: &OpsSpec) -> bool {
    match (s.op % 3, s.signed) {
        (0, false) => check_add::<u8>(s),
        (0, true) => check_add::<i8>(s),
        (1, false) => check_max_pool::<u8>(s),
        (1, true) => check_max_pool::<i8>(s),
        (_, false) => check_avg_pool::<u8>(s),
        (_, true) => check_avg_pool::<i8>(s),
    }
}

fn short(s: &OpsSpec, which: u8) -> usize {
    usize::from(s.short % 16 == which)
}

/// The broadcast shape (SPEC.md §8: aligned at the last axis; equal sizes, or one of
/// them 1 and the result the other), or `None`.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let pad = |s: &[usize]| {
        let mut v = vec![1; r - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    (0..r)
        .map(|i| match (pa[i], pb[i]) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// One QLinearAdd code from SPEC.md §8: f32 operands and sum, a correctly rounded
/// division, NaN to `Z_C`, round half to even, `+ Z_C` saturated, then the clamp.
fn add_one<T: Code>(x: T, y: T, p: &[QuantParams<T>; 3], clamp: (i32, i32)) -> T {
    let fa = (x.val() - p[0].zero_point().val()) as f32 * p[0].scale();
    let fb = (y.val() - p[1].zero_point().val()) as f32 * p[1].scale();
    let v = (fa + fb) / p[2].scale();
    let zc = p[2].zero_point().val();
    let q = if v.is_nan() {
        zc as f64
    } else {
        (v.round_ties_even() as f64 + zc as f64).clamp(T::MIN as f64, T::MAX as f64)
    };
    T::from_i32((q as i32).clamp(clamp.0, clamp.1))
}

fn check_add<T: Code>(s: &OpsSpec) -> bool {
    let (sa, sb) = s.add_shapes();
    let (na, nb) = (sa.iter().product::<usize>(), sb.iter().product::<usize>());
    let a: Vec<T> = s.a_fill.codes(na.saturating_sub(short(s, 13)));
    let b: Vec<T> = s.b_fill.codes(nb.saturating_sub(short(s, 14)));
    let p = s.params::<T>();
    let act = [Activation::None, Activation::Relu, Activation::Relu6][s.activation as usize % 3];
    let shape = broadcast(&sa, &sb);
    let total = shape.as_ref().map_or(0, |o| o.iter().product());
    let out_len = total.saturating_sub(short(s, 15));
    let valid = shape.is_some() && a.len() == na && b.len() == nb && out_len == total;
    let mut expected = vec![T::SENTINEL; out_len];
    if let (true, Some(out)) = (valid, &shape) {
        let zc = p[2].zero_point().val();
        let clamp = match act {
            Activation::None => (T::MIN, T::MAX),
            Activation::Relu => (zc, T::MAX),
            Activation::Relu6 => (zc, p[2].quantize(6.0).val()),
        };
        let r = out.len();
        let pad = |s: &[usize]| {
            let mut v = vec![1; r - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (pa, pb) = (pad(&sa), pad(&sb));
        let mut idx = vec![0usize; r];
        for e in expected.iter_mut() {
            let flat = |shape: &[usize]| {
                (0..r).fold(0, |f, i| {
                    f * shape[i] + if shape[i] == 1 { 0 } else { idx[i] }
                })
            };
            *e = add_one(a[flat(&pa)], b[flat(&pb)], &p, clamp);
            for i in (0..r).rev() {
                idx[i] += 1;
                if idx[i] < out[i] {
                    break;
                }
                idx[i] = 0;
            }
        }
    }
    for e in engines() {
        let what = || format!("add on {}, shapes {sa:?} + {sb:?}, spec {s:?}", e.label);
        let mut got = vec![T::SENTINEL; out_len];
        let r = e.engine.add(
            QTensor::new(&a, &sa, p[0]),
            QTensor::new(&b, &sb, p[1]),
            &mut got,
            p[2],
            act,
        );
        assert_eq!(r.is_ok(), valid, "{}: add gave {r:?}", what());
        assert_same_bits(&what, &got, &expected);
    }
    valid
}

fn check_max_pool<T: Code>(s: &OpsSpec) -> bool {
    let (shape, pool) = s.pool();
    let numel = shape.n * shape.h * shape.w * shape.c;
    let x: Vec<T> = s.a_fill.codes(numel.saturating_sub(short(s, 13)));
    let (kh, kw) = pool.kernel;
    let (sh, sw) = pool.stride;
    let [pt, pl, pb, pr] = pool.padding;
    // Pool2d::output_shape's rules (SPEC.md §8).
    let window_ok = kh > 0
        && kw > 0
        && sh > 0
        && sw > 0
        && shape.h > 0
        && shape.w > 0
        && pt < kh
        && pb < kh
        && pl < kw
        && pr < kw
        && shape.h + pt + pb >= kh
        && shape.w + pl + pr >= kw;
    let (oh, ow) = if window_ok {
        (
            (shape.h + pt + pb - kh) / sh + 1,
            (shape.w + pl + pr - kw) / sw + 1,
        )
    } else {
        (0, 0)
    };
    let total = shape.n * oh * ow * shape.c;
    let out_len = total.saturating_sub(short(s, 15));
    let valid = window_ok && x.len() == numel && out_len == total;
    let mut expected = vec![T::SENTINEL; out_len];
    if valid {
        let c = shape.c;
        for n in 0..shape.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        let mut best: Option<i32> = None;
                        for ky in 0..kh {
                            let iy = (oy * sh + ky) as isize - pt as isize;
                            for kx in 0..kw {
                                let ix = (ox * sw + kx) as isize - pl as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= shape.h as isize
                                    || ix >= shape.w as isize
                                {
                                    continue;
                                }
                                let v = x[((n * shape.h + iy as usize) * shape.w + ix as usize)
                                    * c
                                    + ch]
                                    .val();
                                best = Some(best.map_or(v, |b: i32| b.max(v)));
                            }
                        }
                        let v = best.expect("a padding smaller than the window leaves a tap");
                        expected[((n * oh + oy) * ow + ox) * c + ch] = T::from_i32(v);
                    }
                }
            }
        }
    }
    for e in engines() {
        let what = || format!("max_pool on {}, {shape:?}, {pool:?}, spec {s:?}", e.label);
        let mut got = vec![T::SENTINEL; out_len];
        let r = e.engine.max_pool(&x, shape, &pool, &mut got);
        assert_eq!(r.is_ok(), valid, "{}: max_pool gave {r:?}", what());
        assert_same_bits(&what, &got, &expected);
    }
    valid
}

fn check_avg_pool<T: Code>(s: &OpsSpec) -> bool {
    let (shape, _) = s.pool();
    let numel = shape.n * shape.h * shape.w * shape.c;
    let x: Vec<T> = s.a_fill.codes(numel.saturating_sub(short(s, 13)));
    let p = s.params::<T>();
    let (px, py) = (p[0], p[2]);
    let hw = shape.h * shape.w;
    let total = shape.n * shape.c;
    let out_len = total.saturating_sub(short(s, 15));
    let valid = hw > 0 && x.len() == numel && out_len == total;
    let mut expected = vec![T::SENTINEL; out_len];
    if valid {
        let scale = (px.scale() as f64 / (py.scale() as f64 * hw as f64)) as f32;
        let (zx, zy) = (px.zero_point().val(), py.zero_point().val());
        for n in 0..shape.n {
            for ch in 0..shape.c {
                let acc: i32 = (0..hw)
                    .map(|q| x[(n * hw + q) * shape.c + ch].val() - zx)
                    .sum();
                // The Fp32 stage: clamp in f32 to the type's range less Z_Y, round half
                // to even, + Z_Y.
                let y = (acc as f32 * scale).clamp((T::MIN - zy) as f32, (T::MAX - zy) as f32);
                expected[n * shape.c + ch] = T::from_i32(y.round_ties_even() as i32 + zy);
            }
        }
    }
    for e in engines() {
        let what = || format!("global_avg_pool on {}, {shape:?}, spec {s:?}", e.label);
        let mut got = vec![T::SENTINEL; out_len];
        let r = e.engine.global_avg_pool(&x, shape, px, &mut got, py);
        assert_eq!(r.is_ok(), valid, "{}: global_avg_pool gave {r:?}", what());
        assert_same_bits(&what, &got, &expected);
    }
    valid
}
