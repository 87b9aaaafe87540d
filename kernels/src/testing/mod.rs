//! The shared test harness: every kernel variant is checked with these functions, with
//! exact equality against the scalar reference ([`crate::scalar::reference`] and the
//! element-wise definitions of [`crate::scalar::requant`] / [`crate::OutputStage`]).
//!
//! - [`GemmCase`] + [`check_gemm`]: one GEMM through a kernel table's packer and the
//!   driver, output written between canaries, compared element by element.
//! - [`gemm_sweep`]: the deterministic shape sweep (m around MR, n around NR, K around
//!   KR and unroll sizes, K large enough to wrap i32, odd strides, unaligned column
//!   blocks, zero points at both ends, every output stage).
//! - [`PackCase`] + [`check_pack`] + [`pack_sweep`]: a kernel table's packer against the
//!   layout's definition ([`reference_pack`]): every packed byte and column sum, the
//!   source ending at a guard page, the destination between a canary lead and a guard
//!   page and pre-filled with a pattern (so a byte the packer skips is caught).
//! - [`DepthwiseCase`] + [`check_depthwise`], [`depthwise_sweep`]: one depthwise pixel
//!   through a kernel's packer and kernel (taps against guard pages, output between
//!   canaries), and the sweep over channels, taps, multipliers, weights and zero points.
//! - [`check_elementwise`]: an element-wise table against the scalar definitions.
//! - [`check_ops`] (in [`ops`]): an add and pooling table against the scalar reference.
//! - [`skip_or_require`]: prints `skipping <name>: CPU lacks <feature>`, or fails when
//!   `ZEROPOINT_TEST_REQUIRE` names the ISA.

mod depthwise;
pub mod ops;

pub use depthwise::{check_depthwise, depthwise_sweep, DepthwiseCase, WeightMode};
pub use ops::check_ops;

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::scalar::reference::{gemm_i32, RefShape};
use crate::scalar::requant::{dequantize, quantize_f32};
use crate::{
    run_gemm, DstType, ElementwiseKernels, GemmCall, GemmKernel, Indirect, Isa, OutputStage,
    PackAArgs, PackAMode, PackArgs, QuantizedMultiplier, Scheme, TileArgs,
};

/// A small deterministic generator (SplitMix64), so the sweep needs no dependency.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A uniform value in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    /// A byte biased towards the extremes 0x00, 0x7f, 0x80, 0xff (one in four).
    pub fn byte(&mut self) -> u8 {
        let r = self.next_u64();
        if r.is_multiple_of(4) {
            [0x00, 0x7f, 0x80, 0xff][(r >> 8) as usize % 4]
        } else {
            (r >> 16) as u8
        }
    }
}

/// The output stage of a [`GemmCase`], owning its parameter arrays.
#[derive(Clone, Debug)]
pub struct StageSpec {
    /// Destination type.
    pub dst: DstType,
    /// Requantization scheme (U8/I8).
    pub scheme: Scheme,
    /// Per-column parameters (else element 0 is used for every column).
    pub per_channel: bool,
    /// i32 bias per column.
    pub bias: Option<Vec<i32>>,
    /// f32 scales (Fp32 scheme, F32 output).
    pub scales: Vec<f32>,
    /// Fixed-point multipliers.
    pub mults: Vec<QuantizedMultiplier>,
    /// f32 bias per column (F32 output).
    pub f32_bias: Option<Vec<f32>>,
    /// Output zero point.
    pub zp: i32,
    /// Lower clamp.
    pub qmin: i32,
    /// Upper clamp.
    pub qmax: i32,
}

impl StageSpec {
    /// Plain i32 output.
    pub fn i32(bias: Option<Vec<i32>>) -> Self {
        StageSpec {
            dst: DstType::I32,
            scheme: Scheme::Fp32,
            per_channel: false,
            bias,
            scales: vec![],
            mults: vec![],
            f32_bias: None,
            zp: 0,
            qmin: 0,
            qmax: 0,
        }
    }

    /// A random stage of the given kind over `n` columns, with parameters drawn across
    /// their full ranges (tiny and huge multipliers, zero points at both ends, narrow clamps).
    pub fn random(
        rng: &mut Rng,
        dst: DstType,
        scheme: Scheme,
        per_channel: bool,
        n: usize,
    ) -> Self {
        let cnt = if per_channel { n } else { 1 };
        let bias = rng.next_u64().is_multiple_of(2).then(|| {
            (0..n)
                .map(|_| rng.next_u64() as i32 >> rng.range(0, 31))
                .collect()
        });
        let scales = (0..cnt)
            .map(|_| {
                let e = rng.range(-30, 4) as i32;
                let mant = 1.0 + (rng.next_u64() % 1000) as f32 / 1000.0;
                mant * 2f32.powi(e)
            })
            .collect();
        let mults = (0..cnt)
            .map(|_| QuantizedMultiplier {
                m0: rng.range(1 << 30, i32::MAX as i64) as i32,
                shift: rng.range(-31, 30) as i32,
            })
            .collect();
        let f32_bias = rng.next_u64().is_multiple_of(2).then(|| {
            (0..n)
                .map(|_| (rng.range(-1000, 1000) as f32) * 0.37)
                .collect()
        });
        let (tmin, tmax) = if dst == DstType::U8 {
            (0, 255)
        } else {
            (-128, 127)
        };
        let zp = match rng.next_u64() % 4 {
            0 => tmin,
            1 => tmax,
            _ => rng.range(tmin as i64, tmax as i64) as i32,
        };
        let (qmin, qmax) = if rng.next_u64().is_multiple_of(3) {
            let a = rng.range(tmin as i64, tmax as i64) as i32;
            let b = rng.range(tmin as i64, tmax as i64) as i32;
            (a.min(b), a.max(b))
        } else {
            (tmin, tmax)
        };
        StageSpec {
            dst,
            scheme,
            per_channel,
            bias,
            scales,
            mults,
            f32_bias,
            zp,
            qmin,
            qmax,
        }
    }

    /// The raw stage pointing into `self`.
    pub fn raw(&self) -> OutputStage {
        let ptr_or_null = |empty: bool, p: *const u8| if empty { core::ptr::null() } else { p };
        OutputStage {
            dst_type: self.dst,
            scheme: self.scheme,
            param_stride: usize::from(self.per_channel),
            bias: self.bias.as_ref().map_or(core::ptr::null(), |b| b.as_ptr()),
            scale: ptr_or_null(self.scales.is_empty(), self.scales.as_ptr() as *const u8)
                as *const f32,
            multiplier: ptr_or_null(self.mults.is_empty(), self.mults.as_ptr() as *const u8)
                as *const QuantizedMultiplier,
            f32_bias: self
                .f32_bias
                .as_ref()
                .map_or(core::ptr::null(), |b| b.as_ptr()),
            zero_point: self.zp,
            qmin: self.qmin,
            qmax: self.qmax,
        }
    }
}

