//! The measured limits of this machine, one core: the sustained rate of register-only
//! loops of the dot-product instruction each kernel family is built on, and the read
//! bandwidth from a buffer larger than the caches. Kernels are quoted as a percentage of
//! these.
//!
//! | ISA          | loop                                   | multiply-adds per instruction |
//! |--------------|----------------------------------------|-------------------------------|
//! | `avx512vnni` | `vpdpbusd zmm` (u8×i8, 4-way)           | 64                            |
//! | `avx512bw`   | `vpmaddwd`+`vpaddd zmm` (i16×i16, 2-way) | 32                           |
//! | `amx`        | `tdpbusd` (16×16 i32 += 16×64 u8 · 64×16 i8) | 16384                  |
//! | `avxvnni`    | `vpdpbusd ymm` (VEX, u8×i8, 4-way)      | 32                            |
//! | `avx2`       | `vpmaddwd`+`vpaddd ymm`                 | 16                            |
//! | `dotprod`    | `sdot v.4s, v.16b, v.16b`               | 16                            |
//! | `i8mm`       | `smmla v.4s, v.16b, v.16b`              | 32                            |
//!
//! The `avx512bw` and `avx2` GEMM kernels widen u8/i8 to i16 and accumulate each
//! `vpmaddwd` result with a `vpaddd`, so their limit is measured on that pair (the
//! instruction sequence their inner loop issues), not on `vpmaddwd` alone.
//!
//! Each loop keeps 16 (x86_64; 12 for `vpdpbusd ymm`, which has only 16 registers) or
//! 12 (aarch64) independent accumulators so that it is
//! bound by the instruction's throughput, not its latency (latency 4–5 cycles × up to 2
//! per cycle needs at least 10 in flight). The loops run only when the CPU has the
//! feature; otherwise the reason is recorded and printed.
//!
//! Bandwidth: a buffer of max(256 MiB, 2 × the last-level cache) capped at 1 GiB, read
//! with 8 interleaved streams (8 independent sequential pointers, 64 bytes each per
//! step), summing u64 lanes (AVX2 loads when available).

use std::hint::black_box;
use std::time::Instant;

use serde_json::{json, Value};
use zeropoint::Isa;

/// The measured rate of one dot-product instruction loop.
#[derive(Clone, Debug)]
pub struct Peak {
    /// Short key used in JSON and for matching across machines, e.g. `vpdpbusd_zmm`.
    pub key: &'static str,
    /// Human name, e.g. `vpdpbusd zmm`.
    pub name: &'static str,
    /// The zeropoint ISA whose kernels this limit applies to.
    pub isa: Isa,
    /// Multiply-adds one instruction performs.
    pub macs_per_instr: u32,
    /// Independent accumulators in the loop.
    pub accumulators: u32,
    /// Sustained multiply-adds per second (best of the runs), or why it was not measured.
    pub macs_per_s: Result<f64, String>,
    /// The loop itself, `iters` iterations of `per_iter` instructions: present only
    /// where the CPU has the feature (so calling it is sound).
    pub run: Option<fn(u64)>,
    /// Instructions per iteration of `run`.
    pub per_iter: u64,
}

impl Peak {
    /// Operations per second (2 per multiply-add), the unit GEMM rates are quoted in.
    pub fn ops_per_s(&self) -> Option<f64> {
        self.macs_per_s.as_ref().ok().map(|m| 2.0 * m)
    }
}

/// The read-bandwidth measurement.
#[derive(Clone, Debug)]
pub struct Bandwidth {
    /// Buffer size in bytes.
    pub bytes: usize,
    /// Interleaved streams.
    pub streams: usize,
    /// Median bytes per second over the passes.
    pub bytes_per_s: f64,
    /// Passes over the buffer.
    pub passes: usize,
}

