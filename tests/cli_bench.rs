//! The `compare` subcommand of the binary on two small bench files (the `bench`
//! subcommand itself is exercised by CI's smoke run: it measures for ~15 s).

mod common;

use std::path::{Path, PathBuf};

fn bench_file(model: &str, vnni_gops: f64, rows: &[(&str, &str, &str, f64, f64, &str)]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|(op, variant, shape, median, rate, unit)| {
            let isa = if variant.starts_with("matrixmultiply") {
                "null".to_string()
            } else {
                "\"scalar\"".to_string()
            };
            format!(
                r#"{{"id": "{op}/{variant}/{shape}", "op": "{op}", "variant": "{variant}", "isa": {isa},
                  "shape": "{shape}", "median_s": {median}, "rate": {rate}, "unit": "{unit}"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"format": "zeropoint-bench/1", "quick": true,
            "cpu": {{"model": "{model}", "arch": "x86_64", "logical_cores": 2, "features": {{"avx2": true}}}},
            "limits": {{"peaks": [{{"key": "vpdpbusd_zmm", "name": "vpdpbusd zmm", "isa": "avx512vnni", "gops": {vnni_gops}}}],
                        "read_bandwidth": {{"gb_per_s": 10.0}}}},
            "rows": [{}]}}"#,
        rows.join(",")
    )
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zeropoint-cli-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn zeropoint(args: &[&str]) -> (i32, String, String) {
    let out = common::target_command(Path::new(env!("CARGO_BIN_EXE_zeropoint")))
        .args(args)
        .output()
        .expect("run zeropoint");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn compare_matches_rows_and_prints_ratios() {
    let a = write(
        "a.json",
        &bench_file(
            "Machine A",
            800.0,
            &[
                ("gemm", "scalar::k", "256x256x256", 0.004, 8.0, "GOPS"),
                ("gemv", "scalar::k", "1x4096x4096", 0.002, 8.0, "GB/s"),
                (
                    "gemm",
                    "matrixmultiply::sgemm_f32",
                    "256x256x256",
                    0.001,
                    30.0,
                    "GFLOPS",
                ),
            ],
        ),
    );
    let b = write(
        "b.json",
        &bench_file(
            "Machine B",
            400.0,
            &[
                ("gemm", "scalar::k", "256x256x256", 0.002, 16.0, "GOPS"),
                ("quantize", "scalar::e", "2^20", 0.001, 5.0, "GB/s"),
            ],
        ),
    );
    let (code, out, err) = zeropoint(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.contains("Machine A") && out.contains("Machine B"),
        "{out}"
    );
    // Limits side by side with B/A.
    let vnni = out
        .lines()
        .find(|l| l.contains("vpdpbusd zmm"))
        .expect("peak line");
    assert!(
        vnni.contains("800.0 GOPS") && vnni.contains("400.0 GOPS") && vnni.contains("0.50×"),
        "{vnni}"
    );
    // A row in both files: ratio of rates B/A.
    let row = out
        .lines()
        .find(|l| l.contains("gemm/scalar::k/256x256x256"))
        .expect("matched row");
    assert!(
        row.contains("8.00 GOPS") && row.contains("16.00 GOPS") && row.contains("2.00×"),
        "{row}"
    );
    // Rows in only one file are listed with a dash.
    let only_a = out
        .lines()
        .find(|l| l.contains("gemv/scalar::k/1x4096x4096"))
        .expect("A-only row");
    assert!(only_a.trim_end().ends_with('-'), "{only_a}");
    assert!(out.contains("quantize/scalar::e/2^20"), "{out}");
    // Best int8 variant per op/shape, f32 baseline excluded.
    let best = out
        .lines()
        .skip_while(|l| !l.starts_with("best int8"))
        .find(|l| l.contains("256x256x256"))
        .expect("best row");
    assert!(
        best.contains("scalar::k") && best.contains("2.00×") && !best.contains("sgemm"),
        "{best}"
    );
}

#[test]
fn compare_rejects_bad_input() {
    let a = write(
        "not-bench.json",
        r#"{"format": "something else", "rows": []}"#,
    );
    let (code, _, err) = zeropoint(&["compare", a.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not a zeropoint bench file"), "{err}");
    let (code, _, err) = zeropoint(&["compare", "only-one.json"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = zeropoint(&["compare", "/nonexistent/a.json", "/nonexistent/b.json"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn bench_rejects_unknown_arguments() {
    let (code, _, err) = zeropoint(&["bench", "--fast"]);
    assert_eq!(code, 2);
    assert!(err.contains("usage: zeropoint bench"), "{err}");
    let (code, _, _) = zeropoint(&["bench", "--json"]);
    assert_eq!(code, 2);
    let (code, out, _) = zeropoint(&["bench", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--quick"));
}

#[test]
fn bench_only_needs_a_pattern_and_is_listed_in_the_usage() {
    let (code, _, err) = zeropoint(&["bench", "--only"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--only needs a pattern"), "{err}");
    let (code, out, err) = zeropoint(&["bench", "--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("--only PATTERN"), "{out}");
}
