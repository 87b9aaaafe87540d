//! Differential fuzz targets for zeropoint.
//!
//! Every target decodes its input bytes into a *spec* (shapes, strides, zero points,
//! parameters, clamp bounds, how to fill the operands), then:
//!
//! 1. runs the safe public API with **every available engine** — one per ISA of
//!    `zeropoint::variants()`, forced through `Engine::with_isa` — so a kernel added later
//!    is fuzzed with no new code;
//! 2. checks that the API returns `Err` exactly when the spec is invalid (decided here,
//!    independently of the library), never panics, and writes nothing on `Err`;
//! 3. for valid input, checks each engine's output **bit for bit** (f32 by bits) against
//!    the plain scalar reference (`zeropoint::kernels::scalar::reference::gemm_i32`,
//!    `zeropoint::kernels::OutputStage::store`, `scalar::requant::{quantize_f32,
//!    dequantize}`) — so even the scalar variant is checked — and that nothing outside
//!    the output's elements (stride padding) was written.
//!
//! A mismatch panics with the engine, the spec and the first differing index; libFuzzer
//! reports it as a crash and saves the input.
//!
//! The decoding is by hand: [`Reader`] takes little-endian fields in a fixed order and
//! yields zeros once the input is exhausted, so every byte string is a valid input. Each
//! spec also has an `encode` that writes the same fields with [`Writer`]; the seed
//! corpus (`examples/seed_corpus.rs`, [`seeds`]) is built from hand-picked specs with it,
//! and a test checks `decode(encode(spec)) == spec`.
//!
//! Targets: [`quantize`] (quantize and dequantize, per tensor / axis / block),
//! [`dynamic_quantize`], [`gemm`] (with every output stage and `gemm_range` splits),
//! [`requantize`], [`params`] (constructors on arbitrary f32/f64 bit patterns),
//! [`pack`], [`conv`] (`Conv2d` of every geometry, through whole and split forwards),
//! [`ops`] (QLinearAdd with broadcasting, max and global average pooling), [`linear`]
//! (`Linear` from f32 weights, static and dynamic forward).

use std::sync::OnceLock;

use zeropoint::kernels::scalar::reference::Int8;
use zeropoint::kernels::DstType;
use zeropoint::{variants, Engine, Isa, OutType, QType};

pub mod conv;
pub mod dynamic_quantize;
pub mod gemm;
pub mod linear;
pub mod ops;
pub mod pack;
pub mod params;
pub mod quantize;
pub mod requantize;
pub mod seeds;
pub mod stage;

/// Little-endian field reader over the fuzz input; yields zeros past the end.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> u64 {
        self.u32() as u64 | (self.u32() as u64) << 32
    }

    /// A little-endian i32.
    pub fn i32(&mut self) -> i32 {
        self.u32() as i32
    }

    /// A byte as bool (its low bit).
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
}

/// Writes the fields [`Reader`] reads, for building seeds.
#[derive(Clone, Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    /// A little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A little-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A little-endian i32.
    pub fn i32(&mut self, v: i32) {
        self.u32(v as u32);
    }
    /// A bool as one byte.
    pub fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }
}

/// SplitMix64: expands a seed from the input into operand data.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// How an operand is filled: a mode and a seed (so that large operands come from a few
/// input bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Fill {
    /// Which pattern (see the `fill_*` functions); taken modulo their count.
    pub mode: u8,
    /// Seed of the pattern.
    pub seed: u64,
}

impl Fill {
    /// Decodes a fill (9 bytes).
    pub fn decode(r: &mut Reader<'_>) -> Fill {
        Fill {
            mode: r.u8(),
            seed: r.u64(),
        }
    }

