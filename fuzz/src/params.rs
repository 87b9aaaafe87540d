//! Target `params`: the parameter constructors on arbitrary bit patterns.
//!
//! Decoded: f32 bit patterns for a scale, a range `[min, max]`, an absolute maximum and
//! a value to quantize; zero points; an f64 bit pattern for `quantize_multiplier`; a raw
//! `(m0, shift)`.
//!
//! Checked, each against a rule or formula written here from SPEC.md §1, §2 and §5.2:
//! - `QuantParams::new` succeeds exactly for finite positive scales (subnormal
//!   included) and keeps them bit for bit;
//! - `QuantParams::from_range` succeeds exactly for finite `min <= max` whose widened
//!   width is finite, and gives the scale and zero point of §1.1 (recomputed here with
//!   `f32::round_ties_even`), so that `dequantize(zero_point) == 0.0`;
//! - `QuantParams::symmetric` succeeds exactly for finite `absmax >= 0` and gives §1.2;
//! - `quantize_multiplier` succeeds exactly when the multiplier is representable and
//!   equals an integer-only derivation from the f64's bits; `check_multiplier` accepts
//!   exactly `m0 >= 2^30`, `shift` in −31..=30; every valid multiplier round-trips
//!   through `multiplier_to_real`;
//! - `QuantParams::quantize` / `dequantize` of one value equal the scalar definitions,
//!   and every engine's tensor quantize / dequantize of that one value agrees.

use zeropoint::kernels::scalar::requant::{dequantize, quantize_f32};
use zeropoint::{
    check_multiplier, multiplier_to_real, quantize_multiplier, Granularity, QuantParams,
    QuantizedMultiplier, SymmetricRange,
};

use crate::{engines, Code, Reader, Writer};

/// A decoded parameter case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ParamsSpec {
    /// Scale for `QuantParams::new`.
    pub scale: u32,
    /// Zero point byte (as u8 and as i8).
    pub zp: u8,
    /// `from_range` lower bound.
    pub min: u32,
    /// `from_range` upper bound.
    pub max: u32,
    /// `symmetric` absolute maximum.
    pub absmax: u32,
    /// A value to quantize with every constructed parameter set.
    pub x: u32,
    /// A code to dequantize.
    pub q: u8,
    /// `quantize_multiplier` argument.
    pub real: u64,
    /// Raw `m0` for `check_multiplier`.
    pub m0: i32,
    /// Raw `shift` for `check_multiplier`.
    pub shift: i32,
}

impl ParamsSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        ParamsSpec {
            scale: r.u32(),
            zp: r.u8(),
            min: r.u32(),
            max: r.u32(),
            absmax: r.u32(),
            x: r.u32(),
            q: r.u8(),
            real: r.u64(),
            m0: r.i32(),
            shift: r.i32(),
        }
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.scale);
        w.u8(self.zp);
        w.u32(self.min);
        w.u32(self.max);
        w.u32(self.absmax);
        w.u32(self.x);
        w.u8(self.q);
        w.u64(self.real);
        w.i32(self.m0);
        w.i32(self.shift);
    }
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&ParamsSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether `QuantParams::<u8>::new` accepted
/// its scale.
pub fn check(s: &ParamsSpec) -> bool {
    check_typed::<u8>(s);
    check_typed::<i8>(s);
    check_multipliers(s);
    let scale = f32::from_bits(s.scale);
    scale.is_finite() && scale > 0.0
}

/// `quantize` / `dequantize` of one value through the parameters' methods, the scalar
/// definitions and every engine.
fn check_value<T: Code>(p: &QuantParams<T>, x: f32, q: T, what: &str) {
    let (s, z) = (p.scale(), p.zero_point().val());
    let want = T::from_i32(quantize_f32(x, s, z, T::MIN, T::MAX));
    assert_eq!(p.quantize(x), want, "{what}: quantize({x:e})");
    let want_f = dequantize(q.val(), z, s);
    assert_eq!(
        p.dequantize(q).to_bits(),
        want_f.to_bits(),
        "{what}: dequantize({q:?})"
    );
    let g = Granularity::PerTensor(*p);
    for e in engines() {
        let mut out = [T::from_i32(0)];
        e.engine
            .quantize(&[x], &[1], &g, &mut out)
            .unwrap_or_else(|err| panic!("{what} on {}: quantize: {err}", e.label));
        assert_eq!(out[0], want, "{what} on {}: quantize({x:e})", e.label);
        let mut f = [0f32];
        e.engine
            .dequantize(&[q], &[1], &g, &mut f)
            .unwrap_or_else(|err| panic!("{what} on {}: dequantize: {err}", e.label));
        assert_eq!(
            f[0].to_bits(),
            want_f.to_bits(),
            "{what} on {}: dequantize({q:?})",
            e.label
        );
    }
}

