//! Depthwise weights packed once for one depthwise kernel ([`Conv2d`](super::Conv2d) with
//! `groups = in_channels > 1` and `out_channels = M·in_channels`).

use zeropoint_kernels::depthwise::ALIGN;
use zeropoint_kernels::{DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs};

use crate::{Error, PerChannel, QType, Result};

/// One 64-byte-aligned line of packed weights.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([u8; ALIGN]);

/// Depthwise weights packed for one kernel; records the kernel, and [`Self::pixel`]
/// refuses any other.
#[derive(Clone, Debug)]
pub(crate) struct PackedDepthwise {
    kernel: &'static DepthwiseKernel,
    taps: usize,
    channels: usize,
    multiplier: usize,
    data: Vec<Line>,
}

impl PackedDepthwise {
    /// Packs OHWI depthwise weights (`[C·M][taps]`: output channel `oc = ic·M + j` reads
    /// input channel `ic`) with their zero points (one or `C·M`) for `kernel`.
    pub(crate) fn pack<B: QType>(
        kernel: &'static DepthwiseKernel,
        weights: &[B],
        zero_points: PerChannel<'_, B>,
        taps: usize,
        channels: usize,
        multiplier: usize,
    ) -> Result<Self> {
        let n_oc = channels * multiplier;
        if taps == 0 || n_oc == 0 || weights.len() != taps * n_oc {
            return Err(Error::Shape(format!(
                "{} depthwise weights for {n_oc} output channels × {taps} taps",
                weights.len()
            )));
        }
        for (what, v) in [
            ("taps", taps),
            ("channels", channels),
            ("multiplier", multiplier),
        ] {
            if v > u32::MAX as usize {
                return Err(Error::Shape(format!("depthwise {what} {v} exceed u32")));
            }
        }
        zero_points.check_len("weight zero points", n_oc)?;
        let shift = if B::SIGNED { 0 } else { 128 };
        let zw: Vec<i32> = (0..n_oc)
            .map(|o| zero_points.values()[o * zero_points.stride()].to_i32() - shift)
            .collect();
        let len = (kernel.packed_len)(taps, channels, multiplier);
        let mut data = vec![Line([0; ALIGN]); len.div_ceil(ALIGN)];
        let args = DepthwisePackArgs {
            w: B::as_bytes(weights).as_ptr(),
            t_stride: 1,
            oc_stride: taps,
            xor: if B::SIGNED { 0 } else { 0x80 },
            zw: zw.as_ptr(),
            taps,
            channels,
            multiplier,
            dst: data.as_mut_ptr() as *mut u8,
        };
        // `weights` holds taps·C·M codes, code (t, oc) at oc·taps + t; `zw` C·M values in
        // −128..=127; `data` at least `len` bytes, 64-byte aligned.
        // SAFETY: the conditions stated just above hold (the packer is plain Rust).
        unsafe { (kernel.pack)(&args) };
        Ok(PackedDepthwise {
            kernel,
            taps,
            channels,
            multiplier,
            data,
        })
    }

    /// `Ok` when `kernel` is the one the weights were packed for, else
    /// [`Error::LayoutMismatch`].
    pub(crate) fn check_kernel(&self, kernel: &'static DepthwiseKernel) -> Result<()> {
        if core::ptr::eq(kernel, self.kernel) {
            Ok(())
        } else {
            Err(Error::LayoutMismatch {
                packed_for: self.kernel.name,
                requested: kernel.name,
            })
        }
    }

    /// All `C·M` output channels of one pixel into `out`: the kernel's
    /// `Σ_t (x − Z_X)(w − Z_W)` (wrapping i32), with `taps[t]` null for a tap in the
    /// padding. `xor`/`zx`: 0 and the zero point for u8 input, 0x80 and the zero point
    /// + 128 for i8 input.
    ///
    /// # Safety
    /// The CPU supports the kernel's ISA (the engine that packed chose it); `taps` has
    /// `self.taps` entries, each null or valid for `C` bytes; `out` holds `C·M` i32;
    /// `xor` is 0 or 0x80 and `zx` in `0..=255`.
    #[inline]
    pub(crate) unsafe fn pixel(&self, taps: &[*const u8], xor: u8, zx: i32, out: *mut i32) {
        debug_assert_eq!(taps.len(), self.taps);
        let args = DepthwiseArgs {
            taps: taps.as_ptr(),
            n_taps: self.taps,
            channels: self.channels,
            multiplier: self.multiplier,
            packed: self.data.as_ptr() as *const u8,
            xor,
            zx,
            out,
        };
        // SAFETY: `data` was packed by this kernel for (taps, C, M); the rest is the
        // caller's contract.
        unsafe { (self.kernel.pixel)(&args) }
    }
}
