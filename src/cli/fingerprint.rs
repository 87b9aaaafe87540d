//! What machine this is: CPU model, architecture, logical cores, the CPU features that
//! matter to zeropoint (as the standard library detects them), and the cache sizes the
//! OS reports. Shared by the report and the `bench` subcommand.

use serde_json::{json, Map, Value};

/// The CPU's model name, as the OS reports it.
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    for key in ["model name", "Hardware", "CPU part"] {
        if let Some(line) = info.lines().find(|l| l.starts_with(key)) {
            if let Some((_, v)) = line.split_once(':') {
                return v.trim().to_string();
            }
        }
    }
    "unknown".to_string()
}

/// The CPU features relevant to zeropoint, detected by the standard library (CPUID plus
/// the OS's XCR0 check on x86_64, HWCAP on aarch64).
pub fn cpu_features() -> Vec<(&'static str, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as d;
        vec![
            ("sse4.1", d!("sse4.1")),
            ("avx2", d!("avx2")),
            ("fma", d!("fma")),
            ("avx512f", d!("avx512f")),
            ("avx512bw", d!("avx512bw")),
            ("avx512vl", d!("avx512vl")),
            ("avx512vnni", d!("avx512vnni")),
            ("avxvnni", d!("avxvnni")),
        ]
    }
    #[cfg(target_arch = "aarch64")]
    {
        use std::arch::is_aarch64_feature_detected as d;
        vec![
            ("neon", d!("neon")),
            ("dotprod", d!("dotprod")),
            ("i8mm", d!("i8mm")),
            ("sve", d!("sve")),
        ]
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        vec![]
    }
}

/// One cache level of CPU 0, from `/sys/devices/system/cpu/cpu0/cache`.
#[derive(Clone, Debug)]
pub struct Cache {
    /// 1, 2, 3, ...
    pub level: u32,
    /// `Data`, `Instruction` or `Unified`.
    pub kind: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// The caches of CPU 0 as Linux reports them (empty elsewhere). Under a hypervisor these
/// are what the guest is told, which may not be the hardware's.
pub fn caches() -> Vec<Cache> {
    let mut out = Vec::new();
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        let size = size.trim();
        let (digits, mult) = match size.as_bytes().last() {
            Some(b'K') => (&size[..size.len() - 1], 1u64 << 10),
            Some(b'M') => (&size[..size.len() - 1], 1 << 20),
            Some(b'G') => (&size[..size.len() - 1], 1 << 30),
            _ => (size, 1),
        };
        let (Ok(level), Ok(n)) = (level.trim().parse(), digits.parse::<u64>()) else {
            continue;
        };
        out.push(Cache {
            level,
            kind: kind.trim().to_string(),
            bytes: n * mult,
        });
    }
    out
}

/// Size of the last-level (largest) cache in bytes, if the OS reports one.
pub fn last_level_cache(caches: &[Cache]) -> Option<u64> {
    caches.iter().map(|c| c.bytes).max()
}

/// Formats a byte count as `48 KiB`, `2 MiB`, `1.5 GiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if v.fract() == 0.0 {
        format!("{v} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Logical cores the process may use.
pub fn logical_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The fingerprint as JSON (the `cpu` object of the bench file).
pub fn to_json() -> Value {
    let features: Map<String, Value> = cpu_features()
        .into_iter()
        .map(|(n, d)| (n.to_string(), Value::Bool(d)))
        .collect();
    let caches: Vec<Value> = caches()
        .iter()
        .map(|c| json!({"level": c.level, "type": c.kind, "bytes": c.bytes}))
        .collect();
    json!({
        "model": cpu_model(),
        "arch": std::env::consts::ARCH,
        "os": std::env::consts::OS,
        "logical_cores": logical_cores(),
        "features": features,
        "caches": caches,
    })
}

/// One line per fact, for the text output.
pub fn describe() -> Vec<String> {
    let caches = caches();
    let mut lines = vec![format!(
        "CPU        {} ({}, {} logical cores)",
        cpu_model(),
        std::env::consts::ARCH,
        logical_cores()
    )];
    let feats: Vec<String> = cpu_features()
        .iter()
        .map(|(n, d)| format!("{}{n}", if *d { "+" } else { "-" }))
        .collect();
    lines.push(format!("features   {}", feats.join(" ")));
    if !caches.is_empty() {
        let c: Vec<String> = caches
            .iter()
            .map(|c| {
                let k = match c.kind.as_str() {
                    "Data" => "d",
                    "Instruction" => "i",
                    _ => "",
                };
                format!("L{}{k} {}", c.level, human_bytes(c.bytes))
            })
            .collect();
        lines.push(format!("caches     {} (per OS; CPU 0)", c.join(", ")));
    }
    lines
}