/// All limits of this machine.
#[derive(Clone, Debug)]
pub struct Limits {
    /// One entry per instruction loop known for this architecture.
    pub peaks: Vec<Peak>,
    /// Single-core read bandwidth.
    pub bandwidth: Bandwidth,
    /// Single-core read bandwidth from a buffer that stays in the last-level cache
    /// ([`llc_buffer_bytes`]), when the cache is large enough to measure it: the bound of
    /// operations that stream weights which fit that cache.
    pub llc_bandwidth: Option<Bandwidth>,
}

impl Limits {
    /// The peak that GEMM kernels of `isa` are quoted against, if measured. Scalar and
    /// plain NEON kernels have none (no single dot-product instruction bounds them).
    pub fn peak_for(&self, isa: Isa) -> Option<&Peak> {
        self.peaks
            .iter()
            .find(|p| p.isa == isa && p.macs_per_s.is_ok())
    }

    /// JSON form (the `limits` object of the bench file).
    pub fn to_json(&self) -> Value {
        let peaks: Vec<Value> = self
            .peaks
            .iter()
            .map(|p| {
                let mut v = json!({
                    "key": p.key, "name": p.name, "isa": p.isa.name(),
                    "macs_per_instr": p.macs_per_instr, "accumulators": p.accumulators,
                });
                match &p.macs_per_s {
                    Ok(r) => {
                        v["macs_per_s"] = json!(r);
                        v["gops"] = json!(2.0 * r / 1e9);
                    }
                    Err(why) => v["skipped"] = json!(why),
                }
                v
            })
            .collect();
        let bw = |b: &Bandwidth| {
            json!({
                "bytes_per_s": b.bytes_per_s,
                "gb_per_s": b.bytes_per_s / 1e9,
                "buffer_bytes": b.bytes,
                "streams": b.streams,
                "passes": b.passes,
            })
        };
        let mut v = json!({
            "peaks": peaks,
            "read_bandwidth": bw(&self.bandwidth),
        });
        if let Some(b) = &self.llc_bandwidth {
            v["llc_read_bandwidth"] = bw(b);
        }
        v
    }
}

