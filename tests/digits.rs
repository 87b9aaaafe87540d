//! The digits end-to-end example as a test: the int8 models (integer-only inference
//! through `zeropoint::layers`) stay within one percentage point of the f32 models on
//! the test split, are at most 26 % of their size, and give identical int8 outputs on
//! every available engine.

#[path = "../examples/digits/model.rs"]
mod model;

use model::{accuracy, load_and_train, QNet, RECIPE};
use zeropoint::{variants, Engine};

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
fn int8_digits_match_f32_and_are_identical_on_every_engine() {
    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/digits/digits.csv"
    ))
    .unwrap();
    let (train, test, nets) = load_and_train(&csv, &RECIPE).unwrap();
    assert_eq!(train.len() + test.len(), 1797);
    let engines = engines();
    for net in &nets {
        let acc_f = accuracy(&net.predict(&test), &test);
        assert!(acc_f > 0.9, "{}: f32 accuracy {acc_f}", net.name);
        let mut reference: Option<Vec<u8>> = None;
        for e in &engines {
            let q = QNet::new(net, &train, e).unwrap();
            let ratio = q.bytes() as f64 / net.bytes() as f64;
            assert!(ratio <= 0.26, "{}: int8 size {ratio:.4} of f32", net.name);
            let mut bufs = [Vec::new(), Vec::new()];
            let logits = q.forward(&test.x, test.len(), &mut bufs).unwrap();
            let acc_q = accuracy(&q.predict(&test, 64).unwrap(), &test);
            assert!(
                (acc_q - acc_f).abs() <= 0.01,
                "{} on {:?}: int8 {acc_q} vs f32 {acc_f}",
                net.name,
                e.isa()
            );
            match &reference {
                None => reference = Some(logits),
                Some(r) => assert!(
                    r == &logits,
                    "{}: int8 logits differ on {:?}",
                    net.name,
                    e.isa()
                ),
            }
        }
    }
}
