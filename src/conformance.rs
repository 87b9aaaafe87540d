//! Replays ONNX backend conformance cases stored as JSON (one case per file; format in
//! `tests/data/onnx/README.md`), bit for bit, through the public API.
//!
//! In scope: QuantizeLinear and DequantizeLinear with u8/i8 codes (per-tensor, per-axis,
//! blocked; f32 data), DynamicQuantizeLinear, MatMulInteger and QLinearMatMul (2-D and
//! batched 3-D, f32 and f16 scales), ConvInteger and QLinearConv (2-D, NCHW converted to
//! NHWC and run through [`crate::Conv2d`]). Every other case is reported as skipped with the
//! reason (e.g. `int4 not supported yet`), never silently dropped.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::layers::Nhwc;
use crate::{
    Conv2d, Conv2dGeometry, Engine, Granularity, Matrix, MatrixMut, OutputStage, PerChannel, QType,
    QuantParams, Requantization, WeightLayout,
};

/// One tensor of a case: integer codes or float bit patterns, flat, row-major.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// Input or output name.
    pub name: String,
    /// ONNX dtype name (`uint8`, `float32`, `float16`, …).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values (floats as IEEE bit patterns).
    pub data: Vec<i64>,
}

/// One conformance case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Case name, e.g. `test_qlinearmatmul_2D_int8_float32`.
    pub name: String,
    /// Operator name.
    pub op: String,
    /// Node attributes.
    pub attributes: serde_json::Map<String, Value>,
    /// Input names of the node, in order (empty = omitted optional input).
    pub node_inputs: Vec<String>,
    /// Input tensors.
    pub inputs: Vec<Tensor>,
    /// Expected output tensors.
    pub outputs: Vec<Tensor>,
}

/// The result of replaying one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every output matched bit for bit.
    Pass,
    /// A mismatch or an error, described.
    Fail(String),
    /// Out of scope, with the reason.
    Skip(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass => f.write_str("PASS"),
            Outcome::Fail(r) => write!(f, "FAIL {r}"),
            Outcome::Skip(r) => write!(f, "SKIP {r}"),
        }
    }
}

fn tensor(v: &Value) -> Result<Tensor, String> {
    let name = v["name"].as_str().ok_or("tensor without name")?.to_string();
    let dtype = v["dtype"]
        .as_str()
        .ok_or("tensor without dtype")?
        .to_string();
    let shape = v["shape"]
        .as_array()
        .ok_or("tensor without shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad dimension"))
        .collect::<Result<Vec<_>, _>>()?;
    let data = v["data"]
        .as_array()
        .ok_or("tensor without data")?
        .iter()
        .map(|d| d.as_i64().ok_or("non-integer datum"))
        .collect::<Result<Vec<_>, _>>()?;
    let numel: usize = shape.iter().product();
    if numel != data.len() {
        return Err(format!(
            "tensor {name}: shape {shape:?} has {numel} elements, data {}",
            data.len()
        ));
    }
    Ok(Tensor {
        name,
        dtype,
        shape,
        data,
    })
}

impl Case {
    /// Parses a case from its JSON text.
    pub fn parse(text: &str) -> Result<Case, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let list = |key: &str| -> Result<Vec<Tensor>, String> {
            v[key]
                .as_array()
                .ok_or(format!("missing {key}"))?
                .iter()
                .map(tensor)
                .collect()
        };
        Ok(Case {
            name: v["case"].as_str().ok_or("missing case")?.to_string(),
            op: v["op"].as_str().ok_or("missing op")?.to_string(),
            attributes: v["attributes"].as_object().cloned().unwrap_or_default(),
            node_inputs: v["node_inputs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| s.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default(),
            inputs: list("inputs")?,
            outputs: list("outputs")?,
        })
    }

    /// Reads and parses a case file.
    pub fn load(path: &Path) -> Result<Case, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Case::parse(&text)
    }

    /// The input at position `i` of the node's inputs, if given.
    fn input(&self, i: usize) -> Option<&Tensor> {
        let name = self.node_inputs.get(i)?;
        if name.is_empty() {
            return None;
        }
        self.inputs.iter().find(|t| &t.name == name)
    }

    fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_i64)
    }

    fn attr_ints(&self, key: &str) -> Option<Vec<i64>> {
        self.attributes
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
    }
}