/// Runs `run(iters)` (which executes `iters` loop iterations of `per_iter` instructions)
/// a few times with `iters` calibrated to about `target_s` seconds, and returns the best
/// rate in instructions per second.
fn best_rate(per_iter: u64, runs: usize, target_s: f64, run: fn(u64)) -> f64 {
    let mut iters = 1u64 << 12;
    // Calibrate: grow until one run takes at least a tenth of the target.
    loop {
        let t = Instant::now();
        run(iters);
        let dt = t.elapsed().as_secs_f64();
        if dt >= target_s / 10.0 || iters >= 1 << 40 {
            iters = ((iters as f64) * (target_s / dt.max(1e-9))).max(1.0) as u64;
            break;
        }
        iters *= 4;
    }
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            run(iters);
            (iters * per_iter) as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// Accumulators of the x86_64 loops.
    pub const ACC: usize = 16;

    /// `iters` iterations of 16 independent `vpdpbusd zmm` (u8×i8 → i32, 64
    /// multiply-adds each); returns a reduction of the accumulators.
    ///
    /// # Safety
    /// The CPU supports AVX-512F and AVX-512 VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn vpdpbusd_zmm(iters: u64, seed: i32) -> i32 {
        let a = _mm512_set1_epi32(seed);
        let b = _mm512_set1_epi32(seed.rotate_left(9) | 1);
        let mut acc = [_mm512_setzero_si512(); ACC];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_dpbusd_epi32(*x, a, b);
            }
        }
        let mut s = _mm512_setzero_si512();
        for x in acc {
            s = _mm512_add_epi32(s, x);
        }
        _mm512_reduce_add_epi32(s)
    }

    /// `iters` iterations of 16 independent `vpmaddwd zmm` + `vpaddd zmm` chains (each
    /// result feeds the next pair of its chain, so nothing can be hoisted; 32
    /// multiply-adds per pair): the sequence of the `avx512bw` GEMM inner loop.
    ///
    /// # Safety
    /// The CPU supports AVX-512F and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn vpmaddwd_zmm(iters: u64, seed: i32) -> i32 {
        let b = _mm512_set1_epi32(seed | 0x0001_0001);
        let mut acc: [__m512i; ACC] = core::array::from_fn(|i| _mm512_set1_epi32(seed ^ i as i32));
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_add_epi32(_mm512_madd_epi16(*x, b), b);
            }
        }
        let mut s = _mm512_setzero_si512();
        for x in acc {
            s = _mm512_add_epi32(s, x);
        }
        _mm512_reduce_add_epi32(s)
    }

    /// `iters` iterations of 16 independent `vpmaddwd ymm` + `vpaddd ymm` chains (16
    /// multiply-adds per pair): the sequence of the `avx2` GEMM inner loop.
    ///
    /// # Safety
    /// The CPU supports AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn vpmaddwd_ymm(iters: u64, seed: i32) -> i32 {
        let b = _mm256_set1_epi32(seed | 0x0001_0001);
        let mut acc: [__m256i; ACC] = core::array::from_fn(|i| _mm256_set1_epi32(seed ^ i as i32));
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_add_epi32(_mm256_madd_epi16(*x, b), b);
            }
        }
        let mut s = _mm256_setzero_si256();
        for x in acc {
            s = _mm256_add_epi32(s, x);
        }
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, s) };
        lanes.iter().fold(0, |a, &b| a.wrapping_add(b))
    }

    /// Accumulators of the `vpdpbusd ymm` loop: 12 of the 16 ymm registers (AVX-VNNI has
    /// no AVX-512 register file), enough to cover its latency on two ports.
    pub const ACC_YMM: usize = 12;

    /// `iters` iterations of 12 independent `vpdpbusd ymm` (AVX-VNNI, u8×i8 → i32, 32
    /// multiply-adds each); returns a reduction of the accumulators.
    ///
    /// # Safety
    /// The CPU supports AVX2 and AVX-VNNI.
    #[target_feature(enable = "avx2,avxvnni")]
    pub unsafe fn vpdpbusd_ymm(iters: u64, seed: i32) -> i32 {
        let a = _mm256_set1_epi32(seed);
        let b = _mm256_set1_epi32(seed.rotate_left(9) | 1);
        let mut acc = [_mm256_setzero_si256(); ACC_YMM];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_dpbusd_avx_epi32(*x, a, b);
            }
        }
        let mut s = _mm256_setzero_si256();
        for x in acc {
            s = _mm256_add_epi32(s, x);
        }
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, s) };
        lanes.iter().fold(0, |a, &b| a.wrapping_add(b))
    }

    /// `iters` iterations of 4 independent `tdpbusd` (AMX-INT8, 16×16 tiles of i32 from
    /// 16×64 u8 by 16×64 i8, 16384 multiply-adds each) on operand tiles loaded once.
    ///
    /// # Safety
    /// The CPU supports AMX-TILE and AMX-INT8 and the OS granted the tile state
    /// (`Isa::Amx.is_supported()`).
    pub unsafe fn tdpbusd(iters: u64) {
        #[repr(C, align(64))]
        struct Config([u8; 64]);
        let mut cfg = Config([0; 64]);
        cfg.0[0] = 1;
        for t in 0..8 {
            cfg.0[16 + 2 * t] = 64;
            cfg.0[48 + t] = 16;
        }
        let src = [1u8; 16 * 64];
        // SAFETY: the tile state is usable (contract); the loads read `src` (16 rows of
        // 64 bytes at stride 64); nothing is stored; the state is released.
        unsafe {
            core::arch::asm!(
                "ldtilecfg [{cfg}]",
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "tileloadd tmm4, [{src} + {s}*1]",
                "tileloadd tmm5, [{src} + {s}*1]",
                "tileloadd tmm6, [{src} + {s}*1]",
                "tileloadd tmm7, [{src} + {s}*1]",
                "2:",
                "tdpbusd tmm0, tmm4, tmm6",
                "tdpbusd tmm1, tmm4, tmm7",
                "tdpbusd tmm2, tmm5, tmm6",
                "tdpbusd tmm3, tmm5, tmm7",
                "dec {n}",
                "jnz 2b",
                "tilerelease",
                cfg = in(reg) cfg.0.as_ptr(),
                src = in(reg) src.as_ptr(),
                s = in(reg) 64usize,
                n = inout(reg) iters.max(1) => _,
                options(nostack),
            );
        }
    }

    /// The read loop with AVX2 enabled, so the lanes are summed with 32-byte loads.
    ///
    /// # Safety
    /// The CPU supports AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn read_streams_avx2(buf: &[u64], streams: usize) -> u64 {
        super::read_streams_body(buf, streams)
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    /// Accumulators of the aarch64 loops (v0–v11; v16, v17 hold the operands).
    pub const ACC: usize = 12;

    /// `iters ≥ 1` iterations of 12 independent `sdot v<i>.4s, v16.16b, v17.16b` (16
    /// multiply-adds each). The instructions are given as `.inst` words so that the
    /// assembler needs no `+dotprod`: `0x4e809400 | Rm << 16 | Rn << 5 | Rd`.
    ///
    /// # Safety
    /// The CPU supports the dot-product extension (FEAT_DotProd); `iters ≥ 1`.
    #[target_feature(enable = "neon,dotprod")]
    pub unsafe fn sdot(iters: u64) {
        // Register-only loop; the clobbered vector registers are declared; the
        // CPU supports `sdot` (caller contract); the counter starts at ≥ 1, so the loop
        // ends.
        // SAFETY: the conditions stated just above hold.
        unsafe {
            core::arch::asm!(
                "movi v16.16b, #3",
                "movi v17.16b, #5",
                "2:",
                ".inst 0x4e919600", ".inst 0x4e919601", ".inst 0x4e919602",
                ".inst 0x4e919603", ".inst 0x4e919604", ".inst 0x4e919605",
                ".inst 0x4e919606", ".inst 0x4e919607", ".inst 0x4e919608",
                ".inst 0x4e919609", ".inst 0x4e91960a", ".inst 0x4e91960b",
                "subs {n}, {n}, #1",
                "b.ne 2b",
                n = inout(reg) iters => _,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                out("v16") _, out("v17") _,
                options(nomem, nostack),
            );
        }
    }

    /// `iters ≥ 1` iterations of 12 independent `smmla v<i>.4s, v16.16b, v17.16b` (a 2×8
    /// by 8×2 i8 product, 32 multiply-adds each), as `.inst` words
    /// `0x4e80a400 | Rm << 16 | Rn << 5 | Rd`.
    ///
    /// # Safety
    /// The CPU supports the int8 matrix-multiply extension (FEAT_I8MM); `iters ≥ 1`.
    #[target_feature(enable = "neon,i8mm")]
    pub unsafe fn smmla(iters: u64) {
        // SAFETY: as for `sdot`: register-only, clobbers declared, feature present.
        unsafe {
            core::arch::asm!(
                "movi v16.16b, #3",
                "movi v17.16b, #5",
                "2:",
                ".inst 0x4e91a600", ".inst 0x4e91a601", ".inst 0x4e91a602",
                ".inst 0x4e91a603", ".inst 0x4e91a604", ".inst 0x4e91a605",
                ".inst 0x4e91a606", ".inst 0x4e91a607", ".inst 0x4e91a608",
                ".inst 0x4e91a609", ".inst 0x4e91a60a", ".inst 0x4e91a60b",
                "subs {n}, {n}, #1",
                "b.ne 2b",
                n = inout(reg) iters => _,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                out("v16") _, out("v17") _,
                options(nomem, nostack),
            );
        }
    }
}

