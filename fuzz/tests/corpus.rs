//! Replays the committed corpus through every target without libFuzzer (runs on any
//! toolchain), and checks that the committed seeds are exactly what
//! `examples/seed_corpus.rs` writes and that each decodes to its spec.

use std::collections::BTreeSet;
use std::path::Path;

use zeropoint_fuzz::seeds::{run_target, seeds, TARGETS};

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

#[test]
fn seeds_round_trip_through_their_decoder() {
    for (name, spec) in seeds() {
        let bytes = spec.encode();
        assert_eq!(spec.decode_like(&bytes), spec, "seed {name}");
    }
}

#[test]
fn committed_seeds_match_the_generator() {
    for t in TARGETS {
        let dir = corpus().join(t);
        let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8")
            })
            .filter(|n| !n.starts_with('.'))
            .collect();
        let wanted: BTreeSet<String> = seeds()
            .into_iter()
            .filter(|(_, s)| s.target() == t)
            .map(|(n, _)| n.to_string())
            .collect();
        assert!(!wanted.is_empty(), "no seeds for {t}");
        assert_eq!(
            on_disk, wanted,
            "corpus/{t} differs from the generator: run `cargo run --example seed_corpus`"
        );
    }
    for (name, spec) in seeds() {
        let path = corpus().join(spec.target()).join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(bytes, spec.encode(), "{} is stale", path.display());
    }
}

#[test]
fn every_corpus_file_passes_its_target() {
    let mut n = 0;
    for t in TARGETS {
        let dir = corpus().join(t);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).expect("readable");
            eprintln!("{t}: {}", f.display());
            run_target(t, &data);
            n += 1;
        }
    }
    eprintln!("{n} corpus files passed");
}

#[test]
fn short_and_empty_inputs_do_not_panic() {
    for t in TARGETS {
        for len in 0..64 {
            run_target(t, &vec![0xff; len]);
            run_target(t, &vec![0x00; len]);
        }
    }
}

#[test]
fn pseudo_random_inputs_pass() {
    // A few hundred deterministic random inputs per target: a smoke test of the
    // decoders and checks on any toolchain (the real search is cargo fuzz).
    let mut rng = zeropoint_fuzz::Rng(0x5eed);
    for t in TARGETS {
        for _ in 0..300 {
            let len = rng.below(160) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            run_target(t, &data);
        }
    }
}

/// Seeds meant to take an error path (the rest must be valid input), per target.
const ERROR_SEEDS: &[(&str, &str)] = &[
    ("quantize", "per_tensor_nan_scale"),
    ("quantize", "per_axis_zero_scale"),
    ("quantize", "per_axis_past_rank"),
    ("quantize", "per_block_size_zero"),
    ("quantize", "input_longer_than_shape"),
    ("dynamic_quantize", "linear_nan_inf"),
    ("dynamic_quantize", "rows_empty_columns"),
    ("dynamic_quantize", "rows_wrong_parameter_slots"),
    ("gemm", "invalid_clamp"),
    ("gemm", "output_zero_point_out_of_range"),
    ("gemm", "invalid_multiplier"),
    ("gemm", "nan_scale"),
    ("gemm", "output_buffer_short"),
    ("gemm", "zero_points_wrong_count"),
    ("requantize", "stage_does_not_fit_output_type"),
    ("requantize", "clamp_on_f32_output"),
    ("params", "nan_everywhere"),
    ("params", "infinities"),
    ("params", "negative_zero_and_negative"),
    ("pack", "buffer_short"),
    ("pack", "zero_points_wrong_count"),
    ("conv", "kernel_zero"),
    ("conv", "stride_zero"),
    ("conv", "kernel_larger_than_padded_input"),
    ("conv", "input_short"),
    ("conv", "weights_short"),
    ("conv", "output_short"),
    ("conv", "zero_points_wrong_count"),
    ("conv", "output_zero_point_out_of_range"),
    ("ops", "add_shapes_do_not_broadcast"),
    ("ops", "add_output_short"),
    ("ops", "max_pool_padding_not_below_window"),
    ("ops", "max_pool_zero_stride"),
    ("ops", "max_pool_input_short"),
    ("ops", "global_avg_pool_empty_image"),
    ("ops", "global_avg_pool_output_short"),
    ("linear", "no_input_features"),
    ("linear", "non_finite_weights"),
    ("linear", "dynamic_input_with_specials"),
    ("linear", "single_rounding_multiplier_out_of_range"),
];

#[test]
fn seeds_reach_their_intended_path() {
    for (name, spec) in seeds() {
        let want = !ERROR_SEEDS.contains(&(spec.target(), name));
        assert_eq!(
            spec.check(),
            want,
            "seed {}/{name} should be {} input",
            spec.target(),
            if want { "valid" } else { "invalid" }
        );
    }
}