/// IEEE binary16 bits to f32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m · 2^-24, exactly representable in f32.
            let v = m as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Float values of a tensor of dtype float32 or float16.
fn floats(t: &Tensor) -> Result<Vec<f32>, Outcome> {
    match t.dtype.as_str() {
        "float32" => Ok(t.data.iter().map(|&b| f32::from_bits(b as u32)).collect()),
        "float16" => Ok(t.data.iter().map(|&b| f16_to_f32(b as u16)).collect()),
        d => Err(Outcome::Skip(format!(
            "{}: float dtype {d} not supported yet",
            t.name
        ))),
    }
}

fn codes<T: QType>(t: &Tensor) -> Result<Vec<T>, Outcome> {
    t.data
        .iter()
        .map(|&v| {
            if (T::MIN as i64..=T::MAX as i64).contains(&v) {
                Ok(T::from_i32(v as i32))
            } else {
                Err(Outcome::Fail(format!(
                    "{}: value {v} outside {}",
                    t.name,
                    T::NAME
                )))
            }
        })
        .collect()
}

fn compare_ints(what: &str, got: &[i64], want: &Tensor) -> Outcome {
    if got.len() != want.data.len() {
        return Outcome::Fail(format!(
            "{what}: {} values, expected {}",
            got.len(),
            want.data.len()
        ));
    }
    match got.iter().zip(&want.data).position(|(g, w)| g != w) {
        None => Outcome::Pass,
        Some(i) => Outcome::Fail(format!(
            "{what}[{i}]: expected {} got {}",
            want.data[i], got[i]
        )),
    }
}

fn compare_f32(what: &str, got: &[f32], want: &Tensor) -> Outcome {
    if want.dtype != "float32" {
        return Outcome::Skip(format!(
            "{what}: output dtype {} not supported yet",
            want.dtype
        ));
    }
    if got.len() != want.data.len() {
        return Outcome::Fail(format!(
            "{what}: {} values, expected {}",
            got.len(),
            want.data.len()
        ));
    }
    for (i, (g, &w)) in got.iter().zip(&want.data).enumerate() {
        let w = f32::from_bits(w as u32);
        let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
        if !same {
            return Outcome::Fail(format!(
                "{what}[{i}]: expected {w:e} ({:#010x}) got {g:e} ({:#010x})",
                w.to_bits(),
                g.to_bits()
            ));
        }
    }
    Outcome::Pass
}

fn all(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
    for o in outcomes {
        if o != Outcome::Pass {
            return o;
        }
    }
    Outcome::Pass
}

/// Replays one case on `engine`.
pub fn run_case(case: &Case, engine: &Engine) -> Outcome {
    let r = match case.op.as_str() {
        "QuantizeLinear" => quantize_linear(case, engine),
        "DequantizeLinear" => dequantize_linear(case, engine),
        "DynamicQuantizeLinear" => dynamic_quantize_linear(case, engine),
        "MatMulInteger" => matmul_integer(case, engine),
        "QLinearMatMul" => qlinear_matmul(case, engine),
        "ConvInteger" => conv_integer(case, engine),
        "QLinearConv" => qlinear_conv(case, engine),
        op => Err(Outcome::Skip(format!("operator {op} not supported yet"))),
    };
    r.unwrap_or_else(|o| o)
}

type Step<T> = Result<T, Outcome>;

fn need<'c>(case: &'c Case, i: usize, what: &str) -> Step<&'c Tensor> {
    case.input(i)
        .ok_or_else(|| Outcome::Fail(format!("missing input {what}")))
}

fn fail<E: fmt::Display>(e: E) -> Outcome {
    Outcome::Fail(format!("error: {e}"))
}

