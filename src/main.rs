//! `zeropoint`: the report (CPU features, chosen kernels, throughput), the ONNX
//! conformance replay, and the cross-machine benchmark (`bench`, `compare`; code in
//! `src/cli/`).
//!
//! ```text
//! zeropoint [--json]                 report
//! zeropoint conformance DIR [--isa ISA]
//! zeropoint bench [--quick] [--json FILE]
//! zeropoint compare A.json B.json
//! ```

mod cli;

use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zeropoint::conformance::{run_dir, Outcome};
use zeropoint::{
    variants, Engine, Granularity, Isa, Matrix, MatrixMut, OpKind, OutputStage, PerChannel,
    QuantParams, Requantization, WeightLayout,
};

const USAGE: &str = "usage:
  zeropoint [--json]                      report: CPU, chosen kernels, throughput
  zeropoint conformance DIR [--isa ISA]   replay ONNX conformance cases (*.json) in DIR
  zeropoint bench [--quick] [--json FILE] machine limits + every kernel variant, every shape
  zeropoint compare A.json B.json         two bench files side by side, with ratios B/A";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => report(false),
        Some("--json") if args.len() == 1 => report(true),
        Some("conformance") => conformance(&args[1..]),
        Some("bench") => cli::bench::main(&args[1..]),
        Some("compare") => cli::compare::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("unknown argument {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn conformance(args: &[String]) -> ExitCode {
    let mut dir = None;
    let mut isa = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--isa" => match it.next().map(|s| (s, Isa::from_name(s))) {
                Some((_, Some(i))) => isa = Some(i),
                Some((s, None)) => {
                    eprintln!("unknown ISA {s:?}");
                    return ExitCode::from(2);
                }
                None => {
                    eprintln!("--isa needs a value\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            d if dir.is_none() => dir = Some(d.to_string()),
            other => {
                eprintln!("unexpected argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("conformance needs a directory\n{USAGE}");
        return ExitCode::from(2);
    };
    let engine = match isa.map_or_else(Engine::global, Engine::with_isa) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let results = match run_dir(Path::new(&dir), &engine) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (name, outcome) in &results {
        match outcome {
            Outcome::Pass => pass += 1,
            Outcome::Fail(_) => fail += 1,
            Outcome::Skip(_) => skip += 1,
        }
        println!("{name}: {outcome}");
    }
    println!(
        "conformance ({} / {}): {pass} passed, {fail} failed, {skip} skipped",
        engine.gemm_kernel().name,
        engine.elementwise_kernels().name
    );
    if results.is_empty() {
        eprintln!("no *.json cases in {dir}");
        return ExitCode::FAILURE;
    }
    if fail > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Median seconds per call of `f`, over samples of at least ~40 ms each (about 0.3 s in
/// all per measurement), after one warm-up call.
fn time<F: FnMut()>(mut f: F) -> f64 {
    f();
    let t0 = Instant::now();
    f();
    let once = t0.elapsed().max(Duration::from_nanos(100));
    let iters = ((0.04 / once.as_secs_f64()).ceil() as usize).clamp(1, 1 << 20);
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One row of the throughput table.
struct Row {
    op: &'static str,
    variant: &'static str,
    shape: String,
    seconds: f64,
    value: f64,
    unit: &'static str,
}

fn bench_gemm(engine: &Engine, m: usize, k: usize, n: usize, op: &'static str) -> Row {
    let a = pseudo_random_bytes(m * k, 1);
    let w: Vec<i8> = pseudo_random_bytes(k * n, 2)
        .into_iter()
        .map(|b| b as i8)
        .collect();
    let packed = engine
        .pack_weights(
            Matrix::new(&w, n, k),
            WeightLayout::NxK,
            PerChannel::Tensor(0i8),
        )
        .expect("valid shapes");
    let stage = OutputStage::quantized(Requantization::Fp32(PerChannel::Tensor(1.0 / 4096.0)), 128);
    let mut out = vec![0u8; m * n];
    let secs = time(|| {
        engine
            .gemm(
                Matrix::new(black_box(&a), m, k),
                128u8,
                &packed,
                &stage,
                MatrixMut::new(&mut out, m, n),
            )
            .expect("valid call");
        black_box(&out);
    });
    let (value, unit) = if m == 1 {
        ((k * n) as f64 / secs / 1e9, "GB/s (weights)")
    } else {
        (2.0 * (m * n * k) as f64 / secs / 1e9, "GOPS")
    };
    Row {
        op,
        variant: engine.gemm_kernel().name,
        shape: format!("{m}x{k}x{n}"),
        seconds: secs,
        value,
        unit,
    }
}

fn bench_quantize(engine: &Engine) -> Row {
    let len = 1 << 20;
    let x: Vec<f32> = (0..len)
        .map(|i| ((i * 7919) % 2001) as f32 * 0.01 - 10.0)
        .collect();
    let mut q = vec![0u8; len];
    let p = QuantParams::<u8>::new(0.08, 128).expect("valid params");
    let secs = time(|| {
        engine
            .quantize(black_box(&x), &[len], &Granularity::PerTensor(p), &mut q)
            .expect("valid call");
        black_box(&q);
    });
    Row {
        op: "quantize",
        variant: engine.elementwise_kernels().name,
        shape: "2^20 f32".into(),
        seconds: secs,
        value: (len * 4) as f64 / secs / 1e9,
        unit: "GB/s (f32 in)",
    }
}

/// Depthwise 3×3 (padding 1) on 56×56×128 u8 → u8 through `Conv2d`; GB/s of input read.
fn bench_depthwise(engine: &Engine) -> Row {
    use zeropoint::layers::Nhwc;
    use zeropoint::{Activation, Conv2d, Conv2dGeometry, RequantScheme, WeightQuantization};
    let (h, w, c) = (56, 56, 128);
    let shape = Nhwc::new(1, h, w, c);
    let x = pseudo_random_bytes(h * w * c, 11);
    let wf: Vec<f32> = (0..9 * c)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let g = Conv2dGeometry::new(3, 3)
        .with_padding([1; 4])
        .with_groups(c);
    let conv = Conv2d::new(engine, c, c, g, &wf, None, WeightQuantization::default())
        .expect("valid layer");
    let p = QuantParams::<u8>::new(0.05, 128).expect("valid params");
    let sq = conv
        .static_quant(p, p, RequantScheme::Fp32, Activation::None)
        .expect("valid parameters");
    let mut y = vec![0u8; h * w * c];
    let secs = time(|| {
        conv.forward(&sq, black_box(&x), shape, &mut y)
            .expect("valid call");
        black_box(&y);
    });
    Row {
        op: "depthwise",
        variant: engine.depthwise_kernel().name,
        shape: "3x3 56x56x128".into(),
        seconds: secs,
        value: (h * w * c) as f64 / secs / 1e9,
        unit: "GB/s (u8 in)",
    }
}

fn bench_add(engine: &Engine) -> Row {
    use zeropoint::layers::QTensor;
    use zeropoint::Activation;
    let (h, w, c) = (56, 56, 64);
    let shape = [1, h, w, c];
    let a = pseudo_random_bytes(h * w * c, 12);
    let b = pseudo_random_bytes(h * w * c, 13);
    let pa = QuantParams::<u8>::new(0.05, 128).expect("valid params");
    let pb = QuantParams::<u8>::new(0.03, 120).expect("valid params");
    let pc = QuantParams::<u8>::new(0.07, 125).expect("valid params");
    let mut y = vec![0u8; h * w * c];
    let secs = time(|| {
        engine
            .add(
                QTensor::new(black_box(&a), &shape, pa),
                QTensor::new(black_box(&b), &shape, pb),
                &mut y,
                pc,
                Activation::None,
            )
            .expect("valid call");
        black_box(&y);
    });
    Row {
        op: "add",
        variant: engine.ops_kernels().name,
        shape: "56x56x64 u8".into(),
        seconds: secs,
        value: (3 * h * w * c) as f64 / secs / 1e9,
        unit: "GB/s (2 in + 1 out)",
    }
}

fn report(as_json: bool) -> ExitCode {
    let global = match Engine::global() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("zeropoint: {e}");
            return ExitCode::FAILURE;
        }
    };
    let model = cli::fingerprint::cpu_model();
    let features = cli::fingerprint::cpu_features();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for v in variants().into_iter().filter(|v| v.available) {
        let Ok(engine) = Engine::with_isa(v.isa) else {
            continue;
        };
        if !as_json {
            eprintln!("measuring {} ...", v.name);
        }
        match v.op {
            OpKind::Gemm => {
                rows.push(bench_gemm(&engine, 256, 256, 256, "gemm"));
                rows.push(bench_gemm(&engine, 1, 4096, 4096, "gemv"));
            }
            OpKind::Elementwise => rows.push(bench_quantize(&engine)),
            OpKind::Depthwise => rows.push(bench_depthwise(&engine)),
            OpKind::Ops => rows.push(bench_add(&engine)),
        }
    }
    let isa_env = std::env::var("ZEROPOINT_ISA").ok();
    if as_json {
        let j = json!({
            "cpu": { "model": model, "arch": std::env::consts::ARCH, "cores": cores,
                     "features": features.iter().map(|(n, d)| (n.to_string(), Value::Bool(*d))).collect::<serde_json::Map<_, _>>() },
            "zeropoint_isa": isa_env,
            "chosen": { "isa": global.isa().name(), "gemm": global.gemm_kernel().name,
                        "gemv": global.gemm_kernel().name, "elementwise": global.elementwise_kernels().name },
            "variants": variants().iter().map(|v| json!({"name": v.name, "isa": v.isa.name(), "available": v.available})).collect::<Vec<_>>(),
            "throughput": rows.iter().map(|r| json!({"op": r.op, "variant": r.variant, "shape": r.shape,
                "seconds": r.seconds, "value": r.value, "unit": r.unit})).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&j).expect("serializable")
        );
        return ExitCode::SUCCESS;
    }
    println!("zeropoint {} report", env!("CARGO_PKG_VERSION"));
    println!(
        "CPU        {model} ({}, {cores} logical cores)",
        std::env::consts::ARCH
    );
    let feats: Vec<String> = features
        .iter()
        .map(|(n, d)| format!("{}{n}", if *d { "+" } else { "-" }))
        .collect();
    println!("features   {}", feats.join(" "));
    println!(
        "dispatch   ISA {} ({}); ZEROPOINT_ISA={}",
        global.isa(),
        if isa_env.is_some() {
            "forced"
        } else {
            "best detected"
        },
        isa_env.as_deref().unwrap_or("(unset)")
    );
    println!("  gemm        -> {}", global.gemm_kernel().name);
    println!("  gemv        -> {}", global.gemm_kernel().name);
    println!(
        "  quantize/dequantize/requantize -> {}",
        global.elementwise_kernels().name
    );
    println!("  add/pooling -> {}", global.ops_kernels().name);
    println!("variants");
    for v in variants() {
        println!(
            "  {:<32} {:<11} {}",
            v.name,
            v.isa.name(),
            if v.available {
                "available"
            } else {
                "not on this CPU"
            }
        );
    }
    println!("throughput (1 thread, median of 7 samples)");
    println!(
        "  {:<9} {:<28} {:<16} {:>10} {:>10}",
        "op", "variant", "shape", "time", "rate"
    );
    for r in &rows {
        println!(
            "  {:<9} {:<40} {:<16} {:>8.3}ms {:>9.2} {}",
            r.op,
            r.variant,
            r.shape,
            r.seconds * 1e3,
            r.value,
            r.unit
        );
    }
    ExitCode::SUCCESS
}