    /// Encodes a fill.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.mode);
        w.u64(self.seed);
    }

    /// `len` codes of an 8-bit type: 0 random, 1 all minimum, 2 all maximum, 3 random
    /// extremes (min/max), 4 one constant (the seed's low byte), 5 random with one in
    /// four values an extreme (0x00, 0x7f, 0x80, 0xff).
    pub fn codes<T: Code>(&self, len: usize) -> Vec<T> {
        let mut rng = Rng(self.seed);
        let (lo, hi) = (T::from_i32(T::MIN), T::from_i32(T::MAX));
        (0..len)
            .map(|_| match self.mode % 6 {
                0 => T::from_byte(rng.next_u64() as u8),
                1 => lo,
                2 => hi,
                3 => {
                    if rng.next_u64() & 1 == 0 {
                        lo
                    } else {
                        hi
                    }
                }
                4 => T::from_byte(self.seed as u8),
                _ => {
                    let r = rng.next_u64();
                    if r.is_multiple_of(4) {
                        T::from_byte([0x00, 0x7f, 0x80, 0xff][(r >> 8) as usize % 4])
                    } else {
                        T::from_byte((r >> 16) as u8)
                    }
                }
            })
            .collect()
    }

    /// `len` i32 values: 0 random bits, 1 extremes (MIN, MAX, 0, ±1, MIN+1), 2 random
    /// shifted right by 0..31 (all magnitudes), 3 one constant (the seed's low 32 bits),
    /// 4 small values in −300..=300.
    pub fn i32s(&self, len: usize) -> Vec<i32> {
        let mut rng = Rng(self.seed);
        (0..len)
            .map(|_| {
                let r = rng.next_u64();
                match self.mode % 5 {
                    0 => r as i32,
                    1 => [i32::MIN, i32::MAX, 0, 1, -1, i32::MIN + 1][(r >> 40) as usize % 6],
                    2 => (r as i32) >> ((r >> 40) % 32),
                    3 => self.seed as i32,
                    _ => (r % 601) as i32 - 300,
                }
            })
            .collect()
    }

    /// `len` f32 values for quantization, relative to `scale`: 0 arbitrary bit patterns
    /// (NaN, infinities, subnormals included), 1 exact halves `(i + 0.5)·scale` and
    /// integers `i·scale` around the code range (ties), 2 specials (±0, ±inf, NaN, ±MAX,
    /// ±MIN_POSITIVE, subnormals) mixed with halves, 3 one constant (the seed's low 32
    /// bits), 4 finite values of every magnitude (random sign, exponent, mantissa).
    pub fn f32s(&self, len: usize, scale: f32) -> Vec<f32> {
        let mut rng = Rng(self.seed);
        let half = |rng: &mut Rng| {
            let i = rng.below(801) as f32 - 400.0;
            let h = if rng.next_u64() & 1 == 0 { 0.5 } else { 0.0 };
            (i + h) * scale
        };
        (0..len)
            .map(|_| match self.mode % 5 {
                0 => f32::from_bits(rng.next_u64() as u32),
                1 => half(&mut rng),
                2 => {
                    const SPECIAL: [f32; 12] = [
                        0.0,
                        -0.0,
                        f32::INFINITY,
                        f32::NEG_INFINITY,
                        f32::NAN,
                        f32::MAX,
                        f32::MIN,
                        f32::MIN_POSITIVE,
                        -f32::MIN_POSITIVE,
                        1e-45,
                        -1e-45,
                        f32::EPSILON,
                    ];
                    let r = rng.next_u64();
                    if r.is_multiple_of(3) {
                        SPECIAL[(r >> 8) as usize % SPECIAL.len()]
                    } else {
                        half(&mut rng)
                    }
                }
                3 => f32::from_bits(self.seed as u32),
                _ => {
                    let r = rng.next_u64();
                    // Exponent 1..=254: finite, normal.
                    let e = 1 + (r >> 32) as u32 % 254;
                    f32::from_bits((r as u32 & 0x807f_ffff) | e << 23)
                }
            })
            .collect()
    }
}

/// A parameter source for per-channel f32 parameters (scales, f32 bias): either the
/// raw bit pattern for every channel, generated valid values, or generated values with
/// one channel replaced by the raw bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct F32Params {
    /// 0 all raw, 1 generated, 2 generated with one raw.
    pub mode: u8,
    /// The raw bit pattern.
    pub raw: u32,
    /// Seed of the generated values.
    pub seed: u64,
}

impl F32Params {
    /// Decodes (13 bytes).
    pub fn decode(r: &mut Reader<'_>) -> Self {
        F32Params {
            mode: r.u8(),
            raw: r.u32(),
            seed: r.u64(),
        }
    }

    /// Encodes.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.mode);
        w.u32(self.raw);
        w.u64(self.seed);
    }

    /// `len` values; `gen` makes one generated value.
    pub fn values(&self, len: usize, mut gen: impl FnMut(&mut Rng) -> f32) -> Vec<f32> {
        let mut rng = Rng(self.seed);
        let mut v: Vec<f32> = (0..len)
            .map(|_| match self.mode % 3 {
                0 => f32::from_bits(self.raw),
                _ => gen(&mut rng),
            })
            .collect();
        if self.mode % 3 == 2 && len > 0 {
            let i = rng.below(len as u64) as usize;
            v[i] = f32::from_bits(self.raw);
        }
        v
    }
}

/// A positive finite scale of any magnitude from 2^−40 to 2^8 (subnormals excluded),
/// with a random mantissa.
pub fn gen_scale(rng: &mut Rng) -> f32 {
    let r = rng.next_u64();
    let e = 127 - 40 + (r >> 32) as u32 % 49;
    f32::from_bits((r as u32 & 0x007f_ffff) | e << 23)
}