/// Measures every instruction loop known for this architecture (skipped with a reason
/// where the CPU lacks the feature). `runs` timed runs of about `target_s` each.
pub fn measure_peaks(runs: usize, target_s: f64) -> Vec<Peak> {
    let mut peaks = known_peaks();
    for p in &mut peaks {
        if let Some(run) = p.run {
            p.macs_per_s = Ok(p.macs_per_instr as f64 * best_rate(p.per_iter, runs, target_s, run));
        }
    }
    peaks
}

/// Every instruction loop known for this architecture, not yet measured: `run` is set
/// where the CPU has the feature, `macs_per_s` holds the reason where it does not.
fn known_peaks() -> Vec<Peak> {
    #[allow(unused_mut)]
    let mut peaks = Vec::new();
    #[allow(unused_variables)]
    let entry = |key,
                 name,
                 isa,
                 macs_per_instr,
                 accumulators: usize,
                 have: bool,
                 lacks: &str,
                 run: fn(u64)| Peak {
        key,
        name,
        isa,
        macs_per_instr,
        accumulators: accumulators as u32,
        macs_per_s: Err(lacks.to_string()),
        run: have.then_some(run),
        per_iter: accumulators as u64,
    };
    #[cfg(target_arch = "x86_64")]
    {
        const SEED: i32 = 0x0102_0304;
        peaks.push(entry(
            "vpdpbusd_zmm",
            "vpdpbusd zmm",
            Isa::Avx512Vnni,
            64,
            x86::ACC,
            Isa::Avx512Vnni.is_supported(),
            "CPU lacks avx512vnni",
            |n| {
                // SAFETY: stored only where AVX-512F and VNNI were detected.
                black_box(unsafe { x86::vpdpbusd_zmm(n, black_box(SEED)) });
            },
        ));
        peaks.push(entry(
            "vpmaddwd_zmm",
            "vpmaddwd+vpaddd zmm",
            Isa::Avx512Bw,
            32,
            x86::ACC,
            Isa::Avx512Bw.is_supported(),
            "CPU lacks avx512bw",
            |n| {
                // SAFETY: stored only where AVX-512F and BW were detected.
                black_box(unsafe { x86::vpmaddwd_zmm(n, black_box(SEED)) });
            },
        ));
        peaks.push(entry(
            "vpmaddwd_ymm",
            "vpmaddwd+vpaddd ymm",
            Isa::Avx2,
            16,
            x86::ACC,
            std::is_x86_feature_detected!("avx2"),
            "CPU lacks avx2",
            |n| {
                // SAFETY: stored only where AVX2 was detected.
                black_box(unsafe { x86::vpmaddwd_ymm(n, black_box(SEED)) });
            },
        ));
        peaks.push(entry(
            "tdpbusd",
            "tdpbusd (AMX)",
            Isa::Amx,
            16 * 16 * 64,
            4,
            Isa::Amx.is_supported(),
            "CPU (or OS) lacks amx-int8",
            |n| {
                // SAFETY: stored only where AMX and its OS tile state were detected.
                unsafe { x86::tdpbusd(n) };
            },
        ));
        peaks.push(entry(
            "vpdpbusd_ymm",
            "vpdpbusd ymm",
            Isa::AvxVnni,
            32,
            x86::ACC_YMM,
            Isa::AvxVnni.is_supported(),
            "CPU lacks avxvnni",
            |n| {
                // SAFETY: stored only where AVX2 and AVX-VNNI were detected.
                black_box(unsafe { x86::vpdpbusd_ymm(n, black_box(SEED)) });
            },
        ));
    }
    #[cfg(target_arch = "aarch64")]
    {
        use std::arch::is_aarch64_feature_detected as d;
        peaks.push(entry(
            "sdot",
            "sdot v.4s",
            Isa::Dotprod,
            16,
            arm::ACC,
            d!("dotprod"),
            "CPU lacks dotprod",
            |n| {
                // SAFETY: stored only where dotprod was detected; n ≥ 1.
                unsafe { arm::sdot(n.max(1)) }
            },
        ));
        peaks.push(entry(
            "smmla",
            "smmla v.4s",
            Isa::I8mm,
            32,
            arm::ACC,
            d!("i8mm"),
            "CPU lacks i8mm",
            |n| {
                // SAFETY: stored only where i8mm was detected; n ≥ 1.
                unsafe { arm::smmla(n.max(1)) }
            },
        ));
    }
    peaks
}