/// One GEMM test case in the caller's (not canonical) domain.
#[derive(Clone, Debug)]
pub struct GemmCase {
    /// Rows.
    pub m: usize,
    /// Columns.
    pub n: usize,
    /// Depth.
    pub k: usize,
    /// A bytes, `m` rows of `a_stride` bytes (the first `k` used).
    pub a: Vec<u8>,
    /// A holds i8 (else u8).
    pub a_i8: bool,
    /// Bytes between rows of A (`>= k`).
    pub a_stride: usize,
    /// A zero point in A's own type range.
    pub za: i32,
    /// B bytes.
    pub b: Vec<u8>,
    /// B holds u8 (else i8).
    pub b_u8: bool,
    /// B is stored N×K (else K×N).
    pub b_nxk: bool,
    /// Elements between rows of B as stored.
    pub b_stride: usize,
    /// B zero point per column, in B's type range.
    pub zb: Vec<i32>,
    /// Output stage.
    pub stage: StageSpec,
    /// Column block to compute.
    pub cols: (usize, usize),
}

impl GemmCase {
    /// A random case of the given shape. `extreme` fills A and B with their type's
    /// extremes and puts the zero points at the opposite ends (maximal |products|, so a
    /// large K wraps i32).
    pub fn random(
        rng: &mut Rng,
        m: usize,
        n: usize,
        k: usize,
        stage: StageSpec,
        extreme: bool,
    ) -> Self {
        let a_i8 = rng.next_u64().is_multiple_of(2);
        let b_u8 = rng.next_u64().is_multiple_of(2);
        let b_nxk = rng.next_u64().is_multiple_of(2);
        let a_stride = k + rng.range(0, 3) as usize;
        let b_stride = if b_nxk { k } else { n } + rng.range(0, 2) as usize;
        let b_rows = if b_nxk { n } else { k };
        let (amin, amax) = if a_i8 { (-128, 127) } else { (0, 255) };
        let (bmin, bmax) = if b_u8 { (0, 255) } else { (-128, 127) };
        let (a, b, za, zb);
        if extreme {
            a = vec![amax as u8; m * a_stride];
            b = vec![bmin as u8; b_rows * b_stride];
            za = amin;
            zb = vec![bmax; n];
        } else {
            a = (0..m * a_stride).map(|_| rng.byte()).collect();
            b = (0..b_rows * b_stride).map(|_| rng.byte()).collect();
            let pick = |rng: &mut Rng, lo: i32, hi: i32| match rng.next_u64() % 4 {
                0 => lo,
                1 => hi,
                2 => 0.clamp(lo, hi),
                _ => rng.range(lo as i64, hi as i64) as i32,
            };
            za = pick(rng, amin, amax);
            zb = if rng.next_u64().is_multiple_of(3) {
                vec![pick(rng, bmin, bmax); n]
            } else if rng.next_u64().is_multiple_of(2) {
                vec![0.clamp(bmin, bmax); n]
            } else {
                (0..n).map(|_| pick(rng, bmin, bmax)).collect()
            };
        }
        let c0 = if n > 1 {
            rng.range(0, (n / 3) as i64) as usize
        } else {
            0
        };
        let c1 = if rng.next_u64().is_multiple_of(2) {
            n
        } else {
            rng.range(c0 as i64 + 1, n as i64) as usize
        };
        GemmCase {
            m,
            n,
            k,
            a,
            a_i8,
            a_stride,
            za,
            b,
            b_u8,
            b_nxk,
            b_stride,
            zb,
            stage,
            cols: (c0, c1),
        }
    }

    /// The expected output of the column block, computed with the reference, as bytes
    /// (`m` rows × block width elements of the stage's type, row-major, packed).
    pub fn expected(&self) -> Vec<u8> {
        let (bk, bn) = if self.b_nxk {
            (1, self.b_stride)
        } else {
            (self.b_stride, 1)
        };
        let s = RefShape {
            m: self.m,
            n: self.n,
            k: self.k,
            a_stride: self.a_stride,
            b_k_stride: bk,
            b_n_stride: bn,
        };
        let mut c = vec![0i32; self.m * self.n];
        let ai: Vec<i8> = self.a.iter().map(|&x| x as i8).collect();
        let bi: Vec<i8> = self.b.iter().map(|&x| x as i8).collect();
        match (self.a_i8, self.b_u8) {
            (false, false) => gemm_i32(s, &self.a, self.za, &bi, &self.zb, &mut c),
            (false, true) => gemm_i32(s, &self.a, self.za, &self.b, &self.zb, &mut c),
            (true, false) => gemm_i32(s, &ai, self.za, &bi, &self.zb, &mut c),
            (true, true) => gemm_i32(s, &ai, self.za, &self.b, &self.zb, &mut c),
        }
        let stage = self.stage.raw();
        let w = self.cols.1 - self.cols.0;
        let mut out = vec![0u8; self.m * w * self.stage.dst.size()];
        for i in 0..self.m {
            for j in 0..w {
                let col = self.cols.0 + j;
                // SAFETY: the stage's arrays cover every column < n; `out` holds m·w
                // elements of the stage's type.
                unsafe { stage.store(c[i * self.n + col], col, out.as_mut_ptr(), i * w + j) };
            }
        }
        out
    }
}

const CANARY: u8 = 0xA5;

/// A byte buffer placed flush against an inaccessible guard page (on Unix), so that a
/// kernel reading one byte past its end faults instead of reading silently. Elsewhere a
/// plain allocation.
pub struct Guarded {
    #[cfg(unix)]
    map: (*mut libc::c_void, usize),
    #[cfg(not(unix))]
    vec: Vec<u8>,
    ptr: *mut u8,
    len: usize,
}

impl Guarded {
    /// A copy of `data`, ending right before a guard page.
    pub fn new(data: &[u8]) -> Guarded {
        #[cfg(unix)]
        {
            // Plain anonymous mapping of whole pages followed by mprotect of the
            // last page; `ptr..ptr + len` lies inside the readable pages and is written
            // only through `copy_nonoverlapping` of `len` bytes.
            // SAFETY: the conditions stated just above hold.
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
                let data_pages = data.len().div_ceil(page).max(1);
                let size = (data_pages + 1) * page;
                let base = libc::mmap(
                    core::ptr::null_mut(),
                    size,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert!(base != libc::MAP_FAILED, "mmap failed");
                let guard = (base as *mut u8).add(data_pages * page);
                assert_eq!(
                    libc::mprotect(guard as *mut _, page, libc::PROT_NONE),
                    0,
                    "mprotect failed"
                );
                let ptr = guard.sub(data.len());
                core::ptr::copy_nonoverlapping(data.as_ptr(), ptr, data.len());
                Guarded {
                    map: (base, size),
                    ptr,
                    len: data.len(),
                }
            }
        }
        #[cfg(not(unix))]
        {
            let mut vec = data.to_vec();
            let ptr = vec.as_mut_ptr();
            Guarded {
                vec,
                ptr,
                len: data.len(),
            }
        }
    }