/// An 8-bit storage type usable as A, B, quantized output and quantize target.
pub trait Code: QType + Int8 + OutType + Out {
    /// The code whose byte is `b`.
    fn from_byte(b: u8) -> Self;
    /// The code as i32 (`QType::to_i32`, named apart from `Int8::to_i32`).
    fn val(self) -> i32 {
        <Self as QType>::to_i32(self)
    }
}
impl Code for u8 {
    fn from_byte(b: u8) -> u8 {
        b
    }
}
impl Code for i8 {
    fn from_byte(b: u8) -> i8 {
        b as i8
    }
}

/// An output element: a sentinel to detect stray writes, and its bits for exact
/// comparison (f32 by bit pattern, so NaN payloads and −0.0 count).
pub trait Out: OutType {
    /// Written everywhere before a call; must survive where nothing may be written.
    const SENTINEL: Self;
    /// The value's bits, zero-extended.
    fn bits(self) -> u32;
}
impl Out for u8 {
    const SENTINEL: u8 = 0xA5;
    fn bits(self) -> u32 {
        self as u32
    }
}
impl Out for i8 {
    const SENTINEL: i8 = -91;
    fn bits(self) -> u32 {
        self as u8 as u32
    }
}
impl Out for i32 {
    const SENTINEL: i32 = 0x5A5A_5A5A;
    fn bits(self) -> u32 {
        self as u32
    }
}
impl Out for f32 {
    // A signalling-NaN-looking pattern no computation here produces.
    const SENTINEL: f32 = f32::from_bits(0x7FA5_A5A5);
    fn bits(self) -> u32 {
        self.to_bits()
    }
}

/// The output element kinds, decoded from a byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutKind {
    /// i32 accumulators.
    I32,
    /// u8 codes.
    U8,
    /// i8 codes.
    I8,
    /// f32 values.
    F32,
}

impl OutKind {
    /// From a byte (modulo 4).
    pub fn from_u8(b: u8) -> Self {
        [OutKind::I32, OutKind::U8, OutKind::I8, OutKind::F32][b as usize % 4]
    }
    /// To a byte.
    pub fn to_u8(self) -> u8 {
        self as u8
    }
    /// The kernels' name.
    pub fn dst(self) -> DstType {
        match self {
            OutKind::I32 => DstType::I32,
            OutKind::U8 => DstType::U8,
            OutKind::I8 => DstType::I8,
            OutKind::F32 => DstType::F32,
        }
    }
}

/// One engine to check, with a label for messages.
#[derive(Clone, Debug)]
pub struct Checked {
    /// `isa (gemm kernel, element-wise kernels)`.
    pub label: String,
    /// The engine.
    pub engine: Engine,
}

/// The engines every target runs: one per distinct ISA among the available variants,
/// scalar first. Built once per process.
pub fn engines() -> &'static [Checked] {
    static ENGINES: OnceLock<Vec<Checked>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let mut isas: Vec<Isa> = vec![Isa::Scalar];
        for v in variants().into_iter().filter(|v| v.available) {
            if !isas.contains(&v.isa) {
                isas.push(v.isa);
            }
        }
        isas.into_iter()
            .map(|isa| {
                let engine = Engine::with_isa(isa)
                    .unwrap_or_else(|e| panic!("variants() says {isa} is available: {e}"));
                Checked {
                    label: format!(
                        "{isa} ({}, {})",
                        engine.gemm_kernel().name,
                        engine.elementwise_kernels().name
                    ),
                    engine,
                }
            })
            .collect()
    })
}

/// Panics with the first index where `got` and `want` differ (by bits), naming `what`.
pub fn assert_same_bits<T: Out>(what: &dyn Fn() -> String, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{}: lengths differ", what());
    if let Some(i) = (0..got.len()).find(|&i| got[i].bits() != want[i].bits()) {
        panic!(
            "{}: element {i} is {:?} (bits {:#x}) but the reference gives {:?} (bits {:#x})",
            what(),
            got[i],
            got[i].bits(),
            want[i],
            want[i].bits()
        );
    }
}

/// Whether `rows × cols` with `stride` fits in `len` elements with `stride >= cols`
/// (the safe API's layout rule).
pub fn layout_ok(len: usize, rows: usize, cols: usize, stride: usize) -> bool {
    stride >= cols && (rows == 0 || cols == 0 || (rows - 1) * stride + cols <= len)
}

/// Elements of a `rows × cols` buffer with `stride`, minus `short` (saturating).
pub fn buffer_len(rows: usize, cols: usize, stride: usize, short: usize) -> usize {
    let full = if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * stride + cols
    };
    full.saturating_sub(short)
}