/// A burst of a peak's instruction loop calibrated to a given length, to be timed
/// alternately with a kernel ([`crate::cli::measure::time_pair`]): the kernel's
/// percentage of the peak then compares the two at the same moments of the machine,
/// which a loop measured once at the start of the run cannot (on a shared host the core's
/// rate drifts by several percent within minutes).
pub struct Burst {
    run: fn(u64),
    iters: u64,
    ops: f64,
}

impl Burst {
    /// A burst of `peak`'s loop lasting about `seconds` (at least one iteration), or
    /// `None` where the CPU lacks the feature.
    pub fn new(peak: &Peak, seconds: f64) -> Option<Burst> {
        let run = peak.run?;
        let probe = 1u64 << 12;
        let t = Instant::now();
        run(probe);
        let dt = t.elapsed().as_secs_f64().max(1e-9);
        let iters = ((probe as f64) * seconds / dt).max(1.0) as u64;
        Some(Burst {
            run,
            iters,
            ops: 2.0 * peak.macs_per_instr as f64 * (peak.per_iter * iters) as f64,
        })
    }

    /// Runs the burst once.
    pub fn run(&self) {
        (self.run)(self.iters)
    }

    /// Operations (2 per multiply-add) one run performs.
    pub fn ops(&self) -> f64 {
        self.ops
    }
}

