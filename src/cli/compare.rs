//! `zeropoint compare A.json B.json`: two `zeropoint bench --json` files side by side.
//!
//! Prints both machines' fingerprints, their limits with the ratio B/A, then every row
//! matched by `op/variant/shape` with both medians and rates and the ratio of rates B/A
//! (above 1: B is faster). Rows present in only one file are listed with a dash. A last
//! section matches the best variant of each machine per `op/shape`, which compares
//! machines whose kernels differ (an AVX-512 machine against an AVX2 one).

use std::collections::BTreeMap;

use std::process::ExitCode;

use serde_json::Value;

use super::bench::FORMAT;

const USAGE: &str = "usage: zeropoint compare A.json B.json";

/// One row of a bench file.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `op/variant/shape`.
    pub id: String,
    /// Operation.
    pub op: String,
    /// Variant (kernel name or the f32 baseline).
    pub variant: String,
    /// Whether the variant is an int8 kernel (it has an ISA), not the f32 baseline.
    pub int8: bool,
    /// Shape label.
    pub shape: String,
    /// Median seconds per call.
    pub median_s: f64,
    /// Rate in `unit`.
    pub rate: f64,
    /// `GOPS`, `GFLOPS` or `GB/s`.
    pub unit: String,
}

/// A parsed bench file.
#[derive(Clone, Debug)]
pub struct BenchFile {
    /// Where it was read from.
    pub path: String,
    /// The whole document (for the fingerprint and limits).
    pub doc: Value,
    /// Rows in file order.
    pub rows: Vec<Row>,
}

/// Parses a bench file's text.
pub fn parse(path: &str, text: &str) -> Result<BenchFile, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("{path}: {e}"))?;
    if doc["format"] != FORMAT {
        return Err(format!(
            "{path}: not a zeropoint bench file (format {} instead of {FORMAT:?})",
            doc["format"]
        ));
    }
    let rows = doc["rows"]
        .as_array()
        .ok_or_else(|| format!("{path}: no \"rows\" array"))?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let s = |k: &str| {
                r[k].as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{path}: rows[{i}].{k} is not a string"))
            };
            let f = |k: &str| {
                r[k].as_f64()
                    .ok_or_else(|| format!("{path}: rows[{i}].{k} is not a number"))
            };
            Ok(Row {
                id: s("id")?,
                op: s("op")?,
                variant: s("variant")?,
                int8: r["isa"].is_string(),
                shape: s("shape")?,
                median_s: f("median_s")?,
                rate: f("rate")?,
                unit: s("unit")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(BenchFile {
        path: path.to_string(),
        doc,
        rows,
    })
}

fn read(path: &str) -> Result<BenchFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    parse(path, &text)
}

fn ratio(a: f64, b: f64) -> String {
    match b / a {
        r if !(a > 0.0 && r.is_finite()) => "-".into(),
        r if r >= 0.1 => format!("{r:.2}×"),
        r => format!("{r:.2e}×"),
    }
}

fn machine(doc: &Value) -> String {
    let cpu = &doc["cpu"];
    let features: Vec<&str> = cpu["features"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_bool() == Some(true))
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{} ({}, {} logical cores; {}){}",
        cpu["model"].as_str().unwrap_or("?"),
        cpu["arch"].as_str().unwrap_or("?"),
        cpu["logical_cores"].as_u64().unwrap_or(0),
        features.join(" "),
        if doc["quick"].as_bool() == Some(true) {
            " [quick run]"
        } else {
            ""
        }
    )
}

/// One limit of a file.
struct LimitEntry {
    key: String,
    name: String,
    value: Option<f64>,
    unit: &'static str,
}

/// The limits of a file in file order: the instruction peaks (GOPS), then the read
/// bandwidth (GB/s).
fn limits(doc: &Value) -> Vec<LimitEntry> {
    let mut v: Vec<LimitEntry> = doc["limits"]["peaks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| LimitEntry {
            key: p["key"].as_str().unwrap_or("?").to_string(),
            name: format!(
                "{} ({})",
                p["name"].as_str().unwrap_or("?"),
                p["isa"].as_str().unwrap_or("?")
            ),
            value: p["gops"].as_f64(),
            unit: "GOPS",
        })
        .collect();
    v.push(LimitEntry {
        key: "read_bandwidth".into(),
        name: "read bandwidth".into(),
        value: doc["limits"]["read_bandwidth"]["gb_per_s"].as_f64(),
        unit: "GB/s",
    });
    v
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

