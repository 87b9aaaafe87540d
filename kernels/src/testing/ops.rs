//! The harness of the add and pooling tables ([`crate::OpsKernels`]): every function of
//! a table against the scalar definitions ([`crate::scalar::ops`]) with exact equality,
//! over every pair of codes, zero points and scales at both extremes (down to
//! subnormal-adjacent and up to overflowing products, which make the f32 sum ±inf or
//! NaN), exact ties, narrow clamps, lengths around every vector width, unaligned starts,
//! inputs ending at a guard page (over-reads fault) and canaries around the outputs
//! (over-writes are reported).

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::{Guarded, Rng};
use crate::scalar::ops::OPS as REF;
use crate::{AddArgs, OpsKernels};

const CANARY: u8 = 0xA5;

/// Lengths around the vector widths of every table (8, 16, 32, 64 lanes) and their
/// unrolls.
fn lengths() -> Vec<usize> {
    let mut v: Vec<usize> = (0..=70).collect();
    v.extend([
        95, 96, 97, 127, 128, 129, 191, 192, 193, 255, 256, 257, 1000,
    ]);
    v
}

/// The codes of a type as bytes: u8 `0..=255`, or i8 `−128..=127` as their bytes.
fn type_range(signed: bool) -> (i32, i32) {
    if signed {
        (-128, 127)
    } else {
        (0, 255)
    }
}

/// A zero point of the type: both ends, the middle, or random.
fn zero_point(rng: &mut Rng, signed: bool, pick: u64) -> i32 {
    let (lo, hi) = type_range(signed);
    match pick % 4 {
        0 => lo,
        1 => hi,
        2 => (lo + hi + 1) / 2,
        _ => rng.range(lo as i64, hi as i64) as i32,
    }
}

/// Scales from subnormal-adjacent to overflowing, ties-producing halves and ordinary.
const SCALES: [f32; 12] = [
    1.0,
    0.5,
    0.25,
    0.1,
    1.0 / 3.0,
    0.007_812_5,
    0.013,
    2.5,
    1e-38,
    1.5e-45,
    3.0e38,
    1e30,
];

/// Runs one add case through `t` and the reference; `a`/`b` hold the codes the steps
/// address, ending at a guard page.
fn run_add(t: &OpsKernels, args: &AddArgs, what: &str) -> Result<(), String> {
    let n = args.len;
    let mut got = vec![CANARY; n + 32];
    let mut want = vec![CANARY; n + 32];
    // the caller's `args` address valid inputs for `len` codes (see callers);
    // both destinations hold `len` codes after a 16-byte canary prefix; the CPU
    // supports `t.isa` (asserted by `check_ops`).
    // SAFETY: the conditions stated just above hold.
    unsafe {
        (REF.add)(&AddArgs {
            dst: want.as_mut_ptr().add(16),
            ..*args
        });
        (t.add)(&AddArgs {
            dst: got.as_mut_ptr().add(16),
            ..*args
        });
    }
    if got != want {
        let i = (0..got.len()).find(|&i| got[i] != want[i]).unwrap_or(0);
        let (x, y) = if (16..16 + n).contains(&i) {
            let j = i - 16;
            // SAFETY: j < len: inside both operands at their steps.
            unsafe { (*args.a.add(j * args.a_step), *args.b.add(j * args.b_step)) }
        } else {
            (0, 0)
        };
        return Err(format!(
            "{}: add {what} len {n} steps ({}, {}) signed {} za {} sa {:e} zb {} sb {:e} zc {} sc {:e} clamp [{}, {}]: {} {} (a byte {x:#04x}, b byte {y:#04x}): reference {} actual {}",
            t.name,
            args.a_step,
            args.b_step,
            args.signed,
            args.za,
            args.sa,
            args.zb,
            args.sb,
            args.zc,
            args.sc,
            args.lo,
            args.hi,
            if (16..16 + n).contains(&i) { "at" } else { "write outside the run at byte" },
            i as isize - 16,
            want[i],
            got[i]
        ));
    }
    Ok(())
}

