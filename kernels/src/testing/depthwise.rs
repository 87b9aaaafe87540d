//! The depthwise part of the harness: [`DepthwiseCase`] + [`check_depthwise`] (one pixel
//! through a kernel's packer and kernel, against [`crate::scalar::depthwise::reference`])
//! and [`depthwise_sweep`] (the deterministic sweep every depthwise kernel runs).

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::{Guarded, Rng};
use crate::scalar::depthwise::reference;
use crate::{DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs};

/// Which weights a case has (codes and zero points).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightMode {
    /// i8 codes in `[−127, 127]`, zero point 0 (per-channel symmetric: `w'` fits i8).
    SymmetricI8,
    /// i8 codes, random i8 zero point per channel (`w'` up to ±255).
    AsymmetricI8,
    /// u8 codes, zero point 128 (`w'` fits i8).
    U8Mid,
    /// u8 codes, random u8 zero point per channel.
    AsymmetricU8,
    /// i8 codes −128 / 127 with zero points −128 / 127: `w' ∈ {−255, 0, 255}`.
    ExtremeI8,
    /// i8 codes −128 / 127 / 0, zero point 0: `w'` at both ends of i8.
    EdgeI8,
}

impl WeightMode {
    /// Every mode.
    pub const ALL: [WeightMode; 6] = [
        WeightMode::SymmetricI8,
        WeightMode::AsymmetricI8,
        WeightMode::U8Mid,
        WeightMode::AsymmetricU8,
        WeightMode::ExtremeI8,
        WeightMode::EdgeI8,
    ];
}

/// One depthwise pixel: `T` taps of `C` channels, multiplier `M`.
#[derive(Clone, Debug)]
pub struct DepthwiseCase {
    /// Taps `T`.
    pub taps: usize,
    /// Input channels `C`.
    pub channels: usize,
    /// Multiplier `M`.
    pub multiplier: usize,
    /// Distinct input pixels (`C` bytes each).
    pub pixels: Vec<Vec<u8>>,
    /// Per tap, the pixel it reads, or `None` (padding: a null pointer).
    pub tap_pixel: Vec<Option<usize>>,
    /// 0 (u8 input) or 0x80 (i8 input).
    pub xor: u8,
    /// Canonical input zero point (`0..=255`).
    pub zx: i32,
    /// Weight codes, `w[t·C·M + oc]`.
    pub w: Vec<u8>,
    /// 0 (i8 codes) or 0x80 (u8 codes).
    pub w_xor: u8,
    /// Canonical weight zero point per output channel (`−128..=127`).
    pub zw: Vec<i32>,
    /// Pack from output-channel-major weights (`t_stride = 1`, `oc_stride = T`, as OHWI)
    /// instead of tap-major ones.
    pub oc_major: bool,
    /// The weight mode (for messages).
    pub mode: WeightMode,
}

impl DepthwiseCase {
    /// A random case. `nulls`: 0 none, 1 every third tap, 2 all, 3 about a third at
    /// random. `extreme`: inputs only 0x00/0x7f/0x80/0xff. `distinct`: how many distinct
    /// input pixels the taps cycle through (at most `T`).
    #[allow(clippy::too_many_arguments)]
    pub fn random(
        rng: &mut Rng,
        taps: usize,
        channels: usize,
        multiplier: usize,
        mode: WeightMode,
        input: (u8, i32),
        nulls: u8,
        extreme: bool,
        distinct: usize,
    ) -> DepthwiseCase {
        let n_oc = channels * multiplier;
        let distinct = distinct.clamp(1, taps);
        let pixels = (0..distinct)
            .map(|_| {
                (0..channels)
                    .map(|_| {
                        if extreme {
                            [0x00, 0x7f, 0x80, 0xff][rng.next_u64() as usize % 4]
                        } else {
                            rng.byte()
                        }
                    })
                    .collect()
            })
            .collect();
        let tap_pixel = (0..taps)
            .map(|t| {
                let null = match nulls {
                    0 => false,
                    1 => t % 3 == 2,
                    2 => true,
                    _ => rng.next_u64().is_multiple_of(3),
                };
                (!null).then_some(t % distinct)
            })
            .collect();
        let mut w = vec![0u8; taps * n_oc];
        let mut zw = vec![0i32; n_oc];
        let w_xor = match mode {
            WeightMode::U8Mid | WeightMode::AsymmetricU8 => 0x80,
            _ => 0,
        };
        for (oc, z) in zw.iter_mut().enumerate() {
            *z = match mode {
                WeightMode::SymmetricI8 | WeightMode::U8Mid | WeightMode::EdgeI8 => 0,
                WeightMode::AsymmetricI8 | WeightMode::AsymmetricU8 => rng.byte() as i8 as i32,
                WeightMode::ExtremeI8 => [-128, 127][oc % 2],
            };
        }
        for t in 0..taps {
            for oc in 0..n_oc {
                w[t * n_oc + oc] = match mode {
                    WeightMode::SymmetricI8 => {
                        let r = rng.next_u64();
                        if r.is_multiple_of(4) {
                            [0x81u8, 0x7f][(r >> 8) as usize % 2]
                        } else {
                            (rng.range(-127, 127) as i8) as u8
                        }
                    }
                    WeightMode::ExtremeI8 => [0x80, 0x7f][rng.next_u64() as usize % 2],
                    WeightMode::EdgeI8 => [0x80, 0x7f, 0x00][rng.next_u64() as usize % 3],
                    _ => rng.byte(),
                };
            }
        }
        DepthwiseCase {
            taps,
            channels,
            multiplier,
            pixels,
            tap_pixel,
            xor: input.0,
            zx: input.1,
            w,
            w_xor,
            zw,
            oc_major: rng.next_u64().is_multiple_of(2),
            mode,
        }
    }
}

