//! `zeropoint bench [--quick] [--json FILE]`: a report that travels across machines.
//!
//! 1. The CPU fingerprint (model, detected features, cores, caches).
//! 2. The measured limits of one core ([`super::limits`]): the sustained multiply-add
//!    rate of a register-only loop of each dot-product instruction the CPU has, and the
//!    read bandwidth from a buffer larger than the caches.
//! 3. Per operation × variant × shape ([`super::workloads`], the same workloads as
//!    `cargo bench`): median time, GOPS or GB/s, and the percentage of the relevant
//!    limit — GEMM against the dot-product peak of the kernel's ISA (none for scalar),
//!    GEMV, weight packing and the element-wise operations against the read bandwidth.
//!    The f32 baseline runs on the same shapes.
//!
//! Progress goes to stderr; the report to stdout; `--json FILE` also writes everything
//! as JSON for `zeropoint compare`.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use zeropoint::{variants, Isa, OpKind};

use super::fingerprint;
use super::limits::{self, Limits};
use super::measure::{time, time_pair, Budget, Progress, Timing};
use super::workloads::{
    engine_for, portable_packer, ElemRun, F32Gemm, GemmInputs, GemmRun, GemmShape, LayerRun,
    PackKernelRun, PackRun, TileRun, ELEM_SHAPES, F32_BASELINE, GEMM_SHAPES, PACK_SHAPES, TILE_KS,
};

/// The format tag of the JSON file.
pub const FORMAT: &str = "zeropoint-bench/1";

const USAGE: &str = "usage: zeropoint bench [--quick] [--json FILE] [--only PATTERN]...

  --quick          about 0.2 s per row instead of 1.5 s
  --json FILE      also write the results as JSON
  --only PATTERN   run only the rows whose id (op/variant/shape, as in the JSON) contains
                   PATTERN; repeat to add patterns (the limits are always measured)";

/// What a row's percentage is taken of.
#[derive(Clone, Debug)]
enum Limit {
    /// A dot-product instruction peak (its key and name).
    Peak(&'static str, &'static str),
    /// The read bandwidth.
    ReadBandwidth,
}

/// One measured row.
#[derive(Clone, Debug)]
struct Row {
    op: &'static str,
    variant: String,
    isa: Option<Isa>,
    shape: String,
    timing: Timing,
    /// Integer or float operations per call (GEMM / GEMV).
    ops: Option<u64>,
    /// Bytes that bound the operation (weights for GEMV, in + out for element-wise).
    bytes: Option<u64>,
    /// Whether the rate is quoted in GOPS (else GB/s).
    gops_unit: bool,
    /// Percentage of `limit`.
    pct: Option<(f64, Limit)>,
    /// For a percentage of a peak: the peak's rate (ops/s) timed alternately with this
    /// row ([`time_vs_peak`]), which the percentage is taken of.
    paired_peak: Option<f64>,
    /// Whether the bytes fit in the last-level cache (element-wise / GEMV rows).
    fits_llc: Option<bool>,
}

impl Row {
    /// The percentage of the peak timed alternately with the row, if it was.
    fn paired_pct(&self) -> Option<f64> {
        Some(100.0 * self.gops()? * 1e9 / self.paired_peak?)
    }

    fn id(&self) -> String {
        format!("{}/{}/{}", self.op, self.variant, self.shape)
    }

    fn gops(&self) -> Option<f64> {
        self.ops.map(|o| o as f64 / self.timing.median_s / 1e9)
    }

    fn gb_per_s(&self) -> Option<f64> {
        self.bytes.map(|b| b as f64 / self.timing.median_s / 1e9)
    }

    fn rate(&self) -> (f64, &'static str) {
        if self.gops_unit {
            let unit = if self.isa.is_none() { "GFLOPS" } else { "GOPS" };
            (self.gops().unwrap_or(0.0), unit)
        } else {
            (self.gb_per_s().unwrap_or(0.0), "GB/s")
        }
    }