    /// Start of the data.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Start of the data, for writing (the mapping is readable and writable).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }

    /// The data.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` is initialised (copied in `new`) and owned by `self`.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Length of the data.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe {
            libc::munmap(self.map.0, self.map.1);
        }
    }
}

/// Runs `case` through `kernel` (packing, driver, tiles) and compares with the
/// reference. On mismatch returns a message naming the kernel, geometry, shape, index,
/// reference and actual values. The destination has a row stride with a gap and
/// canaries before, between and after the rows; a write outside the block is reported.
///
/// The caller checks that the CPU supports `kernel.isa`.
pub fn check_gemm(kernel: &GemmKernel, case: &GemmCase) -> Result<(), String> {
    assert!(
        kernel.isa.is_supported(),
        "check_gemm called for an unsupported kernel"
    );
    let n_pad = kernel.panels(case.n) * kernel.nr;
    let mut packed = vec![0i8; kernel.packed_len(case.k, case.n)];
    let mut colsum = vec![0i32; n_pad];
    let (k_stride, n_stride) = if case.b_nxk {
        (1, case.b_stride)
    } else {
        (case.b_stride, 1)
    };
    // A and B end right before a guard page: an over-read faults.
    let a_buf = Guarded::new(&case.a[..(case.m - 1) * case.a_stride + case.k]);
    let b_rows = if case.b_nxk { case.n } else { case.k };
    let b_cols = if case.b_nxk { case.k } else { case.n };
    let b_buf = Guarded::new(&case.b[..(b_rows - 1) * case.b_stride + b_cols]);
    let pa = PackArgs {
        src: b_buf.as_ptr(),
        k_stride,
        n_stride,
        k: case.k,
        n: case.n,
        xor: if case.b_u8 { 0x80 } else { 0 },
        dst: packed.as_mut_ptr(),
        colsum: colsum.as_mut_ptr(),
    };
    // SAFETY: the CPU supports the ISA (asserted); buffers sized by the kernel's geometry.
    unsafe { (kernel.pack)(&pa) };
    let zshift = if case.b_u8 { 128 } else { 0 };
    let mut zb = vec![0i32; n_pad];
    let mut colcorr = vec![0i32; n_pad];
    for j in 0..case.n {
        zb[j] = case.zb[j] - zshift;
        colcorr[j] = (case.k as i32).wrapping_mul(zb[j]).wrapping_sub(colsum[j]);
    }
    let stage = case.stage.raw();
    let esize = case.stage.dst.size();
    let w = case.cols.1 - case.cols.0;
    let gap = 3;
    let stride = w + gap;
    let lead = 16;
    let want = case.expected();
    // Every path of the driver: A read in place, and A packed (for kernels that pack).
    let modes: &[PackAMode] = if kernel.pack_a.is_some() {
        &[PackAMode::Never, PackAMode::Always]
    } else {
        &[PackAMode::Never]
    };
    // A kernel with a per-call session also runs its tiles standalone (each tile sets
    // its state up itself), through the same driver with the session left out.
    let standalone = GemmKernel {
        session: None,
        ..*kernel
    };
    let drivers: &[&GemmKernel] = if kernel.session.is_some() {
        &[kernel, &standalone]
    } else {
        &[kernel]
    };
    for (&mode, &kernel) in modes
        .iter()
        .flat_map(|m| drivers.iter().map(move |k| (m, k)))
    {
        // The scratch is followed by canaries: packing must stay inside its length.
        let scratch_len = kernel.scratch_len(case.m, case.k);
        let mut scratch = vec![CANARY; scratch_len + 64];
        let mut dst = vec![CANARY; (lead + case.m * stride + lead) * esize];
        let call = GemmCall {
            a: a_buf.as_ptr(),
            a_stride: case.a_stride,
            a_xor: if case.a_i8 { 0x80 } else { 0 },
            za: case.za + if case.a_i8 { 128 } else { 0 },
            m: case.m,
            k: case.k,
            packed: packed.as_ptr(),
            zb: zb.as_ptr(),
            zb_nonzero: zb.iter().any(|&z| z != 0),
            colcorr: colcorr.as_ptr(),
            col_begin: case.cols.0,
            col_end: case.cols.1,
            stage: &stage,
            // SAFETY: `lead` elements into a buffer of lead + m·stride + lead elements.
            dst: unsafe { dst.as_mut_ptr().add(lead * esize) },
            dst_stride: stride,
            pack_a: mode,
            scratch: scratch.as_mut_ptr(),
            scratch_len,
        };
        // SAFETY: CPU support asserted; every pointer covers the block it describes.
        unsafe { run_gemm(kernel, &call) };
        if scratch[scratch_len..].iter().any(|&b| b != CANARY) {
            return Err(format!(
                "{}: packing A for M×K={}×{} wrote past the scratch",
                kernel.name, case.m, case.k
            ));
        }
        compare_gemm(kernel, case, mode, &dst, &want, lead, stride, gap, esize, w)?;
    }
    // The indirect paths, for kernels that have them, with K cut into segments of a few
    // lengths (one segment, the shortest, and one in between): the indirect tile, and
    // packing A through an indirection list then the packed tiles (standalone and, for
    // a kernel with a session, inside one).
    let mut paths: Vec<IndirectPath> = Vec::new();
    if let Some(t) = kernel.tile_indirect {
        paths.push(IndirectPath::Tile(t));
    }
    if let Some(pi) = kernel.pack_a.and_then(|p| p.indirect) {
        paths.push(IndirectPath::Pack(pi, kernel.tile, None));
        if let Some(s) = kernel.session {
            paths.push(IndirectPath::Pack(pi, s.tile, Some(s)));
        }
    }
    for path in paths {
        if !case.k.is_multiple_of(kernel.kr) {
            break;
        }
        let groups = case.k / kernel.kr;
        let mut segs = vec![case.k, kernel.kr];
        if let Some(d) = (2..groups).find(|d| groups.is_multiple_of(*d)) {
            segs.push(case.k / d);
        }
        for seg in segs {
            let mut dst = vec![CANARY; (lead + case.m * stride + lead) * esize];
            let ind = IndirectRun {
                case,
                seg,
                packed: &packed,
                zb: &zb,
                colcorr: &colcorr,
                stage: &stage,
                stride,
            };
            // SAFETY: `dst` holds lead + m·stride + lead elements; the CPU supports the
            // ISA (asserted).
            unsafe { ind.run(kernel, path, dst.as_mut_ptr().add(lead * esize)) }?;
            compare_gemm(
                kernel,
                case,
                PackAMode::Never,
                &dst,
                &want,
                lead,
                stride,
                gap,
                esize,
                w,
            )
            .map_err(|e| format!("{}, segments of {seg} bytes: {e}", path.name()))?;
        }
    }
    Ok(())
}

