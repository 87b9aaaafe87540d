//! End-to-end integer-only inference on real data: `cargo run --release --example digits`.
//!
//! Trains (deterministically, plain Rust, f32) a small MLP and a small CNN on the UCI
//! handwritten digits (tests/data/digits, 8×8 images), calibrates the activations on
//! the training split with min/max observers, quantizes both models with
//! `zeropoint::layers` (i8 per-channel weights, u8 activations, i32 bias, fixed-point
//! requantization, fused ReLU), runs integer-only inference on the test split and prints
//! accuracy, model size and latency, f32 against int8.

mod model;

use std::time::Instant;

use model::{accuracy, load_and_train, Net, QNet, CLASSES, PIXELS, RECIPE};
use zeropoint::Engine;

/// Mean seconds per call of `f`, over at least `min_s` seconds.
fn time(min_s: f64, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    let mut n = 0u64;
    while n == 0 || t.elapsed().as_secs_f64() < min_s {
        f();
        n += 1;
    }
    t.elapsed().as_secs_f64() / n as f64
}

fn f32_batch(net: &Net, x: &[f32], n: usize, acts: &mut Vec<Vec<f32>>) -> f32 {
    let mut s = 0.0;
    for i in 0..n {
        s += net.logits(&x[i * PIXELS..(i + 1) * PIXELS], acts)[0];
    }
    s
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/digits/digits.csv");
    let csv = std::fs::read_to_string(path)?;
    let t0 = Instant::now();
    let (train, test, nets) = load_and_train(&csv, &RECIPE)?;
    let train_s = t0.elapsed().as_secs_f64();
    let engine = Engine::global()?;
    println!(
        "digits: {} train / {} test images, 8×8; both models trained in {train_s:.2} s; engine {:?}",
        train.len(),
        test.len(),
        engine.isa()
    );
    println!(
        "{:<20} {:>8} {:>8} {:>9} {:>9} {:>6} {:>10} {:>10} {:>11} {:>11}",
        "model",
        "f32 acc",
        "int8 acc",
        "f32 B",
        "int8 B",
        "ratio",
        "f32 µs/img",
        "int8 µs/img",
        "f32 µs/64",
        "int8 µs/64"
    );
    for net in &nets {
        let q = QNet::new(net, &train, &engine)?;
        let acc_f = accuracy(&net.predict(&test), &test);
        let acc_q = accuracy(&q.predict(&test, 64)?, &test);
        let mut acts = Vec::new();
        let mut bufs = [Vec::new(), Vec::new()];
        let x1 = &test.x[..PIXELS];
        let x64 = &test.x[..64 * PIXELS];
        let f1 = time(0.2, || {
            std::hint::black_box(f32_batch(net, x1, 1, &mut acts));
        });
        let q1 = time(0.2, || {
            std::hint::black_box(q.forward(x1, 1, &mut bufs).map(|v| v[0]).unwrap_or(0));
        });
        let f64b = time(0.3, || {
            std::hint::black_box(f32_batch(net, x64, 64, &mut acts));
        });
        let q64 = time(0.3, || {
            std::hint::black_box(
                q.forward(x64, 64, &mut bufs)
                    .map(|v| v[CLASSES])
                    .unwrap_or(0),
            );
        });
        println!(
            "{:<20} {:>7.2}% {:>7.2}% {:>9} {:>9} {:>5.1}% {:>10.2} {:>11.2} {:>11.1} {:>11.1}",
            net.name,
            100.0 * acc_f,
            100.0 * acc_q,
            net.bytes(),
            q.bytes(),
            100.0 * q.bytes() as f64 / net.bytes() as f64,
            f1 * 1e6,
            q1 * 1e6,
            f64b * 1e6,
            q64 * 1e6
        );
    }
    println!(
        "int8: u8 activations (min/max calibrated on the training split), i8 per-channel \
         symmetric weights, i32 bias, DoubleRounding requantization, fused ReLU; \
         int8 bytes = i8 weights + i32 bias + f32 multiplier per output channel. \
         f32 baseline: plain Rust loops, one image at a time."
    );
    Ok(())
}
