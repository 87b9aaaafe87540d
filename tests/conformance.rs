//! Replays the vendored ONNX conformance cases (tests/data/onnx) on every available
//! engine: every in-scope case must pass bit for bit, every other case must be skipped
//! with a reason (and is printed), none may fail.

mod common;

use std::path::{Path, PathBuf};

use zeropoint::conformance::{run_case, run_dir, Case, Outcome};
use zeropoint::{variants, Engine, OpKind};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx")
}

const IN_SCOPE_OPS: [&str; 7] = [
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "QLinearMatMul",
    "ConvInteger",
    "QLinearConv",
];
const IN_SCOPE_DTYPES: [&str; 5] = ["uint8", "int8", "int32", "float32", "float16"];

/// Whether a case's operator and every dtype it uses are in scope now.
fn in_scope(c: &Case) -> bool {
    IN_SCOPE_OPS.contains(&c.op.as_str())
        && c.inputs
            .iter()
            .chain(&c.outputs)
            .all(|t| IN_SCOPE_DTYPES.contains(&t.dtype.as_str()))
}

fn engines() -> Vec<Engine> {
    let mut isas: Vec<_> = variants()
        .into_iter()
        .filter(|v| v.available)
        .map(|v| v.isa)
        .collect();
    isas.sort();
    isas.dedup();
    isas.into_iter()
        .map(|i| Engine::with_isa(i).expect("available ISA"))
        .collect()
}

#[test]
fn every_in_scope_case_passes_on_every_engine() {
    let dir = data_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    assert!(
        files.len() >= 150,
        "expected the vendored ONNX cases in {}",
        dir.display()
    );
    let cases: Vec<Case> = files.iter().map(|p| Case::load(p).unwrap()).collect();
    let scoped = cases.iter().filter(|c| in_scope(c)).count();
    assert!(scoped >= 18, "only {scoped} in-scope cases found");
    for engine in engines() {
        let (mut pass, mut skip) = (0, 0);
        for c in &cases {
            match run_case(c, &engine) {
                Outcome::Pass => {
                    assert!(in_scope(c), "{} passed but is counted out of scope", c.name);
                    pass += 1;
                }
                Outcome::Skip(reason) => {
                    assert!(!in_scope(c), "{}: in scope but skipped: {reason}", c.name);
                    println!("skipped {}: {reason}", c.name);
                    skip += 1;
                }
                Outcome::Fail(reason) => {
                    panic!("{} on {}: {reason}", c.name, engine.gemm_kernel().name)
                }
            }
        }
        println!(
            "conformance on {} / {}: {pass} passed, 0 failed, {skip} skipped",
            engine.gemm_kernel().name,
            engine.elementwise_kernels().name
        );
        assert_eq!(pass, scoped);
    }
}

#[test]
fn a_wrong_expected_value_fails() {
    let mut c = Case::load(&data_dir().join("test_qlinearmatmul_2D_uint8_float32.json")).unwrap();
    let engine = Engine::global().unwrap();
    assert_eq!(run_case(&c, &engine), Outcome::Pass);
    c.outputs[0].data[3] ^= 1;
    assert!(matches!(run_case(&c, &engine), Outcome::Fail(m) if m.contains("y[3]")));
    let mut d = Case::load(&data_dir().join("test_dequantizelinear_axis.json")).unwrap();
    d.outputs[0].data[0] += 1;
    assert!(matches!(run_case(&d, &engine), Outcome::Fail(_)));
}

#[test]
fn variants_list_gemm_and_elementwise() {
    let v = variants();
    assert!(v.iter().any(|v| v.op == OpKind::Gemm && v.available));
    assert!(v.iter().any(|v| v.op == OpKind::Elementwise && v.available));
}

#[test]
fn cli_replays_a_directory_and_fails_on_a_bad_case() {
    let exe = env!("CARGO_BIN_EXE_zeropoint");
    let out = common::target_command(Path::new(exe))
        .args(["conformance"])
        .arg(data_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "conformance CLI failed:\n{text}");
    let summary = text.lines().last().unwrap_or("");
    assert!(
        summary.contains(" passed, 0 failed, "),
        "summary line: {summary}"
    );
    assert!(text
        .lines()
        .any(|l| l.starts_with("test_matmulinteger: PASS")));
    assert!(text
        .lines()
        .any(|l| l.starts_with("test_cast_FLOAT_to_INT4: SKIP")));

    // A directory with one corrupted expectation makes the command fail.
    let tmp = std::env::temp_dir().join(format!("zeropoint-conf-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let src = std::fs::read_to_string(data_dir().join("test_matmulinteger.json")).unwrap();
    let bad = src.replace("[-38,-83,", "[-38,-84,");
    assert_ne!(src, bad);
    std::fs::write(tmp.join("bad.json"), bad).unwrap();
    let out = common::target_command(Path::new(exe))
        .args(["conformance"])
        .arg(&tmp)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a failing case must give a non-zero exit:\n{text}"
    );
    assert!(text.contains("1 failed"), "{text}");
    let _ = std::fs::remove_dir_all(&tmp);

    // Every ISA named on the command line is honoured or refused with an error.
    let out = common::target_command(Path::new(exe))
        .args(["conformance"])
        .arg(data_dir())
        .args(["--isa", "scalar"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("scalar::gemm"));
    let foreign = if cfg!(target_arch = "x86_64") {
        "neon"
    } else {
        "avx2"
    };
    let out = common::target_command(Path::new(exe))
        .args(["conformance"])
        .arg(data_dir())
        .args(["--isa", foreign])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an ISA of another architecture must be refused"
    );
}

#[test]
fn report_runs_and_names_the_chosen_kernels() {
    let exe = env!("CARGO_BIN_EXE_zeropoint");
    let out = common::target_command(Path::new(exe))
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    // Under an emulator (CI's qemu lanes) the binary runs through the same runner
    // (`common::target_command`); its choice is checked against the compiled variants.
    let chosen = v["chosen"]["gemm"].as_str().unwrap();
    assert!(
        variants().iter().any(|x| x.name == chosen),
        "unknown kernel {chosen}"
    );
    let rows = v["throughput"].as_array().unwrap();
    for op in ["gemm", "gemv", "quantize"] {
        assert!(
            rows.iter()
                .any(|r| r["op"] == op && r["value"].as_f64().unwrap() > 0.0),
            "no {op} row"
        );
    }
}

#[test]
fn run_dir_reports_missing_directories() {
    let engine = Engine::global().unwrap();
    assert!(run_dir(Path::new("/nonexistent/zeropoint"), &engine).is_err());
}