/// A way to run tiles whose A rows come from an indirection list.
#[derive(Clone, Copy)]
enum IndirectPath {
    /// [`GemmKernel::tile_indirect`].
    Tile(unsafe fn(&TileArgs, &Indirect)),
    /// [`APack::indirect`](crate::APack::indirect), then a tile function on the packed
    /// tile (the kernel's, or its session's inside the session).
    Pack(
        unsafe fn(&Indirect, &PackAArgs),
        unsafe fn(&TileArgs),
        Option<crate::TileSession>,
    ),
}

impl IndirectPath {
    fn name(self) -> &'static str {
        match self {
            IndirectPath::Tile(_) => "indirect tile",
            IndirectPath::Pack(_, _, None) => "indirect packing",
            IndirectPath::Pack(_, _, Some(_)) => "indirect packing in a session",
        }
    }
}

/// One run of a case through an [`IndirectPath`].
struct IndirectRun<'a> {
    case: &'a GemmCase,
    seg: usize,
    packed: &'a [i8],
    zb: &'a [i32],
    colcorr: &'a [i32],
    stage: &'a OutputStage,
    stride: usize,
}

/// 64-byte aligned storage.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

impl IndirectRun<'_> {
    /// Copies every segment of A (row `r`, tap `t`: bytes `t·seg..(t+1)·seg`) to its own
    /// place in a guarded buffer, in reverse order so the first segment ends flush with
    /// the guard page (rows past `m` of the last tile point at it too), and runs every
    /// tile and panel of the column block through `path` into `dst`. Packing through the
    /// list must also give the row sums of the rows, and stay inside its tile.
    ///
    /// # Safety
    /// The CPU supports the kernel's ISA; `dst` is valid for `m` rows of `stride`
    /// elements of the stage's type.
    unsafe fn run(
        &self,
        kernel: &GemmKernel,
        path: IndirectPath,
        dst: *mut u8,
    ) -> Result<(), String> {
        let (case, seg) = (self.case, self.seg);
        let (mr, nr) = (kernel.mr, kernel.nr);
        let taps = case.k / seg;
        let count = case.m * taps;
        let mut bytes = vec![0u8; count * seg];
        for r in 0..case.m {
            for t in 0..taps {
                let at = (count - 1 - (r * taps + t)) * seg;
                let src = r * case.a_stride + t * seg;
                bytes[at..at + seg].copy_from_slice(&case.a[src..src + seg]);
            }
        }
        let buf = Guarded::new(&bytes);
        let seg_ptr = |r: usize, t: usize| {
            let s = if r < case.m { r * taps + t } else { 0 };
            buf.as_ptr().wrapping_add((count - 1 - s) * seg)
        };
        let xor = if case.a_i8 { 0x80u8 } else { 0 };
        let esize = self.stage.dst_type.size();
        let (c0, c1) = case.cols;
        let mut ptrs = vec![core::ptr::null::<u8>(); taps * mr];
        let mut rowsum = vec![0i32; mr];
        // One packed tile and one line of canaries after it.
        let tile_bytes = kernel.a_tile_bytes(case.k);
        let mut a_tile = vec![Line([CANARY; 64]); tile_bytes.div_ceil(64) + 1];
        let mut sums = vec![CANARY as i32; mr + 1];
        if let IndirectPath::Pack(_, _, Some(s)) = path {
            // SAFETY: the CPU supports the ISA (caller); `end` follows below.
            unsafe { (s.begin)() };
        }
        let mut result = Ok(());
        for i0 in (0..case.m).step_by(mr) {
            let m = mr.min(case.m - i0);
            for t in 0..taps {
                for i in 0..mr {
                    ptrs[t * mr + i] = seg_ptr(i0 + i, t);
                }
            }
            for (i, s) in rowsum.iter_mut().enumerate().take(m) {
                let row = &case.a[(i0 + i) * case.a_stride..][..case.k];
                *s = row.iter().map(|&b| (b ^ xor) as i32).sum();
            }
            let ind = Indirect {
                ptrs: ptrs.as_ptr(),
                taps,
                seg,
            };
            if let IndirectPath::Pack(pack, _, _) = path {
                sums.fill(CANARY as i32);
                let args = PackAArgs {
                    src: core::ptr::null(),
                    stride: 0,
                    xor,
                    m,
                    k: case.k,
                    mr,
                    dst: a_tile.as_mut_ptr() as *mut u8,
                    rowsum: sums.as_mut_ptr(),
                };
                // the CPU supports the ISA (caller); every pointer of the list
                // is a whole segment of `buf`; `a_tile` holds one 64-byte aligned tile
                // (and a line more), `sums` m values (and more).
                // SAFETY: the conditions stated just above hold.
                unsafe { pack(&ind, &args) };
                let bytes = a_tile.len() * 64;
                // SAFETY: `a_tile` is `bytes` initialised bytes.
                let raw =
                    unsafe { core::slice::from_raw_parts(a_tile.as_ptr() as *const u8, bytes) };
                if raw[tile_bytes..].iter().any(|&b| b != CANARY)
                    || sums[m..].iter().any(|&v| v != CANARY as i32)
                {
                    result = Err(format!(
                        "{}: packing through the list wrote past its tile",
                        kernel.name
                    ));
                }
                if sums[..m] != rowsum[..m] {
                    result = Err(format!(
                        "{}: packing through the list gave row sums {:?}, want {:?}",
                        kernel.name,
                        &sums[..m],
                        &rowsum[..m]
                    ));
                }
            }
            for p in c0 / nr..=(c1 - 1) / nr {
                let lane_begin = c0.max(p * nr) - p * nr;
                let lane_end = c1.min((p + 1) * nr) - p * nr;
                let col0 = p * nr + lane_begin;
                let packed_a = matches!(path, IndirectPath::Pack(..));
                let args = TileArgs {
                    a: if packed_a {
                        a_tile.as_ptr() as *const u8
                    } else {
                        core::ptr::null()
                    },
                    a_stride: 0,
                    a_xor: if packed_a { 0 } else { xor },
                    a_packed: packed_a,
                    rowsum: if packed_a {
                        sums.as_ptr()
                    } else {
                        rowsum.as_ptr()
                    },
                    za: case.za + if case.a_i8 { 128 } else { 0 },
                    m,
                    k: case.k,
                    b: self.packed[p * kernel.padded_k(case.k) * nr..].as_ptr(),
                    zb: self.zb[p * nr..].as_ptr(),
                    zb_nonzero: self.zb.iter().any(|&z| z != 0),
                    colcorr: self.colcorr[p * nr..].as_ptr(),
                    lane_begin,
                    lane_end,
                    col0,
                    stage: self.stage,
                    dst: dst.wrapping_add((i0 * self.stride + col0 - c0) * esize),
                    dst_stride: self.stride,
                };
                // the CPU supports the ISA (caller), inside the session for a
                // session's tile; every pointer of the list is a whole segment of `buf`;
                // the packed tile and its row sums, the panel, per-column arrays, row
                // sums and destination cover the tile (as in `tile_at`).
                // SAFETY: the conditions stated just above hold.
                unsafe {
                    match path {
                        IndirectPath::Tile(tile) => tile(&args, &ind),
                        IndirectPath::Pack(_, tile, _) => tile(&args),
                    }
                };
            }
        }
        if let IndirectPath::Pack(_, _, Some(s)) = path {
            // SAFETY: `begin` ran above on this thread.
            unsafe { (s.end)() };
        }
        result
    }
}