/// The add against the reference: every pair of codes for several parameter sets, then
/// lengths × steps × random parameters at the extremes × unaligned starts.
fn check_add(t: &OpsKernels, rng: &mut Rng) -> Result<usize, String> {
    let mut count = 0;
    for signed in [false, true] {
        let (tmin, tmax) = type_range(signed);
        // Every pair of codes: A runs over all 256 codes, B is each code in turn, both
        // as a run (step 1) and broadcast (step 0).
        let all: Vec<u8> = (0..=255u8).collect();
        let ga = Guarded::new(&all);
        for (sa, sb, sc) in [
            (0.5f32, 0.5f32, 1.0f32),
            (0.1, 0.37, 0.05),
            (3.0e38, 3.0e38, 1.0),
            (1e-38, 1.5e-45, 1e-38),
            (0.02, 0.02, 3.0e38),
        ] {
            for pick in 0..4 {
                let za = zero_point(rng, signed, pick);
                let zb = zero_point(rng, signed, pick + 1);
                let zc = zero_point(rng, signed, pick + 2);
                for yb in 0..=255u8 {
                    let bb = vec![yb; 256];
                    let gb = Guarded::new(&bb);
                    for b_step in [0usize, 1] {
                        let b = if b_step == 0 {
                            // SAFETY: the last byte of the guarded buffer.
                            unsafe { gb.as_ptr().add(255) }
                        } else {
                            gb.as_ptr()
                        };
                        let args = AddArgs {
                            a: ga.as_ptr(),
                            a_step: 1,
                            b,
                            b_step,
                            dst: core::ptr::null_mut(),
                            len: 256,
                            signed,
                            za,
                            sa,
                            zb,
                            sb,
                            zc,
                            sc,
                            lo: tmin,
                            hi: tmax,
                        };
                        run_add(t, &args, "all pairs")?;
                        count += 256;
                    }
                }
            }
        }
        // Lengths, steps, unaligned starts, random parameters at the extremes.
        for len in lengths() {
            for (a_step, b_step) in [(1usize, 1usize), (1, 0), (0, 1), (0, 0)] {
                let off = rng.range(0, 3) as usize;
                let buf = |rng: &mut Rng, step: usize| -> Guarded {
                    let n = off + if step == 1 { len } else { 1 };
                    let v: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                    Guarded::new(&v)
                };
                let (ga, gb) = (buf(rng, a_step), buf(rng, b_step));
                let pick = rng.next_u64();
                let za = zero_point(rng, signed, pick);
                let zb = zero_point(rng, signed, pick >> 2);
                let zc = zero_point(rng, signed, pick >> 4);
                let sa = SCALES[rng.range(0, SCALES.len() as i64 - 1) as usize];
                let sb = SCALES[rng.range(0, SCALES.len() as i64 - 1) as usize];
                let sc = SCALES[rng.range(0, SCALES.len() as i64 - 1) as usize];
                let (lo, hi) = match rng.next_u64() % 4 {
                    0 => (tmin, tmax),
                    1 => (zc, tmax),
                    2 => (zc, zc + (tmax - zc).min(rng.range(0, 40) as i32)),
                    _ => {
                        let x = rng.range(tmin as i64, tmax as i64) as i32;
                        let y = rng.range(tmin as i64, tmax as i64) as i32;
                        (x.min(y), x.max(y))
                    }
                };
                let args = AddArgs {
                    // SAFETY: `off` < the buffers' lengths.
                    a: unsafe { ga.as_ptr().add(off) },
                    a_step,
                    // SAFETY: as above.
                    b: unsafe { gb.as_ptr().add(off) },
                    b_step,
                    dst: core::ptr::null_mut(),
                    len,
                    signed,
                    za,
                    sa,
                    zb,
                    sb,
                    zc,
                    sc,
                    lo,
                    hi,
                };
                run_add(t, &args, "sweep")?;
                count += len;
            }
        }
    }
    Ok(count)
}

