//! Scalar GEMM microkernel `gemm_u8i8_4x8c1` and its packer.
//!
//! Portable; exists so that the packed-weight path (packing, zero-point correction,
//! tile edges, fused output stage) is exercised on every CPU, and as the fallback.
//! Inner loop per k: one A load per row, `NR` B loads, `MR·NR` i32 multiply-adds.

use crate::{GemmKernel, Isa, PackArgs, TileArgs};

const MR: usize = 4;
const NR: usize = 8;
const KR: usize = 1;

/// The scalar GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "scalar::gemm_u8i8_4x8c1",
    isa: Isa::Scalar,
    mr: MR,
    nr: NR,
    kr: KR,
    pack: pack::<NR, KR>,
    pack_a: None,
    tile: tile::<MR, NR, KR>,
    tile_indirect: None,
    session: None,
};

/// Packs B into panels of `NR` columns, `KR` consecutive K values per column (layout on
/// [`PackArgs`]), and writes the column sums. Portable, used by every kernel table whose
/// layout is this one; two fast paths cover the common contiguous layouts:
/// - N×K rows (`k_stride == 1`): each column's K bytes are contiguous and are copied in
///   `KR`-byte pieces, the column sum taken over the contiguous row;
/// - K×N rows (`n_stride == 1`): the `KR` rows of a group are read (`NR` contiguous
///   bytes each; rows past K are zeros) and transposed into the group's `NR × KR` bytes,
///   written in order, the sums kept in an `NR`-wide accumulator.
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for this `NR`/`KR`.
pub unsafe fn pack<const NR: usize, const KR: usize>(args: &PackArgs) {
    let kp = args.k.div_ceil(KR) * KR;
    let panels = args.n.div_ceil(NR);
    // dst holds panels·kp·NR bytes and colsum panels·NR values (contract), possibly
    // uninitialised: both are zeroed through the raw pointers before they are viewed as
    // slices.
    // SAFETY: the extents stated just above.
    let (dst, colsum) = unsafe {
        core::ptr::write_bytes(args.dst, 0, panels * kp * NR);
        core::ptr::write_bytes(args.colsum, 0, panels * NR);
        (
            core::slice::from_raw_parts_mut(args.dst, panels * kp * NR),
            core::slice::from_raw_parts_mut(args.colsum, panels * NR),
        )
    };
    let (k, n, x) = (args.k, args.n, args.xor);
    if args.k_stride == 1 {
        let full = k / KR;
        for p in 0..panels {
            let width = NR.min(n - p * NR);
            let panel = &mut dst[p * kp * NR..(p + 1) * kp * NR];
            // SAFETY: columns p·NR + j < N hold K contiguous bytes at (p·NR + j)·n_stride.
            let rows: [&[u8]; NR] = core::array::from_fn(|j| unsafe {
                if j < width {
                    core::slice::from_raw_parts(args.src.add((p * NR + j) * args.n_stride), k)
                } else {
                    &[]
                }
            });
            // Whole groups: KR bytes of each of the panel's columns, written contiguously
            // (one unaligned KR-byte load and store per column and group).
            let flip = [x; KR];
            for (g, out) in panel.chunks_exact_mut(NR * KR).take(full).enumerate() {
                for (row, piece) in rows.iter().take(width).zip(out.chunks_exact_mut(KR)) {
                    // SAFETY: g < full = K / KR, so bytes g·KR..g·KR + KR are inside the row.
                    let v: [u8; KR] =
                        unsafe { (row.as_ptr().add(g * KR) as *const [u8; KR]).read_unaligned() };
                    let v: [u8; KR] = core::array::from_fn(|t| v[t] ^ flip[t]);
                    // SAFETY: `piece` is KR bytes long; i8 and u8 share their layout.
                    unsafe { (piece.as_mut_ptr() as *mut [u8; KR]).write_unaligned(v) };
                }
            }
            // The last partial group (zero-padded).
            if full * KR < k {
                let out = &mut panel[full * NR * KR..];
                for (row, piece) in rows.iter().take(width).zip(out.chunks_exact_mut(KR)) {
                    for (d, &b) in piece.iter_mut().zip(&row[full * KR..]) {
                        *d = (b ^ x) as i8;
                    }
                }
            }
            for (j, row) in rows.iter().take(width).enumerate() {
                colsum[p * NR + j] = row
                    .iter()
                    .fold(0i32, |s, &b| s.wrapping_add((b ^ x) as i8 as i32));
            }
        }
    } else if args.n_stride == 1 {
        for p in 0..panels {
            let width = NR.min(n - p * NR);
            let panel = &mut dst[p * kp * NR..(p + 1) * kp * NR];
            let mut sums = [0i32; NR];
            for (g, out) in panel.chunks_exact_mut(NR * KR).enumerate() {
                // The KR source rows of this group (rows at or past K read as zeros): a
                // KR×width transpose into NR groups of KR bytes, written in order.
                let mut rows = [[0u8; NR]; KR];
                for (t, r) in rows.iter_mut().enumerate() {
                    let kk = g * KR + t;
                    if kk < k {
                        // SAFETY: row kk < K holds N contiguous bytes; p·NR + width <= N.
                        let src = unsafe {
                            core::slice::from_raw_parts(
                                args.src.add(kk * args.k_stride + p * NR),
                                width,
                            )
                        };
                        for (d, &b) in r.iter_mut().zip(src) {
                            *d = b ^ x;
                        }
                    }
                }
                for (j, piece) in out.chunks_exact_mut(KR).enumerate().take(width) {
                    for (t, d) in piece.iter_mut().enumerate() {
                        let v = rows[t][j] as i8;
                        *d = v;
                        sums[j] = sums[j].wrapping_add(v as i32);
                    }
                }
            }
            colsum[p * NR..p * NR + width].copy_from_slice(&sums[..width]);
        }
    } else {
        for (col, total) in colsum.iter_mut().enumerate().take(n) {
            let (p, j) = (col / NR, col % NR);
            let mut sum = 0i32;
            for kk in 0..k {
                // SAFETY: kk < K and col < N address an element of B.
                let b = unsafe { *args.src.add(kk * args.k_stride + col * args.n_stride) };
                let v = (b ^ x) as i8;
                sum = sum.wrapping_add(v as i32);
                dst[p * kp * NR + (kk / KR) * NR * KR + j * KR + kk % KR] = v;
            }
            *total = sum;
        }
    }
}