/// Compares a GEMM destination (canaries around and between rows) with the reference.
#[allow(clippy::too_many_arguments)]
fn compare_gemm(
    kernel: &GemmKernel,
    case: &GemmCase,
    mode: PackAMode,
    dst: &[u8],
    want: &[u8],
    lead: usize,
    stride: usize,
    gap: usize,
    esize: usize,
    w: usize,
) -> Result<(), String> {
    let fail = |what: String| {
        Err(format!(
            "{} (MR={} NR={} KR={}, A {:?}) M×N×K={}×{}×{} cols {:?} a_i8={} b_u8={} b_nxk={} za={} stage={:?}/{:?} per_channel={}: {}",
            kernel.name, kernel.mr, kernel.nr, kernel.kr, mode, case.m, case.n, case.k, case.cols,
            case.a_i8, case.b_u8, case.b_nxk, case.za, case.stage.dst, case.stage.scheme,
            case.stage.per_channel, what
        ))
    };
    for i in 0..case.m {
        for j in 0..w {
            let got_at = (lead + i * stride + j) * esize;
            let want_at = (i * w + j) * esize;
            let got = &dst[got_at..got_at + esize];
            let exp = &want[want_at..want_at + esize];
            if got != exp {
                return fail(format!(
                    "mismatch at [{i}][{}]: reference {} actual {}",
                    case.cols.0 + j,
                    show(case.stage.dst, exp),
                    show(case.stage.dst, got)
                ));
            }
        }
        for g in 0..gap * esize {
            if dst[(lead + i * stride + w) * esize + g] != CANARY {
                return fail(format!("wrote past the end of row {i}"));
            }
        }
    }
    let tail = (lead + case.m * stride) * esize;
    if dst[..lead * esize]
        .iter()
        .chain(&dst[tail..])
        .any(|&b| b != CANARY)
    {
        return fail("wrote outside the destination block".into());
    }
    Ok(())
}

fn show(t: DstType, bytes: &[u8]) -> String {
    match t {
        DstType::U8 => format!("{}", bytes[0]),
        DstType::I8 => format!("{}", bytes[0] as i8),
        DstType::I32 => format!("{}", i32::from_le_bytes(bytes.try_into().unwrap())),
        DstType::F32 => {
            let v = f32::from_le_bytes(bytes.try_into().unwrap());
            format!("{v:e} ({:#010x})", v.to_bits())
        }
    }
}

/// One packing case: B (K×N, any strides) as bytes, in the caller's domain.
#[derive(Clone, Debug)]
pub struct PackCase {
    /// Depth K (≥ 1).
    pub k: usize,
    /// Columns N (≥ 1).
    pub n: usize,
    /// Bytes between `B[k][n]` and `B[k+1][n]`.
    pub k_stride: usize,
    /// Bytes between `B[k][n]` and `B[k][n+1]`.
    pub n_stride: usize,
    /// 0 (i8 B) or 0x80 (u8 B).
    pub xor: u8,
    /// The source: element `(kk, j)` at `kk·k_stride + j·n_stride`; exactly as long as
    /// the last element needs.
    pub b: Vec<u8>,
}

/// How [`PackCase::new`] stores B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackSource {
    /// N×K rows (`k_stride == 1`, `n_stride = K + pad`).
    NxK,
    /// K×N rows (`n_stride == 1`, `k_stride = N + pad`).
    KxN,
    /// Neither: `k_stride = 2`, `n_stride = 2K + 1 + pad` (columns interleaved with
    /// gaps), the packers' generic path.
    Strided,
}

/// What [`PackCase::new`] fills B with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackFill {
    /// Random bytes biased towards 0x00, 0x7f, 0x80, 0xff.
    Random,
    /// Every byte the same (e.g. the one that becomes −128 or 127 after the XOR).
    All(u8),
}

impl PackCase {
    /// A case of K×N stored as `source` with `pad` extra bytes of row stride.
    pub fn new(
        rng: &mut Rng,
        k: usize,
        n: usize,
        source: PackSource,
        pad: usize,
        xor: u8,
        fill: PackFill,
    ) -> Self {
        let (k_stride, n_stride) = match source {
            PackSource::NxK => (1, k + pad),
            PackSource::KxN => (n + pad, 1),
            PackSource::Strided => (2, 2 * k + 1 + pad),
        };
        let len = (k - 1) * k_stride + (n - 1) * n_stride + 1;
        let b = match fill {
            PackFill::Random => (0..len).map(|_| rng.byte()).collect(),
            PackFill::All(v) => vec![v; len],
        };
        PackCase {
            k,
            n,
            k_stride,
            n_stride,
            xor,
            b,
        }
    }
}

/// The packed layout of geometry `nr`, `kr` written as its definition (see
/// [`PackArgs`]): `(packed bytes, column sums)`, the sums `ceil(N/nr)·nr` long with 0 for
/// padding columns.
pub fn reference_pack(nr: usize, kr: usize, case: &PackCase) -> (Vec<i8>, Vec<i32>) {
    let kp = case.k.div_ceil(kr) * kr;
    let panels = case.n.div_ceil(nr);
    let mut packed = vec![0i8; panels * kp * nr];
    let mut colsum = vec![0i32; panels * nr];
    for (j, sum) in colsum.iter_mut().enumerate().take(case.n) {
        let (p, lane) = (j / nr, j % nr);
        for kk in 0..case.k {
            let v = (case.b[kk * case.k_stride + j * case.n_stride] ^ case.xor) as i8;
            packed[p * kp * nr + (kk / kr) * nr * kr + lane * kr + kk % kr] = v;
            *sum = sum.wrapping_add(v as i32);
        }
    }
    (packed, colsum)
}