    fn to_json(&self) -> Value {
        let (rate, unit) = self.rate();
        let mut v = json!({
            "id": self.id(),
            "op": self.op,
            "variant": self.variant,
            "isa": self.isa.map(|i| i.name()),
            "shape": self.shape,
            "median_s": self.timing.median_s,
            "min_s": self.timing.min_s,
            "samples": self.timing.samples,
            "rate": rate,
            "unit": unit,
        });
        if let Some(g) = self.gops() {
            v["gops"] = json!(g);
        }
        if let Some(b) = self.gb_per_s() {
            v["gb_per_s"] = json!(b);
        }
        if let Some(f) = self.fits_llc {
            v["fits_llc"] = json!(f);
        }
        if let Some(pk) = self.paired_peak {
            v["paired_peak_gops"] = json!(pk / 1e9);
        }
        if let Some(p) = self.paired_pct() {
            v["pct_of_paired_peak"] = json!(p);
        }
        if let Some((p, l)) = &self.pct {
            v["pct_of_limit"] = json!(p);
            v["limit"] = json!(match l {
                Limit::Peak(key, _) => *key,
                Limit::ReadBandwidth => "read_bandwidth",
            });
        }
        v
    }
}

/// A row that was not run, and why.
struct Skip {
    id: String,
    reason: String,
}

struct Options {
    quick: bool,
    json: Option<String>,
    only: Vec<String>,
}

impl Options {
    /// Whether the row `id` runs (no `--only`, or a pattern it contains).
    fn wants(&self, id: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| id.contains(p.as_str()))
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        json: None,
        only: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--json" => o.json = Some(it.next().ok_or("--json needs a file name")?.clone()),
            "--only" => o
                .only
                .push(it.next().ok_or("--only needs a pattern")?.clone()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(o)
}

/// Runs the subcommand.
pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let budget = if opts.quick {
        Budget::QUICK
    } else {
        Budget::FULL
    };
    let caches = fingerprint::caches();
    let llc = fingerprint::last_level_cache(&caches);

    let all = variants();
    let gemm_variants: Vec<_> = all.iter().filter(|v| v.op == OpKind::Gemm).collect();
    let elem_variants: Vec<_> = all.iter().filter(|v| v.op == OpKind::Elementwise).collect();
    let dw_variants: Vec<_> = all.iter().filter(|v| v.op == OpKind::Depthwise).collect();
    let total = 2
        + GEMM_SHAPES.len() * (gemm_variants.len() + 1)
        + 2
        + 3 * PACK_SHAPES.len() * gemm_variants.len()
        + ELEM_SHAPES.len() * elem_variants.len()
        + gemm_variants.len()
        + TILE_KS.len() * gemm_variants.len()
        + dw_variants.len()
        + 1;
    let mut progress = Progress::new(total);

    // 1. Limits.
    progress.step("dot-product instruction peaks");
    let (runs, target) = if opts.quick { (3, 0.03) } else { (5, 0.1) };
    let peaks = limits::measure_peaks(runs, target);
    let bw_bytes = limits::bandwidth_buffer_bytes(llc);
    progress.step(&format!(
        "read bandwidth ({})",
        fingerprint::human_bytes(bw_bytes as u64)
    ));
    let bandwidth = limits::measure_bandwidth(bw_bytes, if opts.quick { 3 } else { 9 });
    let llc_bandwidth = limits::llc_buffer_bytes(llc)
        .map(|bytes| limits::measure_bandwidth(bytes, if opts.quick { 15 } else { 45 }));
    let limits = Limits {
        peaks,
        bandwidth,
        llc_bandwidth,
    };
    let bw = limits.bandwidth.bytes_per_s / 1e9;

    let mut rows: Vec<Row> = Vec::new();
    let mut skips: Vec<Skip> = Vec::new();
    let mut skip = |progress: &mut Progress, id: String, reason: String| {
        progress.note(&format!("skipping {id}: {reason}"));
        skips.push(Skip { id, reason });
    };

    // The variants that also run on every core: the best one, and the best one without
    // AMX tiles when that is a different one (AVX-512 VNNI, the best vector kernel).
    let mut mt_variants: Vec<&str> = gemm_variants.first().map(|v| v.name).into_iter().collect();
    if let Some(v) = gemm_variants
        .iter()
        .find(|v| v.isa != Isa::Amx && engine_for(v).is_ok())
    {
        if !mt_variants.contains(&v.name) {
            mt_variants.push(v.name);
        }
    }