/// Streams of the bandwidth loop.
const STREAMS: usize = 8;

/// Sums `buf` read as `streams` equal sequential parts advanced in lock-step, 8 u64 (one
/// 64-byte line) per stream per step; the tail that does not fill a step is ignored.
#[inline(always)]
fn read_streams_body(buf: &[u64], streams: usize) -> u64 {
    let per = buf.len() / streams / 8 * 8;
    let mut acc = [0u64; 8];
    let parts: Vec<&[u64]> = (0..streams).map(|s| &buf[s * per..(s + 1) * per]).collect();
    let mut i = 0;
    while i < per {
        for p in &parts {
            let line = &p[i..i + 8];
            for (a, &v) in acc.iter_mut().zip(line) {
                *a = a.wrapping_add(v);
            }
        }
        i += 8;
    }
    acc.iter().fold(0, |a, &b| a ^ b)
}

fn read_streams(buf: &[u64], streams: usize) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected just above.
        return unsafe { x86::read_streams_avx2(buf, streams) };
    }
    read_streams_body(buf, streams)
}

/// The buffer size for the bandwidth test: max(256 MiB, 2 × last-level cache), at most
/// 1 GiB.
pub fn bandwidth_buffer_bytes(llc: Option<u64>) -> usize {
    let want = llc.map_or(0, |l| 2 * l).max(256 << 20);
    want.min(1 << 30) as usize
}

/// The buffer size for the last-level-cache bandwidth test: 16 MiB (the weights of the
/// 4096×4096 shapes) when the cache holds at least twice that, else half the cache; none
/// below 4 MiB (then it is hard to tell the LLC from the level below).
pub fn llc_buffer_bytes(llc: Option<u64>) -> Option<usize> {
    let l = llc? as usize;
    (l >= 4 << 20).then(|| (16 << 20).min(l / 2))
}

/// Measures single-core read bandwidth: `passes` timed passes (after one untimed pass
/// that also faults the pages in) over a buffer of `bytes`; returns the median.
pub fn measure_bandwidth(bytes: usize, passes: usize) -> Bandwidth {
    let words = bytes / 8;
    let mut buf: Vec<u64> = Vec::with_capacity(words);
    buf.extend((0..words as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let buf = black_box(buf);
    black_box(read_streams(&buf, STREAMS));
    let read = (buf.len() / STREAMS / 8 * 8 * STREAMS * 8) as f64;
    let mut rates: Vec<f64> = (0..passes.max(1))
        .map(|_| {
            let t = Instant::now();
            black_box(read_streams(black_box(&buf), STREAMS));
            read / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    Bandwidth {
        bytes,
        streams: STREAMS,
        bytes_per_s: rates[rates.len() / 2],
        passes: rates.len(),
    }
}