/// Packs `case` with `kernel.pack` and compares every byte and column sum with
/// [`reference_pack`]. The source ends right before a guard page (an over-read faults);
/// both destinations sit between a lead of canaries and a guard page (a write past the
/// end faults, one before the start is reported) and are pre-filled with a pattern, so
/// a padding byte or sum the packer fails to write is reported too. On mismatch returns
/// a message naming the kernel, geometry, shape, strides, XOR, index, reference and
/// actual values.
///
/// The caller checks that the CPU supports `kernel.isa`.
pub fn check_pack(kernel: &GemmKernel, case: &PackCase) -> Result<(), String> {
    assert!(
        kernel.isa.is_supported(),
        "check_pack called for an unsupported kernel"
    );
    const LEAD: usize = 64;
    const FILL: u8 = 0x5C;
    let (want, want_sums) = reference_pack(kernel.nr, kernel.kr, case);
    let src = Guarded::new(&case.b);
    let mut dst = Guarded::new(&vec![FILL; LEAD + want.len()]);
    let mut sums = Guarded::new(&vec![FILL; 4 * (LEAD + want_sums.len())]);
    let args = PackArgs {
        src: src.as_ptr(),
        k_stride: case.k_stride,
        n_stride: case.n_stride,
        k: case.k,
        n: case.n,
        xor: case.xor,
        // SAFETY: LEAD bytes into a buffer of LEAD + packed_len bytes.
        dst: unsafe { dst.as_mut_ptr().add(LEAD) } as *mut i8,
        // SAFETY: 4·LEAD bytes (LEAD i32) into a buffer of 4·(LEAD + sums) bytes; the
        // mapping is page-aligned and LEAD·4 is a multiple of 4, so the i32s are aligned.
        colsum: unsafe { sums.as_mut_ptr().add(4 * LEAD) } as *mut i32,
    };
    // SAFETY: the CPU supports the ISA (asserted); the source covers every (k, n) the
    // strides address; dst and colsum have the sizes of the kernel's geometry.
    unsafe { (kernel.pack)(&args) };
    let fail = |what: String| {
        Err(format!(
            "{} (NR={} KR={}) pack K×N={}×{} k_stride={} n_stride={} xor={:#04x}: {what}",
            kernel.name,
            kernel.nr,
            kernel.kr,
            case.k,
            case.n,
            case.k_stride,
            case.n_stride,
            case.xor
        ))
    };
    let (lead, got) = dst.as_slice().split_at(LEAD);
    if lead.iter().any(|&b| b != FILL) {
        return fail("wrote before the packed buffer".into());
    }
    if let Some(i) = (0..want.len()).find(|&i| got[i] as i8 != want[i]) {
        let kp = kernel.padded_k(case.k);
        let (p, r) = (i / (kp * kernel.nr), i % (kp * kernel.nr));
        let (g, r) = (r / (kernel.nr * kernel.kr), r % (kernel.nr * kernel.kr));
        let (lane, t) = (r / kernel.kr, r % kernel.kr);
        return fail(format!(
            "packed byte {i} (panel {p}, k {}, column {}): reference {} actual {}",
            g * kernel.kr + t,
            p * kernel.nr + lane,
            want[i],
            got[i] as i8
        ));
    }
    let (lead, got) = sums.as_slice().split_at(4 * LEAD);
    if lead.iter().any(|&b| b != FILL) {
        return fail("wrote before the column sums".into());
    }
    for (j, (w, g)) in want_sums.iter().zip(got.chunks_exact(4)).enumerate() {
        let g = i32::from_le_bytes(g.try_into().unwrap());
        if g != *w {
            return fail(format!("column sum {j}: reference {w} actual {g}"));
        }
    }
    Ok(())
}

/// The deterministic packing sweep for one kernel: every N in `1..=2·NR+1` and a few
/// wider ones, K in `1..=3·KR+1` and around the SIMD block sizes up to large K, the
/// three source layouts, odd strides, both XOR values, random and all-extreme bytes
/// (−128 and 127 after the XOR: the column-sum accumulators at their limits). Returns
/// the number of cases, or the first failure.
pub fn pack_sweep(kernel: &GemmKernel) -> Result<usize, String> {
    let mut rng = Rng(0x9AC0_0000 ^ kernel.nr as u64 ^ ((kernel.kr as u64) << 8));
    let (nr, kr) = (kernel.nr, kernel.kr);
    let sources = [PackSource::NxK, PackSource::KxN, PackSource::Strided];
    let mut count = 0;
    let mut run = |rng: &mut Rng, k: usize, n: usize, fill: PackFill| -> Result<(), String> {
        for (si, &source) in sources.iter().enumerate() {
            for xor in [0u8, 0x80] {
                let pad = [0, 1, 3, 17][(k + n + si + xor as usize) % 4];
                let case = PackCase::new(rng, k, n, source, pad, xor, fill);
                check_pack(kernel, &case)?;
                count += 1;
            }
        }
        Ok(())
    };
    // Every small shape.
    for n in 1..=2 * nr + 1 {
        for k in 1..=3 * kr + 1 {
            run(&mut rng, k, n, PackFill::Random)?;
        }
    }
    // Wider N (several panels, a partial last one) × K around the blocks of 16, 32, 64
    // bytes and beyond.
    let ns = [
        1,
        nr - 1,
        nr,
        2 * nr,
        3 * nr - 1,
        3 * nr,
        4 * nr + 1,
        5 * nr + 7,
    ];
    let ks = [
        15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 191, 255, 256, 257, 1000, 4099,
    ];
    for &n in &ns {
        for &k in &ks {
            run(&mut rng, k, n, PackFill::Random)?;
        }
    }
    // All-extreme bytes with large K: every value −128 (0x80 ^ 0, 0x00 ^ 0x80) or 127,
    // so a narrow column-sum accumulator that is not flushed in time overflows. At least
    // 16 columns, so that packers working on blocks of 16 columns wider than a panel
    // (the NEON K×N path) take their SIMD path.
    let wide = nr.max(16);
    for (k, n) in [(40_000, wide + 3), (4099, 2 * wide), (70_001, 1)] {
        for byte in [0x00u8, 0x7f, 0x80, 0xff] {
            run(&mut rng, k, n, PackFill::All(byte))?;
        }
    }
    Ok(count)
}

/// Every output stage kind the sweep covers: (destination, scheme, per-channel).
pub const STAGE_KINDS: [(DstType, Scheme, bool); 9] = [
    (DstType::I32, Scheme::Fp32, false),
    (DstType::U8, Scheme::Fp32, false),
    (DstType::I8, Scheme::Fp32, true),
    (DstType::U8, Scheme::DoubleRounding, true),
    (DstType::I8, Scheme::DoubleRounding, false),
    (DstType::U8, Scheme::SingleRounding, false),
    (DstType::I8, Scheme::SingleRounding, true),
    (DstType::F32, Scheme::Fp32, false),
    (DstType::F32, Scheme::Fp32, true),
];