    // 2. GEMM / GEMV, every variant, then the f32 baseline, shape by shape.
    for &shape in GEMM_SHAPES {
        let label = shape.label();
        let inputs = GemmInputs::new(shape);
        let fits = llc.map(|l| shape.weight_bytes() <= l);
        for v in &gemm_variants {
            let id = format!("{}/{}/{label}", shape.op, v.name);
            if !opts.wants(&id) {
                continue;
            }
            progress.step(&id);
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    skip(&mut progress, id, why);
                    continue;
                }
            };
            if let Some(why) = shape.skip_reason(v.isa) {
                skip(&mut progress, id, why);
                continue;
            }
            let mut run = match GemmRun::new(engine, &inputs) {
                Ok(r) => r,
                Err(e) => {
                    skip(&mut progress, id, format!("packing failed: {e}"));
                    continue;
                }
            };
            let peak = if shape.m > 1 {
                limits.peak_for(v.isa)
            } else {
                None
            };
            let (timing, paired_peak) = time_vs_peak(budget, peak, || run.run());
            // The best variant of the large square shapes also runs on every core,
            // split by rows through the work-range API.
            let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
            if threads > 1 && shape.m >= 1024 && shape.m == shape.n && mt_variants.contains(&v.name)
            {
                let timing_mt = time(budget, || run.run_threads(threads));
                rows.push(Row {
                    op: "gemm_mt",
                    variant: format!("{} ×{threads} threads", v.name),
                    isa: Some(v.isa),
                    shape: label.clone(),
                    timing: timing_mt,
                    ops: Some(shape.ops()),
                    bytes: Some(shape.weight_bytes()),
                    gops_unit: true,
                    pct: None,
                    paired_peak: None,
                    fits_llc: None,
                });
            }
            let mut row = Row {
                op: shape.op,
                variant: v.name.to_string(),
                isa: Some(v.isa),
                shape: label.clone(),
                timing,
                ops: Some(shape.ops()),
                bytes: Some(shape.weight_bytes()),
                gops_unit: shape.m > 1,
                pct: None,
                paired_peak,
                fits_llc: None,
            };
            if shape.m > 1 {
                row.pct = pct_of_peak(&row, peak);
            } else {
                row.fits_llc = fits;
                row.pct = row
                    .gb_per_s()
                    .map(|g| (100.0 * g / bw, Limit::ReadBandwidth));
            }
            rows.push(row);
        }
        drop(inputs);
        let id = format!("{}/{F32_BASELINE}/{label}", shape.op);
        if !opts.wants(&id) {
            continue;
        }
        progress.step(&id);
        let mut f = F32Gemm::new(shape);
        let timing = time(budget, || f.run());
        let mut row = Row {
            op: shape.op,
            variant: F32_BASELINE.to_string(),
            isa: None,
            shape: label.clone(),
            timing,
            ops: Some(shape.ops()),
            bytes: Some(4 * shape.weight_bytes()),
            gops_unit: shape.m > 1,
            pct: None,
            paired_peak: None,
            fits_llc: None,
        };
        if shape.m == 1 {
            row.fits_llc = llc.map(|l| 4 * shape.weight_bytes() <= l);
            row.pct = row
                .gb_per_s()
                .map(|g| (100.0 * g / bw, Limit::ReadBandwidth));
        }
        rows.push(row);
    }

    // 2b. GEMV with weights larger than the last-level cache (the shapes above fit in
    // a large LLC), against the measured read bandwidth: the best GEMM variant, and the
    // best one without AMX tiles when that is another one (the variants of `gemm_mt`;
    // the x86_64 targets are stated for AVX-512 VNNI, which AMX outranks).
    if let Some(l) = llc {
        let k = 32768;
        let target = (2 * l).clamp(256 << 20, 1 << 30) as usize;
        let n = (target / k).div_ceil(32) * 32;
        let shape = GemmShape {
            op: "gemv_dram",
            m: 1,
            k,
            n,
        };
        let wanted: Vec<_> = gemm_variants
            .iter()
            .filter(|v| mt_variants.contains(&v.name))
            .filter(|v| opts.wants(&format!("gemv_dram/{}/{}", v.name, shape.label())))
            .collect();
        if !wanted.is_empty() {
            // One set of operands (a gigabyte of weights, at most) for all of them.
            let inputs = GemmInputs::new(shape);
            for v in &wanted {
                let id = format!("gemv_dram/{}/{}", v.name, shape.label());
                progress.step(&id);
                let engine = match engine_for(v) {
                    Ok(e) => e,
                    Err(why) => {
                        skip(&mut progress, id, why);
                        continue;
                    }
                };
                let mut run = match GemmRun::new(engine, &inputs) {
                    Ok(r) => r,
                    Err(e) => {
                        skip(&mut progress, id, format!("packing failed: {e}"));
                        continue;
                    }
                };
                let timing = time(budget, || run.run());
                let mut row = Row {
                    op: "gemv_dram",
                    variant: v.name.to_string(),
                    isa: Some(v.isa),
                    shape: shape.label(),
                    timing,
                    ops: Some(shape.ops()),
                    bytes: Some(shape.weight_bytes()),
                    gops_unit: false,
                    pct: None,
                    paired_peak: None,
                    fits_llc: Some(false),
                };
                row.pct = row
                    .gb_per_s()
                    .map(|g| (100.0 * g / bw, Limit::ReadBandwidth));
                rows.push(row);
            }
        }
    }

    // 2b'. The microkernel alone, operands in L1/L2 (the bound of the GEMM rows).
    for &k in TILE_KS {
        for v in &gemm_variants {
            let id = format!("tile_l1/{}/k{k}", v.name);
            if !opts.wants(&id) {
                continue;
            }
            progress.step(&id);
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    skip(&mut progress, id, why);
                    continue;
                }
            };
            let mut run = TileRun::new(&engine, k);
            let peak = limits.peak_for(v.isa);
            let (timing, paired_peak) = time_vs_peak(budget, peak, || run.run());
            let mut row = Row {
                op: "tile_l1",
                variant: v.name.to_string(),
                isa: Some(v.isa),
                shape: run.label(),
                timing,
                ops: Some(run.ops()),
                bytes: None,
                gops_unit: true,
                pct: None,
                paired_peak,
                fits_llc: None,
            };
            row.pct = pct_of_peak(&row, peak);
            rows.push(row);
        }
    }

    // 2c. Weight packing, every GEMM variant, both source layouts, against the read
    // bandwidth: `pack` through the API (what a model load pays), `pack_kernel` the
    // table's packer alone and the portable packer of the same layout (the baseline).
    for &shape in PACK_SHAPES {
        let pack_row = |op: &'static str, variant: String, isa: Isa, timing: Timing| {
            let mut row = Row {
                op,
                variant,
                isa: Some(isa),
                shape: shape.label(),
                timing,
                ops: None,
                bytes: Some(shape.bytes()),
                gops_unit: false,
                pct: None,
                // Source and packed copy.
                paired_peak: None,
                fits_llc: llc.map(|l| 2 * shape.bytes() <= l),
            };
            row.pct = row
                .gb_per_s()
                .map(|g| (100.0 * g / bw, Limit::ReadBandwidth));
            row
        };
        // Portable baselines already measured for this shape (tables can share a layout).
        let mut baselines: Vec<String> = Vec::new();
        for v in &gemm_variants {
            let id = format!("pack/{}/{}", v.name, shape.label());
            if !opts.wants(&id) {
                continue;
            }
            progress.step(&id);
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    skip(&mut progress, id, why);
                    continue;
                }
            };
            let kernel = engine.gemm_kernel();
            let mut packers = vec![(v.name.to_string(), kernel.pack)];
            if v.isa != Isa::Scalar {
                if let Some((name, f)) = portable_packer(kernel.nr, kernel.kr) {
                    if !baselines.contains(&name) {
                        baselines.push(name.clone());
                        packers.push((name, f));
                    }
                }
            }
            let mut run = PackRun::new(engine, shape);
            let timing = time(budget, || run.run());
            rows.push(pack_row("pack", v.name.to_string(), v.isa, timing));
            for (name, packer) in packers {
                progress.step(&format!("pack_kernel/{name}/{}", shape.label()));
                let mut run = PackKernelRun::new(&engine, packer, shape);
                let timing = time(budget, || run.run());
                rows.push(pack_row("pack_kernel", name, v.isa, timing));
            }
        }
    }

    // 3. Element-wise operations.
    for &shape in ELEM_SHAPES {
        for v in &elem_variants {
            let id = format!("{}/{}/{}", shape.op_name(), v.name, shape.label());
            if !opts.wants(&id) {
                continue;
            }
            progress.step(&id);
            let engine = match engine_for(v) {
                Ok(e) => e,
                Err(why) => {
                    skip(&mut progress, id, why);
                    continue;
                }
            };
            let mut run = ElemRun::new(engine, shape);
            let timing = time(budget, || run.run());
            let mut row = Row {
                op: shape.op_name(),
                variant: v.name.to_string(),
                isa: Some(v.isa),
                shape: shape.label(),
                timing,
                ops: None,
                bytes: Some(shape.bytes()),
                gops_unit: false,
                pct: None,
                paired_peak: None,
                fits_llc: llc.map(|l| shape.bytes() <= l),
            };
            row.pct = row
                .gb_per_s()
                .map(|g| (100.0 * g / bw, Limit::ReadBandwidth));
            rows.push(row);
        }
    }
    // 4. Layers (issue 6): Conv2d 3×3 64 → 64 on 56×56 through every GEMM variant
    // (against its peak), Linear 32×4096×4096 on the best one (against the raw GEMM row
    // of the same shape), depthwise 3×3 on 56×56×128 through every depthwise variant.
    for v in gemm_variants.iter().chain(&dw_variants) {
        let dw = v.op == OpKind::Depthwise;
        let (op, shape) = if dw {
            ("depthwise", "3x3_56x56x128")
        } else {
            ("conv2d", "3x3_64to64_56x56")
        };
        let id = format!("{op}/{}/{shape}", v.name);
        if !opts.wants(&id) {
            continue;
        }
        progress.step(&id);
        let engine = match engine_for(v) {
            Ok(e) => e,
            Err(why) => {
                skip(&mut progress, id, why);
                continue;
            }
        };
        let mut run = match LayerRun::conv(engine, dw) {
            Ok(r) => r,
            Err(e) => {
                skip(&mut progress, id, format!("layer setup failed: {e}"));
                continue;
            }
        };
        let peak = if dw { None } else { limits.peak_for(v.isa) };
        let (timing, paired_peak) = time_vs_peak(budget, peak, || run.run());
        let mut row = Row {
            op,
            variant: v.name.to_string(),
            isa: Some(v.isa),
            shape: shape.to_string(),
            timing,
            ops: Some(run.ops),
            bytes: Some(run.input_bytes),
            gops_unit: !dw,
            pct: None,
            paired_peak,
            fits_llc: None,
        };
        if !dw {
            row.pct = pct_of_peak(&row, peak);
        }
        rows.push(row);
    }
    if let Some(best) = gemm_variants.first() {
        let id = format!("linear/{}/32x4096x4096", best.name);
        if opts.wants(&id) {
            progress.step(&id);
            // The layer and the raw GEMM of its shape, timed alternately (the overhead line
            // compares these two, not rows measured seconds apart).
            let shape = GemmShape {
                op: "gemm",
                m: 32,
                k: 4096,
                n: 4096,
            };
            let inputs = GemmInputs::new(shape);
            let setup = engine_for(best).map_err(|e| e.to_string()).and_then(|e| {
                let lin = LayerRun::linear(e, 32, 4096, 4096);
                let gemm = GemmRun::new(e, &inputs);
                lin.and_then(|l| Ok((l, gemm?)))
                    .map_err(|e| format!("layer setup failed: {e}"))
            });
            match setup {
                Ok((mut run, mut gemm)) => {
                    let (timing, gemm_timing) = time_pair(budget, || run.run(), || gemm.run());
                    for (op, timing) in [("linear", timing), ("linear_gemm", gemm_timing)] {
                        rows.push(Row {
                            op,
                            variant: best.name.to_string(),
                            isa: Some(best.isa),
                            shape: "32x4096x4096".into(),
                            timing,
                            ops: Some(run.ops),
                            bytes: Some(run.input_bytes),
                            gops_unit: true,
                            pct: None,
                            paired_peak: None,
                            fits_llc: None,
                        });
                    }
                }
                Err(why) => skip(&mut progress, id, why),
            }
        }
    }
    progress.finish();

    print_text(&opts, &limits, &rows, &skips, budget);
    if let Some(path) = &opts.json {
        let doc = to_json(&opts, &limits, &rows, &skips);
        let text = serde_json::to_string_pretty(&doc).expect("serializable");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {path}");
    }
    ExitCode::SUCCESS
}