/// 64-byte-aligned storage for packed weights.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

const CANARY: u8 = 0xA5;
const OUT_CANARY: i32 = 0x5A5A_5A5A;

/// Packs `case` with `kernel.pack` (into a 64-byte-aligned buffer followed by
/// canaries), runs `kernel.pixel` with every tap ending right before a guard page and the
/// output between canaries, and compares with the reference. The caller checks that the
/// CPU supports `kernel.isa`.
pub fn check_depthwise(kernel: &DepthwiseKernel, case: &DepthwiseCase) -> Result<(), String> {
    assert!(
        kernel.isa.is_supported(),
        "check_depthwise called for an unsupported kernel"
    );
    let (t_n, c, m) = (case.taps, case.channels, case.multiplier);
    let n_oc = c * m;
    let fail = |what: String| {
        Err(format!(
            "{} (layout {}) T={t_n} C={c} M={m} xor={:#x} zx={} weights {:?} (w_xor={:#x}, oc_major={}) nulls {}/{t_n}: {what}",
            kernel.name,
            kernel.layout,
            case.xor,
            case.zx,
            case.mode,
            case.w_xor,
            case.oc_major,
            case.tap_pixel.iter().filter(|p| p.is_none()).count(),
        ))
    };
    // Pack.
    let len = (kernel.packed_len)(t_n, c, m);
    let mut lines = vec![Line([CANARY; 64]); len.div_ceil(64) + 1];
    let w_src: Vec<u8> = if case.oc_major {
        (0..n_oc * t_n)
            .map(|i| case.w[(i % t_n) * n_oc + i / t_n])
            .collect()
    } else {
        case.w.clone()
    };
    let (t_stride, oc_stride) = if case.oc_major { (1, t_n) } else { (n_oc, 1) };
    let pa = DepthwisePackArgs {
        w: w_src.as_ptr(),
        t_stride,
        oc_stride,
        xor: case.w_xor,
        zw: case.zw.as_ptr(),
        taps: t_n,
        channels: c,
        multiplier: m,
        dst: lines.as_mut_ptr() as *mut u8,
    };
    // SAFETY: `w_src` holds T·C·M codes at the given strides, `zw` C·M values, the
    // destination `len` bytes (and more), 64-byte aligned.
    unsafe { (kernel.pack)(&pa) };
    // SAFETY: `lines` holds ceil(len/64)+1 lines of 64 initialised bytes.
    let packed =
        unsafe { core::slice::from_raw_parts(lines.as_ptr() as *const u8, lines.len() * 64) };
    if packed[len..].iter().any(|&b| b != CANARY) {
        return fail(format!("pack wrote past its {len} bytes"));
    }
    // Run.
    let guarded: Vec<Guarded> = case.pixels.iter().map(|p| Guarded::new(p)).collect();
    let taps: Vec<*const u8> = case
        .tap_pixel
        .iter()
        .map(|p| p.map_or(core::ptr::null(), |i| guarded[i].as_ptr()))
        .collect();
    let lead = 16;
    let mut out = vec![OUT_CANARY; lead + n_oc + lead];
    let args = DepthwiseArgs {
        taps: taps.as_ptr(),
        n_taps: t_n,
        channels: c,
        multiplier: m,
        packed: packed.as_ptr(),
        xor: case.xor,
        zx: case.zx,
        // SAFETY: `lead` elements into a buffer of lead + C·M + lead.
        out: unsafe { out.as_mut_ptr().add(lead) },
    };
    // SAFETY: CPU support asserted; every non-null tap holds C bytes, `packed` was
    // packed by this kernel for (T, C, M), `out` holds C·M i32.
    unsafe { (kernel.pixel)(&args) };
    // Compare.
    let tap_slices: Vec<Option<&[u8]>> = case
        .tap_pixel
        .iter()
        .map(|p| p.map(|i| case.pixels[i].as_slice()))
        .collect();
    let mut want = vec![0i32; n_oc];
    reference(
        &tap_slices,
        case.xor,
        case.zx,
        &case.w,
        case.w_xor,
        &case.zw,
        m,
        &mut want,
    );
    let got = &out[lead..lead + n_oc];
    if let Some(oc) = (0..n_oc).find(|&oc| got[oc] != want[oc]) {
        return fail(format!(
            "mismatch at output channel {oc} (input channel {}): reference {} actual {}",
            oc / m,
            want[oc],
            got[oc]
        ));
    }
    if out[..lead]
        .iter()
        .chain(&out[lead + n_oc..])
        .any(|&v| v != OUT_CANARY)
    {
        return fail("wrote outside the C·M outputs".into());
    }
    Ok(())
}