/// Builds the stage of `STAGE_KINDS[idx]` for `n` columns.
pub fn stage_kind(rng: &mut Rng, idx: usize, n: usize) -> StageSpec {
    let (dst, scheme, pc) = STAGE_KINDS[idx % STAGE_KINDS.len()];
    if dst == DstType::I32 {
        let bias = rng
            .next_u64()
            .is_multiple_of(2)
            .then(|| (0..n).map(|_| rng.next_u64() as i32).collect());
        StageSpec::i32(bias)
    } else {
        StageSpec::random(rng, dst, scheme, pc, n)
    }
}

/// The deterministic shape sweep for one kernel: returns the number of cases checked,
/// or the first failure.
pub fn gemm_sweep(kernel: &GemmKernel) -> Result<usize, String> {
    let mut rng = Rng(0x5EED_0000 ^ kernel.nr as u64 ^ ((kernel.mr as u64) << 8));
    let (mr, nr, kr) = (kernel.mr, kernel.nr, kernel.kr);
    let ms = [1, 2, mr.saturating_sub(1).max(1), mr, mr + 1, 2 * mr + 1];
    let ns = [1, 2, nr - 1, nr, nr + 1, 2 * nr + 3, 3 * nr];
    let ks = [
        1,
        2,
        3,
        kr,
        kr + 1,
        2 * kr - 1,
        7,
        8,
        15,
        16,
        17,
        31,
        32,
        33,
        63,
        64,
        65,
        127,
        255,
        256,
        257,
    ];
    let mut count = 0;
    for (si, &m) in ms.iter().enumerate() {
        for (ni, &n) in ns.iter().enumerate() {
            for (ki, &k) in ks.iter().enumerate() {
                let stage = stage_kind(&mut rng, si + ni + ki, n);
                let case = GemmCase::random(&mut rng, m, n, k, stage, false);
                check_gemm(kernel, &case)?;
                count += 1;
            }
        }
    }
    // Depths around the chunk of packed A (1024 bytes in the kernels that pack A; odd
    // and even group counts in the last chunk), with whole tiles and an edge tile.
    for (idx, &k) in [1020, 1023, 1024, 1025, 1028, 2047, 2050, 3075]
        .iter()
        .enumerate()
    {
        let m = if idx % 2 == 0 { mr } else { 2 * mr + 1 };
        let stage = stage_kind(&mut rng, idx, 2 * nr + 1);
        let case = GemmCase::random(&mut rng, m, 2 * nr + 1, k, stage, idx % 3 == 0);
        check_gemm(kernel, &case)?;
        count += 1;
    }
    // The driver's loop over row blocks with a large B, panels in pairs where a tile
    // row's output per panel is at most half a cache line: K just past the pairing
    // threshold, enough row tiles to pair (and an edge tile), enough panels (an odd
    // number, the last one partial) to leave the small-B path, a column block from the start or from inside the first panel, u8,
    // i8 and i32 output.
    let k = crate::table::PAIR_PANEL_BYTES / nr + kr + 1;
    let panel_bytes = kernel.padded_k(k) * nr;
    let panels = (crate::table::SMALL_B_BYTES / panel_bytes + 2) | 1;
    for (idx, stage_idx) in [1, 4, 0].into_iter().enumerate() {
        let n = panels * nr - 3;
        let stage = stage_kind(&mut rng, stage_idx, n);
        let m = crate::table::PAIR_MIN_TILES * mr + 1;
        let mut case = GemmCase::random(&mut rng, m, n, k, stage, false);
        case.cols = (if idx == 1 { nr / 2 + 1 } else { 0 }, n);
        check_gemm(kernel, &case)?;
        count += 1;
    }
    // A kernel that runs each packed A tile across a block of panels (`APack::b_block`):
    // the deepest K whose tile still qualifies (a partial last chunk of K), more panels
    // than one block holds (an odd count, the last one partial), just enough rows for
    // a row block to qualify (the last tile partial), a column block from inside the
    // first panel; and the same with every panel in one block.
    if let Some(ap) = kernel.pack_a.filter(|ap| ap.b_block > 0) {
        let k = (1..=crate::table::B_BLOCK_A_TILE_MAX)
            .rev()
            .find(|&k| (ap.tile_bytes)(k) <= crate::table::B_BLOCK_A_TILE_MAX && k % 64 != 0)
            .unwrap_or(1);
        let panel_bytes = kernel.padded_k(k) * nr;
        let per_block = (ap.b_block / panel_bytes).max(1);
        for (idx, panels) in [(per_block + 2) | 1, per_block.min(3)]
            .into_iter()
            .enumerate()
        {
            let n = panels * nr - 5;
            let m = crate::table::B_BLOCK_MIN_A / (ap.tile_bytes)(k) * mr + 5;
            let stage = stage_kind(&mut rng, idx + 1, n);
            let mut case = GemmCase::random(&mut rng, m, n, k, stage, false);
            case.cols = (nr / 2 + 1, n);
            check_gemm(kernel, &case)?;
            count += 1;
        }
    }
    // K large enough to wrap i32: |(a − za)(b − zb)| = 255·255 per term, K = 40000.
    for idx in 0..STAGE_KINDS.len() {
        let n = nr + 1 + idx % 3;
        let stage = stage_kind(&mut rng, idx, n);
        let case = GemmCase::random(&mut rng, 1 + idx % (mr + 1), n, 40_000 + idx, stage, true);
        check_gemm(kernel, &case)?;
        count += 1;
    }
    Ok(count)
}