fn check_typed<T: Code>(s: &ParamsSpec) {
    let x = f32::from_bits(s.x);
    let q = T::from_byte(s.q);
    let zp = T::from_byte(s.zp);

    // new
    let scale = f32::from_bits(s.scale);
    let p = QuantParams::new(scale, zp);
    assert_eq!(
        p.is_ok(),
        scale.is_finite() && scale > 0.0,
        "QuantParams::<{}>::new({scale:e}): {p:?}",
        T::NAME
    );
    if let Ok(p) = p {
        assert_eq!(p.scale().to_bits(), scale.to_bits());
        assert_eq!(p.zero_point(), zp);
        check_value(&p, x, q, &format!("new({scale:e}, {zp:?})"));
    }

    // from_range (SPEC §1.1)
    let (min, max) = (f32::from_bits(s.min), f32::from_bits(s.max));
    let r = QuantParams::<T>::from_range(min, max);
    let (lo, hi) = (
        if min < 0.0 { min } else { 0.0 },
        if max > 0.0 { max } else { 0.0 },
    );
    let width = hi - lo;
    let valid = min.is_finite() && max.is_finite() && min <= max && width.is_finite();
    let what = format!("QuantParams::<{}>::from_range({min:e}, {max:e})", T::NAME);
    assert_eq!(r.is_ok(), valid, "{what}: {r:?}");
    if let Ok(p) = r {
        let mut sc = width / (T::MAX - T::MIN) as f32;
        if sc == 0.0 {
            sc = 1.0;
        }
        let z = ((T::MIN as f32 - lo / sc).round_ties_even() as i32).clamp(T::MIN, T::MAX);
        assert_eq!(p.scale().to_bits(), sc.to_bits(), "{what}: scale");
        assert_eq!(p.zero_point().val(), z, "{what}: zero point");
        assert!(p.scale().is_finite() && p.scale() > 0.0, "{what}: scale");
        // 0.0 is represented exactly.
        assert_eq!(p.quantize(0.0).val(), z, "{what}: quantize(0.0)");
        assert_eq!(p.dequantize(p.zero_point()), 0.0, "{what}: dequantize(zp)");
        check_value(&p, x, q, &what);
    }

    // symmetric (SPEC §1.2)
    let absmax = f32::from_bits(s.absmax);
    for range in [SymmetricRange::Restricted, SymmetricRange::Full] {
        let r = QuantParams::<T>::symmetric(absmax, range);
        let what = format!(
            "QuantParams::<{}>::symmetric({absmax:e}, {range:?})",
            T::NAME
        );
        assert_eq!(
            r.is_ok(),
            absmax.is_finite() && absmax >= 0.0,
            "{what}: {r:?}"
        );
        if let Ok(p) = r {
            let denom = match range {
                SymmetricRange::Restricted => 127.0,
                SymmetricRange::Full => 127.5,
            };
            let mut sc = absmax / denom;
            if sc == 0.0 {
                sc = 1.0;
            }
            assert_eq!(p.scale().to_bits(), sc.to_bits(), "{what}: scale");
            let z = if T::SIGNED { 0 } else { 128 };
            assert_eq!(p.zero_point().val(), z, "{what}: zero point");
            check_value(&p, x, q, &what);
        }
    }
}

/// The multiplier of `real` derived from its bits with integers only (SPEC §5.2), or
/// `None` when it must be rejected.
fn expected_multiplier(real: f64) -> Option<QuantizedMultiplier> {
    if !real.is_finite() || real <= 0.0 {
        return None;
    }
    let bits = real.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        return None; // subnormal: far below 2^-32
    }
    // real = mant · 2^(biased − 1075), mant in [2^52, 2^53); q = mant / 2^53 in [0.5, 1),
    // e = biased − 1022; m0 = round_half_away(q · 2^31) = (mant + 2^21) >> 22.
    let mant = (bits & ((1u64 << 52) - 1)) | 1 << 52;
    let mut e = biased - 1022;
    let mut m0 = (mant + (1 << 21)) >> 22;
    if m0 == 1 << 31 {
        m0 = 1 << 30;
        e += 1;
    }
    (-31..=30).contains(&e).then_some(QuantizedMultiplier {
        m0: m0 as i32,
        shift: e,
    })
}

fn check_multipliers(s: &ParamsSpec) {
    let real = f64::from_bits(s.real);
    let got = quantize_multiplier(real);
    let want = expected_multiplier(real);
    assert_eq!(
        got.as_ref().ok(),
        want.as_ref(),
        "quantize_multiplier({real:e}) gave {got:?}"
    );
    if let Ok(m) = got {
        assert!(check_multiplier(m).is_ok(), "{m:?} from {real:e}");
        let back = multiplier_to_real(m);
        assert!(
            (back - real).abs() <= real * 2f64.powi(-30),
            "quantize_multiplier({real:e}) = {m:?} is {back:e}"
        );
    }
    let raw = QuantizedMultiplier {
        m0: s.m0,
        shift: s.shift,
    };
    let ok = check_multiplier(raw).is_ok();
    assert_eq!(
        ok,
        s.m0 >= 1 << 30 && (-31..=30).contains(&s.shift),
        "check_multiplier({raw:?})"
    );
    if ok {
        // Exactly representable in f64, so it round-trips.
        let real = multiplier_to_real(raw);
        assert!(real.is_finite() && real > 0.0);
        assert_eq!(
            quantize_multiplier(real).ok(),
            Some(raw),
            "round trip of {raw:?} through {real:e}"
        );
    }
}
