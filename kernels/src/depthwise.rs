//! The packed weight layouts of the depthwise kernels ([`crate::DepthwiseKernel`]) and
//! their packers (plain Rust, run once per layer on any CPU).
//!
//! Every layout starts with a [`HEADER`]-byte header: a `u32` of flags at byte 0
//! ([`FLAG_ZW`]), then `T`, `C`, `M` as `u32` at bytes 4, 8 and 12 (the kernels check them
//! in debug builds). The rest is a multiple of 64 bytes, so in a buffer aligned to
//! [`ALIGN`] every 64-byte block the kernels load is aligned.
//!
//! Notation: `T` taps, `C` input channels, `M` channel multiplier, output channel
//! `oc = ic·M + j` (plane `j` of input channel `ic`); `wc` the canonical i8 weight code
//! (`code ^ xor`), `zwc` its canonical zero point, `w' = wc − zwc ∈ [−255, 255]`.
//!
//! ## `i16` (scalar, AVX2, AVX-512BW, NEON)
//! After the header, `w'` as i16, plane-major: element `(j·T + t)·C + ic` holds `w'` of
//! tap `t`, output channel `ic·M + j`. For `M = 1` this is `w'[t·C + c]`: a kernel reads
//! the weights of one tap for consecutive channels with one contiguous load. No flag.
//!
//! ## `c4x<BC>` (AVX-512 VNNI: `BC = 64`; dotprod: `BC = 16`)
//! For the 4-byte dot products (`vpdpbusd`, `sdot`): four taps' weights of one output
//! channel are the four bytes of one 32-bit lane. The channels are cut into blocks of
//! `BC` input channels (the last one padded), the taps into `G = ⌈T/4⌉` groups of four
//! (the last one padded). For each block `b` and then each plane `j`, one *plane record*
//! of [`c4_plane_bytes`] bytes:
//!
//! ```text
//! G × 4·BC bytes   weights: byte 4·s + k of group g = w of tap 4g + k, input channel
//!                  b·BC + slot_ic(s), output channel (b·BC + slot_ic(s))·M + j
//! BC i32           wsum[s] = Σ over all 4G tap slots of (w − zwp[s])   (wrapping)
//! BC i32           zwp[s]
//! ```
//! `slot_ic` is the kernel's order of the channels inside a block (the order its
//! interleaving of four tap vectors produces; the identity for dotprod), and padding
//! slots (tap ≥ T or channel ≥ C) hold weight 0. Two cases, chosen per layer:
//! - every `w'` fits i8 (symmetric i8 weights, u8 weights with zero point 128, narrow
//!   asymmetric ones): `w = w'`, `zwp = 0`, flag clear;
//! - otherwise: `w = wc` (always i8), `zwp = zwc`, flag [`FLAG_ZW`] set, and the kernel
//!   also sums its input.
//!
//! A kernel reads the input in its own domain `x̂` with zero point `ẑ` (`x̂ − ẑ = x − zx`:
//! `vpdpbusd` the canonical u8, `sdot` the canonical u8 − 128), reads `ẑ` for null taps
//! and padding slots, and computes
//!
//! ```text
//! Σ_slots x̂·w − ẑ·wsum − zwp·Σ_slots x̂  =  Σ_slots (x̂ − ẑ)(w − zwp)  =  Σ_{taps} (x − zx)·w'
//! ```
//! an identity of integers, hence exact in wrapping i32; the slots reading `ẑ` contribute
//! 0, so null taps and padding drop out. Without the flag the last term is 0.

use crate::DepthwisePackArgs;

/// Alignment (bytes) of a packed depthwise buffer.
pub const ALIGN: usize = 64;

/// Bytes of the header of every depthwise layout.
pub const HEADER: usize = 64;

/// Header flag of the `c4` layouts: the weights are canonical codes with per-channel zero
/// points `zwp`, so the kernel subtracts `zwp·Σ x̂`.
pub const FLAG_ZW: u32 = 1;

/// The header flags of a packed buffer.
///
/// # Safety
/// `packed` points at a packed depthwise buffer (at least [`HEADER`] bytes).
#[inline(always)]
pub unsafe fn flags(packed: *const u8) -> u32 {
    // SAFETY: the header is 64 bytes (contract).
    unsafe { (packed as *const u32).read_unaligned() }
}

/// Whether the header records `(taps, channels, multiplier)` (for debug assertions).
///
/// # Safety
/// As [`flags`].
pub unsafe fn header_matches(packed: *const u8, taps: usize, channels: usize, m: usize) -> bool {
    // SAFETY: bytes 4..16 are inside the header (contract).
    let get = |i: usize| unsafe { (packed.add(4 * i) as *const u32).read_unaligned() } as usize;
    (get(1), get(2), get(3)) == (taps, channels, m)
}

/// Zeroes `len` bytes at `dst` and writes the header.
///
/// # Safety
/// `dst` is valid for `len ≥ HEADER` bytes.
unsafe fn start(a: &DepthwisePackArgs, len: usize, flags: u32) {
    // SAFETY: `dst` holds `len` bytes, the header its first 64 (contract).
    unsafe {
        core::ptr::write_bytes(a.dst, 0, len);
        for (i, v) in [flags as usize, a.taps, a.channels, a.multiplier]
            .into_iter()
            .enumerate()
        {
            (a.dst.add(4 * i) as *mut u32).write_unaligned(v as u32);
        }
    }
}