/// Checks an element-wise table against the scalar definitions over values that hit
/// every tie, both saturation ends, NaN, ±inf, ±0, subnormals, and every u8/i8 code.
pub fn check_elementwise(t: &ElementwiseKernels) -> Result<usize, String> {
    assert!(
        t.isa.is_supported(),
        "check_elementwise called for an unsupported table"
    );
    let mut rng = Rng(0xE1E7);
    let mut xs: Vec<f32> = vec![
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.5,
        -1.5,
        2.5,
        -2.5,
        127.5,
        128.5,
        -128.5,
        255.5,
        256.0,
        -129.0,
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        8_388_607.5,
        8_388_608.0,
        16_777_217.0,
        2.147_483_6e9,
        -2.147_483_6e9,
    ];
    for h in -600..600 {
        xs.push(h as f32 * 0.5);
        xs.push(h as f32 * 0.5 + f32::EPSILON * 2.0);
    }
    for _ in 0..4000 {
        xs.push(f32::from_bits(rng.next_u64() as u32));
    }
    let scales = [
        1.0f32,
        0.5,
        0.1,
        0.3,
        1.0 / 3.0,
        0.007,
        0.012_3,
        0.007_812_5,
        3.0e-5,
        1.7,
        7.5,
        1e-38,
        3.0e38,
    ];
    let base = xs;
    let mut count = 0;
    for &scale in &scales {
        // The ties of this scale, `(h/2)·scale` as rounded in f32, and their neighbours:
        // where `x / scale` and `x · (1/scale)` round to different integers.
        let mut xs = base.clone();
        for h in -520..520 {
            let t = (h as f32 * 0.5) * scale;
            xs.extend([
                t,
                f32::from_bits(t.to_bits().wrapping_add(1)),
                f32::from_bits(t.to_bits().wrapping_sub(1)),
            ]);
        }
        for zp in [-128, -1, 0, 1, 127, 128, 255] {
            let mut got = vec![0u8; xs.len()];
            if (0..=255).contains(&zp) {
                // SAFETY: CPU support asserted; scale finite positive; zp in u8 range.
                unsafe { (t.quantize_u8)(&xs, &mut got, scale, zp) };
                for (i, (&x, &g)) in xs.iter().zip(&got).enumerate() {
                    let want = quantize_f32(x, scale, zp, 0, 255) as u8;
                    if g != want {
                        return Err(format!("{}: quantize_u8({x:e}, scale {scale:e}, zp {zp}) at {i}: reference {want} actual {g}", t.name));
                    }
                }
                count += xs.len();
            }
            if (-128..=127).contains(&zp) {
                let mut got = vec![0i8; xs.len()];
                // SAFETY: as above, zp in i8 range.
                unsafe { (t.quantize_i8)(&xs, &mut got, scale, zp) };
                for (i, (&x, &g)) in xs.iter().zip(&got).enumerate() {
                    let want = quantize_f32(x, scale, zp, -128, 127) as i8;
                    if g != want {
                        return Err(format!("{}: quantize_i8({x:e}, scale {scale:e}, zp {zp}) at {i}: reference {want} actual {g}", t.name));
                    }
                }
                count += xs.len();
            }
            let qs: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
            let mut out = vec![0f32; qs.len()];
            // SAFETY: CPU support asserted.
            unsafe { (t.dequantize_u8)(&qs, &mut out, scale, zp) };
            for (&q, &o) in qs.iter().zip(&out) {
                let want = dequantize(q as i32, zp, scale);
                if o.to_bits() != want.to_bits() {
                    return Err(format!("{}: dequantize_u8({q}, zp {zp}, scale {scale:e}): reference {want:e} actual {o:e}", t.name));
                }
            }
            let qi: Vec<i8> = qs.iter().map(|&q| q as i8).collect();
            // SAFETY: CPU support asserted.
            unsafe { (t.dequantize_i8)(&qi, &mut out, scale, zp) };
            for (&q, &o) in qi.iter().zip(&out) {
                let want = dequantize(q as i32, zp, scale);
                if o.to_bits() != want.to_bits() {
                    return Err(format!("{}: dequantize_i8({q}, zp {zp}, scale {scale:e}): reference {want:e} actual {o:e}", t.name));
                }
            }
            count += 2 * qs.len();
        }
    }
    // requantize_row over every stage kind, with accumulators at the i32 extremes.
    for idx in 0..STAGE_KINDS.len() {
        for n in [1usize, 7, 16, 33, 100] {
            let stage = stage_kind(&mut rng, idx, n);
            let src: Vec<i32> = (0..n)
                .map(|i| match i % 5 {
                    0 => i32::MIN,
                    1 => i32::MAX,
                    2 => 0,
                    _ => rng.next_u64() as i32 >> rng.range(0, 31),
                })
                .collect();
            let raw = stage.raw();
            let es = stage.dst.size();
            let mut got = vec![0u8; n * es];
            let mut want = vec![0u8; n * es];
            // SAFETY: CPU support asserted; stage arrays cover n columns; got holds n elements.
            unsafe { (t.requantize_row)(&src, &raw, got.as_mut_ptr()) };
            for (j, &acc) in src.iter().enumerate() {
                // SAFETY: as above, for the reference store.
                unsafe { raw.store(acc, j, want.as_mut_ptr(), j) };
            }
            if got != want {
                let j = (0..n)
                    .find(|&j| got[j * es..(j + 1) * es] != want[j * es..(j + 1) * es])
                    .unwrap_or(0);
                return Err(format!(
                    "{}: requantize_row {:?}/{:?} n={n} at {j}: acc {} reference {} actual {}",
                    t.name,
                    stage.dst,
                    stage.scheme,
                    src[j],
                    show(stage.dst, &want[j * es..(j + 1) * es]),
                    show(stage.dst, &got[j * es..(j + 1) * es])
                ));
            }
            count += n;
        }
    }
    // min_max
    for len in [1usize, 2, 15, 16, 17, 100, 1000] {
        let mut v: Vec<f32> = (0..len)
            .map(|_| (rng.range(-1_000_000, 1_000_000) as f32) * 0.001)
            .collect();
        // SAFETY: CPU support asserted.
        let (lo, hi, fin) = unsafe { (t.min_max)(&v) };
        let wlo = v.iter().copied().fold(f32::INFINITY, f32::min);
        let whi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !fin || lo != wlo || hi != whi {
            return Err(format!(
                "{}: min_max len {len}: want ({wlo}, {whi}, true) got ({lo}, {hi}, {fin})",
                t.name
            ));
        }
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let at = rng.range(0, len as i64 - 1) as usize;
            let keep = v[at];
            v[at] = bad;
            // SAFETY: CPU support asserted.
            let (_, _, fin) = unsafe { (t.min_max)(&v) };
            if fin {
                return Err(format!("{}: min_max missed {bad} at {at} of {len}", t.name));
            }
            v[at] = keep;
        }
        count += len;
    }
    Ok(count)
}

/// For a variant the CPU lacks: prints `skipping <name>: CPU lacks <feature>` and returns
/// `true` (skip), unless `ZEROPOINT_TEST_REQUIRE` (comma-separated ISA names, or `all`)
/// names its ISA, in which case it panics. Returns `false` when the variant can run.
pub fn skip_or_require(name: &str, isa: Isa) -> bool {
    match isa.missing_feature() {
        None => false,
        Some(feature) => {
            let req = std::env::var("ZEROPOINT_TEST_REQUIRE").unwrap_or_default();
            let required = req
                .split(',')
                .map(str::trim)
                .any(|r| r.eq_ignore_ascii_case(isa.name()) || r.eq_ignore_ascii_case("all"));
            if required {
                panic!(
                    "{name}: required by ZEROPOINT_TEST_REQUIRE={req} but the CPU lacks {feature}"
                );
            }
            std::eprintln!("skipping {name}: CPU lacks {feature}");
            true
        }
    }
}