/// Packs columns `col0..N` of `args` (`col0` a multiple of `NR`) with [`pack`]: the
/// panels from `col0 / NR` on, with their column sums. The SIMD packers use it for a
/// partial last panel; nothing happens when `col0 >= N`.
///
/// # Safety
/// As for [`pack`]; `col0` is a multiple of `NR`.
pub unsafe fn pack_columns_from<const NR: usize, const KR: usize>(args: &PackArgs, col0: usize) {
    if col0 >= args.n {
        return;
    }
    let kp = args.k.div_ceil(KR) * KR;
    // Column col0 < N is an element of B; panel col0 / NR starts at byte
    // (col0 / NR)·kp·NR of dst and its sums at entry col0 of colsum, and the panels from
    // there on are exactly those of the N − col0 remaining columns.
    // SAFETY: the offsets stated just above stay inside the extents of the contract.
    let sub = unsafe {
        PackArgs {
            src: args.src.add(col0 * args.n_stride),
            n: args.n - col0,
            dst: args.dst.add(col0 / NR * kp * NR),
            colsum: args.colsum.add(col0),
            ..*args
        }
    };
    // SAFETY: `sub` describes the remaining columns with valid pointers (see above).
    unsafe { pack::<NR, KR>(&sub) }
}

/// Computes one tile of up to `MR` rows × `NR` lanes and stores lanes
/// `lane_begin..lane_end` through the output stage.
///
/// # Safety
/// `args` valid as documented on [`TileArgs`] and [`GemmKernel::tile`].
pub unsafe fn tile<const MR: usize, const NR: usize, const KR: usize>(args: &TileArgs) {
    let mut acc = [[0i32; NR]; MR];
    let mut rowsum = [0i32; MR];
    for (i, (acc_row, rs)) in acc
        .iter_mut()
        .zip(rowsum.iter_mut())
        .enumerate()
        .take(args.m)
    {
        // SAFETY: row i < m of A, k bytes long.
        let a_row = unsafe { core::slice::from_raw_parts(args.a.add(i * args.a_stride), args.k) };
        for (kk, &byte) in a_row.iter().enumerate() {
            let a = (byte ^ args.a_xor) as i32;
            *rs = rs.wrapping_add(a);
            // SAFETY: group kk/KR of the panel holds NR·KR bytes.
            let group = unsafe { args.b.add((kk / KR) * NR * KR + kk % KR) };
            for (j, c) in acc_row.iter_mut().enumerate() {
                // SAFETY: j·KR < NR·KR inside the group.
                let b = unsafe { *group.add(j * KR) } as i32;
                *c = c.wrapping_add(a.wrapping_mul(b));
            }
        }
    }
    // SAFETY: stage pointer valid (contract).
    let stage = unsafe { &*args.stage };
    for (i, (acc_row, &rs)) in acc.iter().zip(rowsum.iter()).enumerate().take(args.m) {
        for (lane, &dot) in acc_row
            .iter()
            .enumerate()
            .take(args.lane_end)
            .skip(args.lane_begin)
        {
            // SAFETY: lane < NR entries of zb and colcorr.
            let (zb, corr) = unsafe { (*args.zb.add(lane), *args.colcorr.add(lane)) };
            let mut v = dot.wrapping_add(args.za.wrapping_mul(corr));
            if args.zb_nonzero {
                v = v.wrapping_sub(zb.wrapping_mul(rs));
            }
            let j = lane - args.lane_begin;
            // SAFETY: column col0 + j and destination element (i, j) are inside the
            // extents of the contract.
            unsafe { stage.store(v, args.col0 + j, args.dst, i * args.dst_stride + j) };
        }
    }
}