/// Builds the granularity of ONNX Quantize/DequantizeLinear from the scale shape and the
/// `axis` / `block_size` attributes, then runs `f` with it.
fn with_granularity<T: QType, R>(
    case: &Case,
    data_shape: &[usize],
    scale: &Tensor,
    zp: Option<&Tensor>,
    f: impl FnOnce(&Granularity<'_, T>) -> Step<R>,
) -> Step<R> {
    let scales = floats(scale)?;
    if scale.dtype != "float32" {
        return Err(Outcome::Skip(format!(
            "scale dtype {} not supported yet",
            scale.dtype
        )));
    }
    let zps: Option<Vec<T>> = zp.map(codes::<T>).transpose()?;
    let rank = data_shape.len() as i64;
    let axis = case.attr_i64("axis").unwrap_or(1);
    let axis = if axis < 0 { axis + rank } else { axis };
    let block = case.attr_i64("block_size").unwrap_or(0);
    if scales.len() == 1 && block == 0 && scale.shape.len() <= 1 {
        let z = zps.as_ref().map_or(T::default(), |z| z[0]);
        let p = QuantParams::new(scales[0], z).map_err(fail)?;
        return f(&Granularity::PerTensor(p));
    }
    if axis < 0 || axis >= rank {
        return Err(Outcome::Fail(format!("axis {axis} out of range")));
    }
    if block > 0 {
        f(&Granularity::PerBlock {
            axis: axis as usize,
            block_size: block as usize,
            scales: &scales,
            zero_points: zps.as_deref(),
        })
    } else {
        f(&Granularity::PerAxis {
            axis: axis as usize,
            scales: &scales,
            zero_points: zps.as_deref(),
        })
    }
}

fn quantize_linear(case: &Case, engine: &Engine) -> Step<Outcome> {
    let x = need(case, 0, "x")?;
    let scale = need(case, 1, "y_scale")?;
    let zp = case.input(2);
    let y = case
        .outputs
        .first()
        .ok_or_else(|| Outcome::Fail("no output".into()))?;
    if x.dtype != "float32" {
        return Err(Outcome::Skip(format!(
            "input dtype {} not supported yet",
            x.dtype
        )));
    }
    let xs = floats(x)?;
    fn go<T: QType>(
        case: &Case,
        engine: &Engine,
        x: &Tensor,
        xs: &[f32],
        scale: &Tensor,
        zp: Option<&Tensor>,
        y: &Tensor,
    ) -> Step<Outcome> {
        with_granularity::<T, _>(case, &x.shape, scale, zp, |g| {
            let mut out = vec![T::default(); xs.len()];
            engine.quantize(xs, &x.shape, g, &mut out).map_err(fail)?;
            let got: Vec<i64> = out.iter().map(|v| v.to_i32() as i64).collect();
            Ok(compare_ints("y", &got, y))
        })
    }
    match y.dtype.as_str() {
        "uint8" => go::<u8>(case, engine, x, &xs, scale, zp, y),
        "int8" => go::<i8>(case, engine, x, &xs, scale, zp, y),
        d => Err(Outcome::Skip(format!("output dtype {d} not supported yet"))),
    }
}

fn dequantize_linear(case: &Case, engine: &Engine) -> Step<Outcome> {
    let x = need(case, 0, "x")?;
    let scale = need(case, 1, "x_scale")?;
    let zp = case.input(2);
    let y = case
        .outputs
        .first()
        .ok_or_else(|| Outcome::Fail("no output".into()))?;
    fn go<T: QType>(
        case: &Case,
        engine: &Engine,
        x: &Tensor,
        scale: &Tensor,
        zp: Option<&Tensor>,
        y: &Tensor,
    ) -> Step<Outcome> {
        let q = codes::<T>(x)?;
        with_granularity::<T, _>(case, &x.shape, scale, zp, |g| {
            let mut out = vec![0f32; q.len()];
            engine.dequantize(&q, &x.shape, g, &mut out).map_err(fail)?;
            Ok(compare_f32("y", &out, y))
        })
    }
    match x.dtype.as_str() {
        "uint8" => go::<u8>(case, engine, x, scale, zp, y),
        "int8" => go::<i8>(case, engine, x, scale, zp, y),
        d => Err(Outcome::Skip(format!("input dtype {d} not supported yet"))),
    }
}

fn dynamic_quantize_linear(case: &Case, engine: &Engine) -> Step<Outcome> {
    let x = need(case, 0, "x")?;
    let xs = floats(x)?;
    if case.outputs.len() != 3 {
        return Err(Outcome::Fail("expected 3 outputs".into()));
    }
    let mut out = vec![0u8; xs.len()];
    let p = engine
        .dynamic_quantize_linear(&xs, &mut out)
        .map_err(fail)?;
    let got: Vec<i64> = out.iter().map(|&v| v as i64).collect();
    Ok(all([
        compare_ints("y", &got, &case.outputs[0]),
        compare_f32("y_scale", &[p.scale()], &case.outputs[1]),
        compare_ints("y_zero_point", &[p.zero_point() as i64], &case.outputs[2]),
    ]))
}

/// Batch shapes of an ONNX MatMul: `a` is `[.., M, K]`, `b` `[.., K, N]` (rank 2 or 3,
/// batch 1 broadcast). Returns (batch, m, k, n, a batch stride, b batch stride).
fn matmul_dims(a: &Tensor, b: &Tensor) -> Step<(usize, usize, usize, usize, usize, usize)> {
    let split = |t: &Tensor| -> Step<(usize, usize, usize)> {
        match t.shape.as_slice() {
            [r, c] => Ok((1, *r, *c)),
            [bt, r, c] => Ok((*bt, *r, *c)),
            s => Err(Outcome::Skip(format!(
                "{}: rank {} matmul not supported yet",
                t.name,
                s.len()
            ))),
        }
    };
    let (ba, m, k) = split(a)?;
    let (bb, kb, n) = split(b)?;
    if k != kb {
        return Err(Outcome::Fail(format!(
            "inner dimensions {k} and {kb} differ"
        )));
    }
    let batch = ba.max(bb);
    if (ba != batch && ba != 1) || (bb != batch && bb != 1) {
        return Err(Outcome::Fail("batch dimensions do not broadcast".into()));
    }
    Ok((
        batch,
        m,
        k,
        n,
        if ba == 1 { 0 } else { m * k },
        if bb == 1 { 0 } else { k * n },
    ))
}

/// Runs a (batched) MatMul of `a` (A codes) and `b` (B codes) with `stage`, output O.
#[allow(clippy::too_many_arguments)]
fn batched<A: QType, B: QType, O: crate::OutType>(
    engine: &Engine,
    a: &Tensor,
    za: A,
    b: &Tensor,
    zb: PerChannel<'_, B>,
    stage: &OutputStage<'_>,
) -> Step<Vec<O>> {
    let (batch, m, k, n, sa, sb) = matmul_dims(a, b)?;
    let av = codes::<A>(a)?;
    let bv = codes::<B>(b)?;
    let mut out = vec![O::default(); batch * m * n];
    for t in 0..batch {
        let bm = Matrix::new(&bv[t * sb..t * sb + k * n], k, n);
        let packed = engine
            .pack_weights(bm, WeightLayout::KxN, zb)
            .map_err(fail)?;
        let am = Matrix::new(&av[t * sa..t * sa + m * k], m, k);
        let om = MatrixMut::new(&mut out[t * m * n..(t + 1) * m * n], m, n);
        engine.gemm(am, za, &packed, stage, om).map_err(fail)?;
    }
    Ok(out)
}

fn zero_point<T: QType>(t: Option<&Tensor>) -> Step<T> {
    match t {
        None => Ok(T::default()),
        Some(t) if t.data.len() == 1 => Ok(codes::<T>(t)?[0]),
        Some(t) => Err(Outcome::Skip(format!(
            "{}: {} zero points where one is supported",
            t.name,
            t.data.len()
        ))),
    }
}

fn matmul_integer(case: &Case, engine: &Engine) -> Step<Outcome> {
    let a = need(case, 0, "A")?;
    let b = need(case, 1, "B")?;
    let y = case
        .outputs
        .first()
        .ok_or_else(|| Outcome::Fail("no output".into()))?;
    fn go<A: QType, B: QType>(
        case: &Case,
        engine: &Engine,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
    ) -> Step<Outcome> {
        let za = zero_point::<A>(case.input(2))?;
        let zbv: Option<Vec<B>> = case.input(3).map(codes::<B>).transpose()?;
        let zb = match zbv.as_deref() {
            None => PerChannel::Tensor(B::default()),
            Some([z]) => PerChannel::Tensor(*z),
            Some(z) => PerChannel::Channel(z),
        };
        let out: Vec<i32> = batched::<A, B, i32>(engine, a, za, b, zb, &OutputStage::i32())?;
        let got: Vec<i64> = out.iter().map(|&v| v as i64).collect();
        Ok(compare_ints("Y", &got, y))
    }
    match (a.dtype.as_str(), b.dtype.as_str()) {
        ("uint8", "uint8") => go::<u8, u8>(case, engine, a, b, y),
        ("uint8", "int8") => go::<u8, i8>(case, engine, a, b, y),
        ("int8", "uint8") => go::<i8, u8>(case, engine, a, b, y),
        ("int8", "int8") => go::<i8, i8>(case, engine, a, b, y),
        (x, w) => Err(Outcome::Skip(format!(
            "MatMulInteger {x}×{w} not supported"
        ))),
    }
}

fn qlinear_matmul(case: &Case, engine: &Engine) -> Step<Outcome> {
    let a = need(case, 0, "a")?;
    let b = need(case, 3, "b")?;
    let scalar = |i: usize, what: &str| -> Step<f32> {
        let t = need(case, i, what)?;
        match floats(t)?.as_slice() {
            [v] => Ok(*v),
            _ => Err(Outcome::Skip(format!(
                "{what}: per-channel scales not supported in this replay"
            ))),
        }
    };
    let (sa, sb, sy) = (
        scalar(1, "a_scale")?,
        scalar(4, "b_scale")?,
        scalar(6, "y_scale")?,
    );
    // The real multiplier a_scale·b_scale/y_scale in f32 (f16 scales widened exactly).
    let scale = sa * sb / sy;
    let y = case
        .outputs
        .first()
        .ok_or_else(|| Outcome::Fail("no output".into()))?;
    fn go<A: QType, B: QType, O: QType + crate::OutType>(
        case: &Case,
        engine: &Engine,
        a: &Tensor,
        b: &Tensor,
        scale: f32,
        y: &Tensor,
    ) -> Step<Outcome> {
        let za = zero_point::<A>(case.input(2))?;
        let zb = zero_point::<B>(case.input(5))?;
        let zy = zero_point::<O>(case.input(7))?;
        let stage =
            OutputStage::quantized(Requantization::Fp32(PerChannel::Tensor(scale)), zy.to_i32());
        let out: Vec<O> = batched::<A, B, O>(engine, a, za, b, PerChannel::Tensor(zb), &stage)?;
        let got: Vec<i64> = out.iter().map(|v| v.to_i32() as i64).collect();
        Ok(compare_ints("y", &got, y))
    }
    match (a.dtype.as_str(), b.dtype.as_str(), y.dtype.as_str()) {
        ("uint8", "uint8", "uint8") => go::<u8, u8, u8>(case, engine, a, b, scale, y),
        ("int8", "int8", "int8") => go::<i8, i8, i8>(case, engine, a, b, scale, y),
        ("uint8", "int8", "uint8") => go::<u8, i8, u8>(case, engine, a, b, scale, y),
        ("int8", "uint8", "int8") => go::<i8, u8, i8>(case, engine, a, b, scale, y),
        (x, w, o) => Err(Outcome::Skip(format!(
            "QLinearMatMul {x}×{w}→{o} not supported"
        ))),
    }
}

/// The NHWC shape and geometry of an ONNX 2-D Conv node (x NCHW, w OIHW).
fn conv_geometry(case: &Case, x: &Tensor, w: &Tensor) -> Step<(Nhwc, usize, Conv2dGeometry)> {
    let (&[n, c, h, wd], &[o, _, kh, kw]) = (x.shape.as_slice(), w.shape.as_slice()) else {
        return Err(Outcome::Skip(format!(
            "only 2-D convolutions: x {:?}, w {:?}",
            x.shape, w.shape
        )));
    };
    if let Some(p) = case.attributes.get("auto_pad").and_then(Value::as_str) {
        if p != "NOTSET" {
            return Err(Outcome::Skip(format!("auto_pad {p} not supported")));
        }
    }
    let pair = |key: &str| -> Step<(usize, usize)> {
        match case.attr_ints(key).as_deref() {
            None => Ok((1, 1)),
            Some(&[a, b]) if a > 0 && b > 0 => Ok((a as usize, b as usize)),
            Some(v) => Err(Outcome::Fail(format!("{key} = {v:?}"))),
        }
    };
    let padding = match case.attr_ints("pads").as_deref() {
        None => [0; 4],
        // ONNX order: [h_begin, w_begin, h_end, w_end] = (top, left, bottom, right).
        Some(&[t, l, b, r]) if [t, l, b, r].iter().all(|&v| v >= 0) => {
            [t as usize, l as usize, b as usize, r as usize]
        }
        Some(v) => return Err(Outcome::Fail(format!("pads = {v:?}"))),
    };
    if let Some(k) = case.attr_ints("kernel_shape") {
        if k != [kh as i64, kw as i64] {
            return Err(Outcome::Fail(format!(
                "kernel_shape {k:?} but w is {:?}",
                w.shape
            )));
        }
    }
    let groups = case.attr_i64("group").unwrap_or(1);
    if groups < 1 {
        return Err(Outcome::Fail(format!("group = {groups}")));
    }
    let g = Conv2dGeometry {
        kernel: (kh, kw),
        stride: pair("strides")?,
        padding,
        dilation: pair("dilations")?,
        groups: groups as usize,
    };
    Ok((Nhwc::new(n, h, wd, c), o, g))
}

/// NCHW → NHWC (also OIHW → OHWI).
fn to_nhwc<T: Copy>(v: &[T], n: usize, c: usize, hw: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for img in 0..n {
        for p in 0..hw {
            for ch in 0..c {
                out.push(v[(img * c + ch) * hw + p]);
            }
        }
    }
    out
}

/// NHWC → NCHW.
fn to_nchw<T: Copy>(v: &[T], n: usize, c: usize, hw: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for img in 0..n {
        for ch in 0..c {
            for p in 0..hw {
                out.push(v[(img * hw + p) * c + ch]);
            }
        }
    }
    out
}

/// Runs an ONNX Conv on NCHW codes through [`Conv2d`] (converted to NHWC / OHWI and
/// back), with `stage` per output channel.
#[allow(clippy::too_many_arguments)]
fn conv_nchw<X: QType, W: QType, O: crate::OutType>(
    case: &Case,
    engine: &Engine,
    x: &Tensor,
    zx: X,
    w: &Tensor,
    zw: &[W],
    stage: &OutputStage<'_>,
) -> Step<Vec<O>> {
    let (shape, oc, g) = conv_geometry(case, x, w)?;
    let xv = to_nhwc(&codes::<X>(x)?, shape.n, shape.c, shape.h * shape.w);
    let (kh, kw) = g.kernel;
    let wv = to_nhwc(&codes::<W>(w)?, oc, w.shape[1], kh * kw);
    let zw = match zw {
        [] => PerChannel::Tensor(W::default()),
        [z] => PerChannel::Tensor(*z),
        z => PerChannel::Channel(z),
    };
    let conv = Conv2d::from_quantized(
        engine,
        shape.c,
        oc,
        g,
        &wv,
        zw,
        PerChannel::Tensor(1.0),
        None,
    )
    .map_err(fail)?;
    let os = conv.output_shape(shape).map_err(fail)?;
    let mut out = vec![O::default(); os.numel().map_err(fail)?];
    conv.forward_with_stage(&xv, shape, zx, stage, &mut out)
        .map_err(fail)?;
    Ok(to_nchw(&out, os.n, os.c, os.h * os.w))
}

fn conv_integer(case: &Case, engine: &Engine) -> Step<Outcome> {
    let x = need(case, 0, "x")?;
    let w = need(case, 1, "w")?;
    let y = case
        .outputs
        .first()
        .ok_or_else(|| Outcome::Fail("no output".into()))?;
    fn go<X: QType, W: QType>(
        case: &Case,
        engine: &Engine,
        x: &Tensor,
        w: &Tensor,
        y: &Tensor,
    ) -> Step<Outcome> {
        let zx = zero_point::<X>(case.input(2))?;
        let zw: Vec<W> = case
            .input(3)
            .map(codes::<W>)
            .transpose()?
            .unwrap_or_default();
        let out: Vec<i32> =
            conv_nchw::<X, W, i32>(case, engine, x, zx, w, &zw, &OutputStage::i32())?;
        let got: Vec<i64> = out.iter().map(|&v| v as i64).collect();
        Ok(compare_ints("y", &got, y))
    }
    match (x.dtype.as_str(), w.dtype.as_str()) {
        ("uint8", "uint8") => go::<u8, u8>(case, engine, x, w, y),
        ("uint8", "int8") => go::<u8, i8>(case, engine, x, w, y),
        ("int8", "uint8") => go::<i8, u8>(case, engine, x, w, y),
        ("int8", "int8") => go::<i8, i8>(case, engine, x, w, y),
        (a, b) => Err(Outcome::Skip(format!("ConvInteger {a}×{b} not supported"))),
    }
}

fn qlinear_conv(case: &Case, engine: &Engine) -> Step<Outcome> {
    let x = need(case, 0, "x")?;
    let w = need(case, 3, "w")?;
    let scalar = |i: usize, what: &str| -> Step<f32> {
        match floats(need(case, i, what)?)?.as_slice() {
            [v] => Ok(*v),
            v => Err(Outcome::Fail(format!(
                "{what}: {} values, expected one",
                v.len()
            ))),
        }
    };
    let (sx, sy) = (scalar(1, "x_scale")?, scalar(6, "y_scale")?);
    let sw = floats(need(case, 4, "w_scale")?)?;
    let oc = w.shape.first().copied().unwrap_or(0);
    // The real multiplier x_scale·w_scale/y_scale per output channel, in f32 as the
    // reference computes it.
    let scales: Vec<f32> = match sw.as_slice() {
        [s] => vec![sx * s / sy; oc],
        s if s.len() == oc => s.iter().map(|s| sx * s / sy).collect(),
        s => {
            return Err(Outcome::Fail(format!(
                "w_scale has {} values for {oc} output channels",
                s.len()
            )))
        }
    };
    let bias: Option<Vec<i32>> = case
        .input(8)
        .map(|b| b.data.iter().map(|&v| v as i32).collect());
    let y = case
        .outputs
        .first()
        .ok_or_else(|| Outcome::Fail("no output".into()))?;
    #[allow(clippy::too_many_arguments)]
    fn go<X: QType, W: QType, O: QType + crate::OutType>(
        case: &Case,
        engine: &Engine,
        x: &Tensor,
        w: &Tensor,
        scales: &[f32],
        bias: Option<&[i32]>,
        y: &Tensor,
    ) -> Step<Outcome> {
        let zx = zero_point::<X>(case.input(2))?;
        let zw: Vec<W> = case
            .input(5)
            .map(codes::<W>)
            .transpose()?
            .unwrap_or_default();
        let zy = zero_point::<O>(case.input(7))?;
        let mut stage = OutputStage::quantized(
            Requantization::Fp32(PerChannel::Channel(scales)),
            zy.to_i32(),
        );
        stage.bias = bias;
        let out: Vec<O> = conv_nchw::<X, W, O>(case, engine, x, zx, w, &zw, &stage)?;
        let got: Vec<i64> = out.iter().map(|v| v.to_i32() as i64).collect();
        Ok(compare_ints("y", &got, y))
    }
    let b = bias.as_deref();
    match (x.dtype.as_str(), w.dtype.as_str(), y.dtype.as_str()) {
        ("uint8", "uint8", "uint8") => go::<u8, u8, u8>(case, engine, x, w, &scales, b, y),
        ("uint8", "int8", "uint8") => go::<u8, i8, u8>(case, engine, x, w, &scales, b, y),
        ("int8", "int8", "int8") => go::<i8, i8, i8>(case, engine, x, w, &scales, b, y),
        ("int8", "uint8", "int8") => go::<i8, u8, i8>(case, engine, x, w, &scales, b, y),
        (a, b, c) => Err(Outcome::Skip(format!(
            "QLinearConv {a}×{b}→{c} not supported"
        ))),
    }
}

/// Loads and replays every `*.json` file of `dir` (sorted by name) on `engine`.
pub fn run_dir(dir: &Path, engine: &Engine) -> Result<Vec<(String, Outcome)>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files
        .iter()
        .map(|p| {
            let label = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match Case::load(p) {
                Ok(c) => (c.name.clone(), run_case(&c, engine)),
                Err(e) => (label, Outcome::Fail(format!("cannot load: {e}"))),
            }
        })
        .collect())
}
