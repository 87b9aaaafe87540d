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
    tile: tile::<MR, NR, KR>,
};

/// Packs B into panels of `NR` columns, `KR` consecutive K values per column (layout on
/// [`PackArgs`]), and writes the column sums.
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for this `NR`/`KR`.
pub unsafe fn pack<const NR: usize, const KR: usize>(args: &PackArgs) {
    let kp = args.k.div_ceil(KR) * KR;
    let panels = args.n.div_ceil(NR);
    for p in 0..panels {
        // SAFETY: panel p < panels lies inside dst (panels·kp·NR bytes).
        let panel = unsafe { args.dst.add(p * kp * NR) };
        for j in 0..NR {
            let col = p * NR + j;
            let mut sum = 0i32;
            for kk in 0..kp {
                let v = if col < args.n && kk < args.k {
                    // SAFETY: kk < K and col < N address an element of B.
                    let byte = unsafe { *args.src.add(kk * args.k_stride + col * args.n_stride) };
                    (byte ^ args.xor) as i8
                } else {
                    0
                };
                sum = sum.wrapping_add(v as i32);
                // SAFETY: offset < kp·NR, inside the panel.
                unsafe { *panel.add((kk / KR) * NR * KR + j * KR + kk % KR) = v };
            }
            // SAFETY: col < panels·NR entries of colsum.
            unsafe { *args.colsum.add(col) = sum };
        }
    }
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