/// Channel sums against the reference: channels around the widths, pixel counts around
/// the 16-bit chunk (256), fills at the extremes that drive the 16-bit sums to their
/// limits, both input types, zero points at both ends, unaligned starts.
fn check_sum(t: &OpsKernels, rng: &mut Rng) -> Result<usize, String> {
    let mut count = 0;
    let channels: Vec<usize> = (0..=40)
        .chain([47, 48, 49, 63, 64, 65, 80, 127, 128, 129, 200])
        .collect();
    let pixels = [0usize, 1, 2, 3, 255, 256, 257, 600];
    for (ci, &c) in channels.iter().enumerate() {
        for (pi, &p) in pixels.iter().enumerate() {
            let fill = (ci + pi) % 5;
            let off = (ci + 3 * pi) % 4;
            let n = c * p;
            let v: Vec<u8> = (0..off + n)
                .map(|_| match fill {
                    0 => 0xff,
                    1 => 0x80,
                    2 => 0x7f,
                    3 => 0x00,
                    _ => rng.byte(),
                })
                .collect();
            let g = Guarded::new(&v);
            for (xor, zx) in [
                (0u8, 0),
                (0, 255),
                (0, 97),
                (0x80, 0),
                (0x80, 128),
                (0x80, 255),
            ] {
                let mut got = vec![0x5a5a_5a5ai32; c + 2];
                let mut want = got.clone();
                // the source holds `pixels·channels` bytes after `off`; the
                // outputs hold `channels` i32 after one canary; the CPU supports the
                // table (asserted by `check_ops`).
                // SAFETY: the conditions stated just above hold.
                unsafe {
                    let src = g.as_ptr().add(off);
                    (REF.sum_pixels)(src, p, c, xor, zx, want.as_mut_ptr().add(1));
                    (t.sum_pixels)(src, p, c, xor, zx, got.as_mut_ptr().add(1));
                }
                if got != want {
                    let i = (0..got.len()).find(|&i| got[i] != want[i]).unwrap_or(0);
                    return Err(format!(
                        "{}: sum_pixels channels {c} pixels {p} xor {xor:#x} zx {zx} fill {fill}: at {} reference {} actual {}",
                        t.name,
                        i as isize - 1,
                        want[i],
                        got[i]
                    ));
                }
                count += n;
            }
        }
    }
    // Many 16-bit chunks: all-255 (u8) and all −128 (i8) over 70 000 pixels.
    for (byte, xor, zx) in [(0xffu8, 0u8, 0), (0x80, 0x80, 255), (0x7f, 0x80, 0)] {
        let (c, p) = (69usize, 70_000usize);
        let g = Guarded::new(&vec![byte; c * p]);
        let mut got = vec![0i32; c];
        let mut want = vec![1i32; c];
        // SAFETY: as above.
        unsafe {
            (REF.sum_pixels)(g.as_ptr(), p, c, xor, zx, want.as_mut_ptr());
            (t.sum_pixels)(g.as_ptr(), p, c, xor, zx, got.as_mut_ptr());
        }
        if got != want {
            return Err(format!(
                "{}: sum_pixels of {p} pixels of {byte:#04x}: reference {:?} actual {:?}",
                t.name,
                &want[..4],
                &got[..4]
            ));
        }
        count += c * p;
    }
    Ok(count)
}

/// Max over taps against the reference: 1 to 9 taps, channels around the widths, both
/// types, extreme codes, unaligned taps, the last tap ending at a guard page.
fn check_max(t: &OpsKernels, rng: &mut Rng) -> Result<usize, String> {
    let mut count = 0;
    let channels: Vec<usize> = (0..=70).chain([95, 96, 97, 127, 128, 129, 200]).collect();
    for &c in &channels {
        for taps_n in [1usize, 2, 3, 4, 9] {
            let stride = c + 3;
            let v: Vec<u8> = (0..stride * taps_n + 1).map(|_| rng.byte()).collect();
            let g = Guarded::new(&v);
            // Tap t starts at 1 + t·stride + (t % 4): unaligned; the last one may end at
            // the guard page.
            let taps: Vec<*const u8> = (0..taps_n)
                .map(|k| {
                    let start = (1 + k * stride + k % 4).min(g.len() - c);
                    // SAFETY: start + c ≤ the buffer's length.
                    unsafe { g.as_ptr().add(start) }
                })
                .collect();
            for signed in [false, true] {
                let mut got = vec![CANARY; c + 32];
                let mut want = got.clone();
                // SAFETY: every tap holds `c` bytes; the outputs hold `c` bytes after
                // a 16-byte canary prefix; the CPU supports the table.
                unsafe {
                    (REF.max_pixel)(&taps, c, signed, want.as_mut_ptr().add(16));
                    (t.max_pixel)(&taps, c, signed, got.as_mut_ptr().add(16));
                }
                if got != want {
                    let i = (0..got.len()).find(|&i| got[i] != want[i]).unwrap_or(0);
                    return Err(format!(
                        "{}: max_pixel channels {c} taps {taps_n} signed {signed}: at {} reference {} actual {}",
                        t.name,
                        i as isize - 16,
                        want[i],
                        got[i]
                    ));
                }
                count += c * taps_n;
            }
        }
    }
    Ok(count)
}

/// Checks an add and pooling table against the scalar reference (see the module docs);
/// returns the number of values compared, or a message naming the table, the function,
/// the case, the index, the reference and the actual value.
pub fn check_ops(t: &OpsKernels) -> Result<usize, String> {
    assert!(
        t.isa.is_supported(),
        "check_ops called for an unsupported table"
    );
    let mut rng = Rng(0x0b5e_55ed);
    let mut count = check_add(t, &mut rng)?;
    count += check_sum(t, &mut rng)?;
    count += check_max(t, &mut rng)?;
    Ok(count)
}