/// The canonical code `wc` and zero point `zwc` of tap `t`, output channel `oc`.
///
/// # Safety
/// `t < T`, `oc < C·M`, and the pointers of `a` valid (packing contract).
#[inline(always)]
unsafe fn code(a: &DepthwisePackArgs, t: usize, oc: usize) -> (i32, i32) {
    // SAFETY: inside the extents of the contract.
    unsafe {
        let b = *a.w.add(t * a.t_stride + oc * a.oc_stride) ^ a.xor;
        (b as i8 as i32, *a.zw.add(oc))
    }
}

/// Bytes of the `i16` layout.
pub const fn i16_packed_len(taps: usize, channels: usize, multiplier: usize) -> usize {
    HEADER + (2 * taps * channels * multiplier).div_ceil(64) * 64
}

/// Packs the `i16` layout.
///
/// # Safety
/// See [`crate::DepthwiseKernel::pack`], with the length of [`i16_packed_len`].
pub unsafe fn pack_i16(a: &DepthwisePackArgs) {
    let (t_n, c, m) = (a.taps, a.channels, a.multiplier);
    // SAFETY: the destination holds `i16_packed_len` bytes (contract).
    unsafe { start(a, i16_packed_len(t_n, c, m), 0) };
    // SAFETY: in bounds of the header-aligned destination.
    let w = unsafe { a.dst.add(HEADER) } as *mut i16;
    for j in 0..m {
        for t in 0..t_n {
            for ic in 0..c {
                // SAFETY: t < T, ic·M + j < C·M; the element index is below T·C·M.
                unsafe {
                    let (wc, zwc) = code(a, t, ic * m + j);
                    w.add((j * t_n + t) * c + ic)
                        .write_unaligned((wc - zwc) as i16);
                }
            }
        }
    }
}

/// Bytes of one plane record of the `c4x<bc>` layout for `taps` taps.
pub const fn c4_plane_bytes(bc: usize, taps: usize) -> usize {
    taps.div_ceil(4) * 4 * bc + 8 * bc
}

/// Bytes of the `c4x<bc>` layout.
pub const fn c4_packed_len(bc: usize, taps: usize, channels: usize, multiplier: usize) -> usize {
    HEADER + channels.div_ceil(bc) * multiplier * c4_plane_bytes(bc, taps)
}

/// Packs the `c4x<bc>` layout with the kernel's channel order `slot_ic` (a permutation
/// of `0..bc`).
///
/// # Safety
/// See [`crate::DepthwiseKernel::pack`], with the length of [`c4_packed_len`].
pub unsafe fn pack_c4(a: &DepthwisePackArgs, bc: usize, slot_ic: fn(usize) -> usize) {
    let (t_n, c, m) = (a.taps, a.channels, a.multiplier);
    let g_n = t_n.div_ceil(4);
    let mut fits = true;
    for oc in 0..c * m {
        for t in 0..t_n {
            // SAFETY: t < T, oc < C·M.
            let (wc, zwc) = unsafe { code(a, t, oc) };
            fits &= (-128..=127).contains(&(wc - zwc));
        }
    }
    // SAFETY: the destination holds `c4_packed_len` bytes (contract).
    unsafe {
        start(
            a,
            c4_packed_len(bc, t_n, c, m),
            if fits { 0 } else { FLAG_ZW },
        )
    };
    let plane = c4_plane_bytes(bc, t_n);
    for b in 0..c.div_ceil(bc) {
        for j in 0..m {
            // SAFETY: record (b, j) lies inside the destination.
            let rec = unsafe { a.dst.add(HEADER + (b * m + j) * plane) };
            for s in 0..bc {
                let ic = b * bc + slot_ic(s);
                if ic >= c {
                    continue; // zeroed by `start`
                }
                let oc = ic * m + j;
                // SAFETY: oc < C·M.
                let zwc = unsafe { *a.zw.add(oc) };
                let zwp = if fits { 0 } else { zwc };
                let mut wsum = 0i32;
                for slot in 0..4 * g_n {
                    let w = if slot < t_n {
                        // SAFETY: slot < T, oc < C·M.
                        let (wc, _) = unsafe { code(a, slot, oc) };
                        if fits {
                            wc - zwc
                        } else {
                            wc
                        }
                    } else {
                        0
                    };
                    let (g, k) = (slot / 4, slot % 4);
                    // SAFETY: inside the G·4·BC weight bytes of the record.
                    unsafe { *rec.add(g * 4 * bc + 4 * s + k) = w as i8 as u8 };
                    wsum = wsum.wrapping_add(w - zwp);
                }
                // SAFETY: the two i32 arrays follow the weights inside the record.
                unsafe {
                    let sums = rec.add(g_n * 4 * bc) as *mut i32;
                    sums.add(s).write_unaligned(wsum);
                    sums.add(bc + s).write_unaligned(zwp);
                }
            }
        }
    }
}

/// Writes `src[i]` (results of input channels `ic0 + i`, plane `j`) to
/// `out[(ic0 + i)·m + j]`: how the kernels store a plane for `M > 1`.
///
/// # Safety
/// `out` is valid for `(ic0 + src.len())·m` i32 and `j < m`.
#[inline(always)]
pub unsafe fn scatter_plane(src: &[i32], out: *mut i32, ic0: usize, m: usize, j: usize) {
    for (i, &v) in src.iter().enumerate() {
        // SAFETY: (ic0 + i)·m + j < (ic0 + src.len())·m (contract).
        unsafe { *out.add((ic0 + i) * m + j) = v };
    }
}