/// The comparison as text lines.
pub fn render(a: &BenchFile, b: &BenchFile) -> Vec<String> {
    let mut out = vec![
        format!("A  {}", a.path),
        format!("   {}", machine(&a.doc)),
        format!("B  {}", b.path),
        format!("   {}", machine(&b.doc)),
        "limits (one core)                           A            B      B/A".into(),
    ];
    let (la, lb) = (limits(&a.doc), limits(&b.doc));
    let find = |l: &[LimitEntry], key: &str| l.iter().position(|e| e.key == key);
    let entries: Vec<&LimitEntry> = la
        .iter()
        .chain(lb.iter().filter(|e| find(&la, &e.key).is_none()))
        .collect();
    for e in entries {
        let va = find(&la, &e.key).and_then(|i| la[i].value);
        let vb = find(&lb, &e.key).and_then(|i| lb[i].value);
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} {}", e.unit));
        out.push(format!(
            "  {:<34} {:>12} {:>12} {:>8}",
            e.name,
            show(va),
            show(vb),
            match (va, vb) {
                (Some(x), Some(y)) => ratio(x, y),
                _ => "-".into(),
            }
        ));
    }
    out.push(format!(
        "  {:<64} {:>11} {:>11} {:>15} {:>15} {:>7}",
        "op/variant/shape", "A median", "B median", "A rate", "B rate", "B/A"
    ));
    let index_b: BTreeMap<&str, &Row> = b.rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let index_a: BTreeMap<&str, &Row> = a.rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let row_line = |id: &str, ra: Option<&Row>, rb: Option<&Row>| {
        let t = |r: Option<&Row>| r.map_or("-".to_string(), |r| fmt_time(r.median_s));
        let v =
            |r: Option<&Row>| r.map_or("-".to_string(), |r| format!("{:.2} {}", r.rate, r.unit));
        let q = match (ra, rb) {
            (Some(x), Some(y)) if x.unit == y.unit => ratio(x.rate, y.rate),
            _ => "-".into(),
        };
        format!(
            "  {:<64} {:>11} {:>11} {:>15} {:>15} {:>7}",
            id,
            t(ra),
            t(rb),
            v(ra),
            v(rb),
            q
        )
    };
    for r in &a.rows {
        out.push(row_line(
            &r.id,
            Some(r),
            index_b.get(r.id.as_str()).copied(),
        ));
    }
    for r in &b.rows {
        if !index_a.contains_key(r.id.as_str()) {
            out.push(row_line(&r.id, None, Some(r)));
        }
    }
    // Best int8 variant per op/shape on each machine.
    out.push("best int8 variant per op/shape (A's best, B's best, ratio of rates B/A)".into());
    let best = |f: &BenchFile| {
        let mut m: BTreeMap<(String, String), Row> = BTreeMap::new();
        for r in f.rows.iter().filter(|r| r.int8) {
            let e = m
                .entry((r.op.clone(), r.shape.clone()))
                .or_insert_with(|| r.clone());
            if r.median_s < e.median_s {
                *e = r.clone();
            }
        }
        m
    };
    let (ba, bb) = (best(a), best(b));
    let order: Vec<(String, String)> = a
        .rows
        .iter()
        .chain(&b.rows)
        .map(|r| (r.op.clone(), r.shape.clone()))
        .fold(Vec::new(), |mut v, k| {
            if !v.contains(&k) {
                v.push(k);
            }
            v
        });
    for key in order {
        let (ra, rb) = (ba.get(&key), bb.get(&key));
        if ra.is_none() && rb.is_none() {
            continue;
        }
        let name = |r: Option<&Row>| r.map_or("-".to_string(), |r| r.variant.clone());
        let v =
            |r: Option<&Row>| r.map_or("-".to_string(), |r| format!("{:.2} {}", r.rate, r.unit));
        out.push(format!(
            "  {:<10} {:<16} {:<38} {:>15}  {:<38} {:>15} {:>7}",
            key.0,
            key.1,
            name(ra),
            v(ra),
            name(rb),
            v(rb),
            match (ra, rb) {
                (Some(x), Some(y)) if x.unit == y.unit => ratio(x.rate, y.rate),
                _ => "-".into(),
            }
        ));
    }
    out
}

/// Runs the subcommand.
pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let [pa, pb] = args else {
        eprintln!("compare needs two files\n{USAGE}");
        return ExitCode::from(2);
    };
    let (a, b) = match (read(pa), read(pb)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for line in render(&a, &b) {
        println!("{line}");
    }
    ExitCode::SUCCESS
}