/// The deterministic sweep for one depthwise kernel; returns the number of cases, or the
/// first failure. Channels `1..=70` and around 128 and 256 (every vector width and block
/// size, odd counts), taps 1 to 25 (padded groups of four), multipliers 1 to 8, every
/// weight mode (i8 and u8 codes, zero points at both ends, `w'` inside and outside i8),
/// u8 and i8 input with zero points at both ends, null taps (none, some, all), inputs of
/// extremes only, and T large enough to wrap i32.
pub fn depthwise_sweep(kernel: &DepthwiseKernel) -> Result<usize, String> {
    let mut rng = Rng(0xD3E9_7415 ^ kernel.name.len() as u64);
    let inputs = |rng: &mut Rng, i: usize| -> (u8, i32) {
        // (xor, canonical zx): u8 0 / 255 / random, i8 −128 / 127 / random.
        match i % 6 {
            0 => (0, 0),
            1 => (0, 255),
            2 => (0, rng.range(1, 254) as i32),
            3 => (0x80, 0),
            4 => (0x80, 255),
            _ => (0x80, rng.range(1, 254) as i32),
        }
    };
    let mut count = 0;
    let mut idx = 0usize;
    let run = |case: DepthwiseCase, count: &mut usize| -> Result<(), String> {
        check_depthwise(kernel, &case)?;
        *count += 1;
        Ok(())
    };
    // M = 1: every channel count up to 70 and around the larger blocks.
    for c in (1..=70).chain([127, 128, 129, 255, 256, 257]) {
        for t in [1usize, 2, 3, 4, 5, 8, 9, 13, 25] {
            for _ in 0..2 {
                let mode = WeightMode::ALL[idx % WeightMode::ALL.len()];
                let input = inputs(&mut rng, idx / 2);
                let nulls = (idx / 3 % 4) as u8;
                let case = DepthwiseCase::random(&mut rng, t, c, 1, mode, input, nulls, false, t);
                run(case, &mut count)?;
                idx += 1;
            }
        }
    }
    // M > 1.
    for m in [2usize, 3, 4, 5, 8] {
        for c in [
            1usize, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70, 129,
        ] {
            for t in [1usize, 4, 5, 9] {
                for _ in 0..2 {
                    let mode = WeightMode::ALL[idx % WeightMode::ALL.len()];
                    let input = inputs(&mut rng, idx / 2);
                    let nulls = (idx / 3 % 4) as u8;
                    let case =
                        DepthwiseCase::random(&mut rng, t, c, m, mode, input, nulls, false, t);
                    run(case, &mut count)?;
                    idx += 1;
                }
            }
        }
    }
    // Extremes only: every weight mode × every input zero point end, M = 1 and 2.
    for mode in WeightMode::ALL {
        for i in [0, 1, 3, 4] {
            for (c, m) in [(16, 1), (64, 1), (70, 1), (33, 2), (65, 2)] {
                let input = inputs(&mut rng, i);
                let case = DepthwiseCase::random(&mut rng, 9, c, m, mode, input, 0, true, 9);
                run(case, &mut count)?;
            }
        }
    }
    // T large enough to wrap i32: |x − zx|·|w'| reaches 255·255 (outside-i8 weights) or
    // 255·128 (weights that fit i8) per tap; 70 000 taps of one extreme pixel.
    for (mode, input) in [
        (WeightMode::ExtremeI8, (0u8, 0)),
        (WeightMode::ExtremeI8, (0x80, 255)),
        (WeightMode::EdgeI8, (0, 255)),
        (WeightMode::EdgeI8, (0x80, 0)),
    ] {
        for (c, m) in [(17, 2), (70, 1)] {
            let mut case = DepthwiseCase::random(&mut rng, 70_000, c, m, mode, input, 0, true, 1);
            // The same weight on every tap: the products of a channel all have one sign.
            let n_oc = c * m;
            let first = case.w[..n_oc].to_vec();
            for row in case.w.chunks_exact_mut(n_oc) {
                row.copy_from_slice(&first);
            }
            run(case, &mut count)?;
        }
    }
    Ok(count)
}