/// Times `f` alternately with a burst of `peak`'s instruction loop of about the length
/// of one call of `f` (both under [`time_pair`]), and returns `f`'s timing with the
/// peak's rate at the same moments (ops/s, from the median burst), when the CPU has the
/// peak's instruction. Without one, `f` is timed alone.
fn time_vs_peak(
    budget: Budget,
    peak: Option<&limits::Peak>,
    mut f: impl FnMut(),
) -> (Timing, Option<f64>) {
    let burst = peak.and_then(|p| {
        let t = std::time::Instant::now();
        f();
        let call = t.elapsed().as_secs_f64();
        limits::Burst::new(p, call.clamp(50e-6, 20e-3))
    });
    match burst {
        Some(b) => {
            let (tf, tb) = time_pair(budget, f, || b.run());
            (tf, Some(b.ops() / tb.median_s))
        }
        None => (time(budget, f), None),
    }
}

/// The percentage of `peak` a row reaches, of the best run at the start (the figure
/// targets are stated in). The peak timed alternately with the row is kept beside it
/// ([`Row::paired_pct`]): it shows how far the machine drifted during the row, but it is
/// not the limit, because a kernel can slow the core for the loop that follows it (a
/// convolution left the next `vpdpbusd` burst 13 % slower than a burst alone).
fn pct_of_peak(row: &Row, peak: Option<&limits::Peak>) -> Option<(f64, Limit)> {
    let p = peak?;
    Some((
        100.0 * row.gops()? * 1e9 / p.ops_per_s()?,
        Limit::Peak(p.key, p.name),
    ))
}

fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.2} µs", s * 1e6)
    }
}

fn print_text(opts: &Options, limits: &Limits, rows: &[Row], skips: &[Skip], budget: Budget) {
    println!(
        "zeropoint {} bench{}",
        env!("CARGO_PKG_VERSION"),
        if opts.quick { " --quick" } else { "" }
    );
    for l in fingerprint::describe() {
        println!("{l}");
    }
    let avail: Vec<String> = variants()
        .iter()
        .map(|v| {
            format!(
                "{}{}",
                v.name,
                if v.available {
                    ""
                } else {
                    " (not on this CPU)"
                }
            )
        })
        .collect();
    println!("variants   {}", avail.join(", "));
    println!("limits (one core)");
    for p in &limits.peaks {
        match &p.macs_per_s {
            Ok(r) => println!(
                "  {:<14} ({:<10})  {:>8.1} G multiply-adds/s = {:>8.1} GOPS  ({} MACs/instr, {} accumulators)",
                p.name,
                p.isa.name(),
                r / 1e9,
                2.0 * r / 1e9,
                p.macs_per_instr,
                p.accumulators
            ),
            Err(why) => println!("  {:<14} ({:<10})  skipped: {why}", p.name, p.isa.name()),
        }
    }
    if limits.peaks.is_empty() {
        println!("  (no dot-product instruction loop is known for this architecture)");
    }
    let mut bws = vec![("read bandwidth", &limits.bandwidth)];
    if let Some(b) = &limits.llc_bandwidth {
        bws.push(("read bandwidth, in LLC", b));
    }
    for (name, b) in bws {
        println!(
            "  {:<27}  {:>8.2} GB/s  ({} buffer, {} streams, median of {} passes)",
            name,
            b.bytes_per_s / 1e9,
            fingerprint::human_bytes(b.bytes as u64),
            b.streams,
            b.passes
        );
    }
    println!(
        "results (one thread; median of up to {} calls within {:.1} s per row; percentages of \
         a peak are of its best run above, and in brackets of the same loop timed \
         alternately with the row)",
        budget.max_samples, budget.seconds
    );
    println!(
        "  {:<11} {:<38} {:<16} {:>11} {:>15}  of limit",
        "op", "variant", "shape", "median", "rate"
    );
    for r in rows {
        let (rate, unit) = r.rate();
        let pct = match &r.pct {
            Some((p, Limit::Peak(_, name))) => match r.paired_pct() {
                Some(q) => format!("{p:5.1}% of {name} ({q:.1}% of it alongside)"),
                None => format!("{p:5.1}% of {name}"),
            },
            Some((p, Limit::ReadBandwidth)) => format!(
                "{p:5.1}% of read BW{}",
                if r.fits_llc == Some(true) {
                    " (fits LLC)"
                } else {
                    ""
                }
            ),
            None => "     -".to_string(),
        };
        println!(
            "  {:<11} {:<38} {:<16} {:>11} {:>8.2} {:<6}  {pct}",
            r.op,
            r.variant,
            r.shape,
            fmt_time(r.timing.median_s),
            rate,
            unit
        );
    }
    if !skips.is_empty() {
        println!("skipped");
        for s in skips {
            println!("  {}: {}", s.id, s.reason);
        }
    }
    // Multi-thread scaling through the work-range API.
    for mt in rows.iter().filter(|r| r.op == "gemm_mt") {
        let single = rows
            .iter()
            .find(|r| r.op == "gemm" && r.shape == mt.shape && r.isa == mt.isa);
        if let Some(single) = single {
            println!(
                "scaling {} {}: {:.2}× the one-thread rate",
                mt.variant,
                mt.shape,
                single.timing.median_s / mt.timing.median_s
            );
        }
    }
    // Few-row GEMM and GEMV with weights in the last-level cache stream those weights once
    // per call: their bound is the LLC read bandwidth, not the dot-product peak.
    if let Some(llc_bw) = &limits.llc_bandwidth {
        let cap = llc_bw.bytes_per_s / 1e9;
        for shape in GEMM_SHAPES
            .iter()
            .filter(|s| s.m <= 8 && s.weight_bytes() <= (64 << 20))
        {
            let label = shape.label();
            let best = rows
                .iter()
                .filter(|r| r.op == shape.op && r.shape == label && r.isa.is_some())
                .max_by(|a, b| a.timing.median_s.total_cmp(&b.timing.median_s).reverse());
            if let Some(g) = best.and_then(|b| b.gb_per_s().map(|g| (b, g))) {
                println!(
                    "weights {} {} {}: {:.2} GB/s = {:.1}% of the LLC read bandwidth",
                    shape.op,
                    label,
                    g.0.variant,
                    g.1,
                    100.0 * g.1 / cap
                );
            }
        }
    }
    // Layer overheads: Linear against the raw GEMM of its shape; depthwise against the
    // scalar depthwise kernel.
    for lin in rows.iter().filter(|r| r.op == "linear") {
        if let Some(g) = rows
            .iter()
            .find(|r| r.op == "linear_gemm" && r.shape == lin.shape && r.isa == lin.isa)
        {
            println!(
                "linear {} {}: {:+.1}% time over the raw GEMM timed alternately ({} vs {})",
                lin.shape,
                lin.variant,
                100.0 * (lin.timing.median_s / g.timing.median_s - 1.0),
                fmt_time(lin.timing.median_s),
                fmt_time(g.timing.median_s)
            );
        }
    }
    if let Some(scalar) = rows
        .iter()
        .find(|r| r.op == "depthwise" && r.isa == Some(Isa::Scalar))
    {
        for r in rows
            .iter()
            .filter(|r| r.op == "depthwise" && r.isa != Some(Isa::Scalar))
        {
            println!(
                "depthwise {} {}: {:.2}× the scalar kernel",
                r.shape,
                r.variant,
                scalar.timing.median_s / r.timing.median_s
            );
        }
    }
    // The int8 speedup over the float baseline, per GEMM shape.
    println!("int8 vs f32 (best int8 variant vs {F32_BASELINE}, same shape)");
    for shape in GEMM_SHAPES {
        let label = shape.label();
        let best = rows
            .iter()
            .filter(|r| r.op == shape.op && r.shape == label && r.isa.is_some())
            .max_by(|a, b| a.timing.median_s.total_cmp(&b.timing.median_s).reverse());
        let base = rows
            .iter()
            .find(|r| r.op == shape.op && r.shape == label && r.isa.is_none());
        if let (Some(best), Some(base)) = (best, base) {
            println!(
                "  {:<5} {:<16} {:<38} {:>7.2}× faster ({} vs {})",
                shape.op,
                label,
                best.variant,
                base.timing.median_s / best.timing.median_s,
                fmt_time(best.timing.median_s),
                fmt_time(base.timing.median_s)
            );
        }
    }
}

fn to_json(opts: &Options, limits: &Limits, rows: &[Row], skips: &[Skip]) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "format": FORMAT,
        "zeropoint": env!("CARGO_PKG_VERSION"),
        "quick": opts.quick,
        "unix_time": now,
        "cpu": fingerprint::to_json(),
        "zeropoint_isa": std::env::var("ZEROPOINT_ISA").ok(),
        "variants": variants().iter().map(|v| json!({
            "name": v.name, "isa": v.isa.name(), "available": v.available,
            "op": match v.op { OpKind::Gemm => "gemm", OpKind::Elementwise => "elementwise", OpKind::Depthwise => "depthwise", OpKind::Ops => "ops" },
        })).collect::<Vec<_>>(),
        "limits": limits.to_json(),
        "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "skipped": skips.iter().map(|s| json!({"id": s.id, "reason": s.reason})).collect::<Vec<_>>(),
    })
}
