//! The hand-picked seed corpus: for each target, a few specs that reach the corners the
//! fuzzer should start from — extremes (−128, 127, 0, 255), exact ties, NaN / ±inf /
//! subnormal parameters, K large enough to wrap i32, every output stage, every error
//! path. `examples/seed_corpus.rs` writes them to `corpus/<target>/<name>`;
//! `tests/corpus.rs` checks that the committed files are exactly these and that each
//! passes its target.

use crate::conv::ConvSpec;
use crate::dynamic_quantize::DynamicSpec;
use crate::gemm::GemmSpec;
use crate::linear::LinearSpec;
use crate::ops::OpsSpec;
use crate::pack::PackSpec;
use crate::params::ParamsSpec;
use crate::quantize::QuantizeSpec;
use crate::requantize::RequantizeSpec;
use crate::stage::StageSpec;
use crate::{F32Params, Fill, Reader, Writer};

/// The fuzz targets, as named in `Cargo.toml` and `fuzz_targets/`.
pub const TARGETS: [&str; 9] = [
    "quantize",
    "dynamic_quantize",
    "gemm",
    "requantize",
    "params",
    "pack",
    "conv",
    "ops",
    "linear",
];

/// Runs target `name` on `data` (as the fuzz target does). Panics on an unknown name.
pub fn run_target(name: &str, data: &[u8]) {
    match name {
        "quantize" => crate::quantize::run(data),
        "dynamic_quantize" => crate::dynamic_quantize::run(data),
        "gemm" => crate::gemm::run(data),
        "requantize" => crate::requantize::run(data),
        "params" => crate::params::run(data),
        "pack" => crate::pack::run(data),
        "conv" => crate::conv::run(data),
        "ops" => crate::ops::run(data),
        "linear" => crate::linear::run(data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

/// A spec of any target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Spec {
    /// `quantize`.
    Quantize(QuantizeSpec),
    /// `dynamic_quantize`.
    Dynamic(DynamicSpec),
    /// `gemm`.
    Gemm(GemmSpec),
    /// `requantize`.
    Requantize(RequantizeSpec),
    /// `params`.
    Params(ParamsSpec),
    /// `pack`.
    Pack(PackSpec),
    /// `conv`.
    Conv(ConvSpec),
    /// `ops`.
    Ops(OpsSpec),
    /// `linear`.
    Linear(LinearSpec),
}

impl Spec {
    /// Runs the target's checks; returns whether the spec was valid input.
    pub fn check(&self) -> bool {
        match self {
            Spec::Quantize(s) => crate::quantize::check(s),
            Spec::Dynamic(s) => crate::dynamic_quantize::check(s),
            Spec::Gemm(s) => crate::gemm::check(s),
            Spec::Requantize(s) => crate::requantize::check(s),
            Spec::Params(s) => crate::params::check(s),
            Spec::Pack(s) => crate::pack::check(s),
            Spec::Conv(s) => crate::conv::check(s),
            Spec::Ops(s) => crate::ops::check(s),
            Spec::Linear(s) => crate::linear::check(s),
        }
    }

    /// The target the spec belongs to.
    pub fn target(&self) -> &'static str {
        match self {
            Spec::Quantize(_) => "quantize",
            Spec::Dynamic(_) => "dynamic_quantize",
            Spec::Gemm(_) => "gemm",
            Spec::Requantize(_) => "requantize",
            Spec::Params(_) => "params",
            Spec::Pack(_) => "pack",
            Spec::Conv(_) => "conv",
            Spec::Ops(_) => "ops",
            Spec::Linear(_) => "linear",
        }
    }

    /// The input bytes that decode to this spec.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Spec::Quantize(s) => s.encode(&mut w),
            Spec::Dynamic(s) => s.encode(&mut w),
            Spec::Gemm(s) => s.encode(&mut w),
            Spec::Requantize(s) => s.encode(&mut w),
            Spec::Params(s) => s.encode(&mut w),
            Spec::Pack(s) => s.encode(&mut w),
            Spec::Conv(s) => s.encode(&mut w),
            Spec::Ops(s) => s.encode(&mut w),
            Spec::Linear(s) => s.encode(&mut w),
        }
        w.0
    }

    /// Decodes `data` as an input of the same target.
    pub fn decode_like(&self, data: &[u8]) -> Spec {
        let r = &mut Reader::new(data);
        match self {
            Spec::Quantize(_) => Spec::Quantize(QuantizeSpec::decode(r)),
            Spec::Dynamic(_) => Spec::Dynamic(DynamicSpec::decode(r)),
            Spec::Gemm(_) => Spec::Gemm(GemmSpec::decode(r)),
            Spec::Requantize(_) => Spec::Requantize(RequantizeSpec::decode(r)),
            Spec::Params(_) => Spec::Params(ParamsSpec::decode(r)),
            Spec::Pack(_) => Spec::Pack(PackSpec::decode(r)),
            Spec::Conv(_) => Spec::Conv(ConvSpec::decode(r)),
            Spec::Ops(_) => Spec::Ops(OpsSpec::decode(r)),
            Spec::Linear(_) => Spec::Linear(LinearSpec::decode(r)),
        }
    }
}

const fn fill(mode: u8, seed: u64) -> Fill {
    Fill { mode, seed }
}

/// Generated valid parameters.
const fn gen(seed: u64) -> F32Params {
    F32Params {
        mode: 1,
        raw: 0,
        seed,
    }
}

/// Every channel the raw bit pattern.
const fn raw(bits: u32) -> F32Params {
    F32Params {
        mode: 0,
        raw: bits,
        seed: 0,
    }
}

/// Fill modes (see [`Fill`]): codes.
const RANDOM: u8 = 0;
const MIN: u8 = 1;
const MAX: u8 = 2;
const EXTREMES: u8 = 3;
const BIASED: u8 = 5;
/// Fill modes: f32.
const F_BITS: u8 = 0;
const F_TIES: u8 = 1;
const F_SPECIAL: u8 = 2;
const F_CONST: u8 = 3;
const F_MAGNITUDES: u8 = 4;
/// Fill modes: i32.
const I_RANDOM: u8 = 0;
const I_EXTREMES: u8 = 1;
const I_SHIFTED: u8 = 2;

/// A quantized stage: `scheme` 0 Fp32 / 1 double / 2 single rounding.
fn quantized(scheme: u8, per_channel: bool) -> StageSpec {
    StageSpec {
        kind: 1,
        scheme,
        per_channel,
        scales: gen(11),
        mult_mode: 1,
        mult_seed: 12,
        zp_raw: 100,
        bias_mode: 1,
        bias_fill: fill(I_SHIFTED, 13),
        ..StageSpec::default()
    }
}

fn quant_seeds() -> Vec<(&'static str, Spec)> {
    let base = QuantizeSpec {
        rank: 1,
        dims: [9, 0, 0],
        scales: gen(1),
        zp_mode: 1,
        zp_fill: fill(RANDOM, 2),
        x_fill: fill(F_TIES, 3),
        ..QuantizeSpec::default()
    };
    let q = |name, s| (name, Spec::Quantize(s));
    vec![
        q("per_tensor_u8_ties", base),
        q(
            "per_tensor_i8_specials",
            QuantizeSpec {
                signed: true,
                x_fill: fill(F_SPECIAL, 4),
                ..base
            },
        ),
        q(
            "per_tensor_u8_arbitrary_bits",
            QuantizeSpec {
                dims: [9, 0, 0],
                x_fill: fill(F_BITS, 5),
                ..base
            },
        ),
        q(
            "per_tensor_subnormal_scale",
            QuantizeSpec {
                scales: raw(1),
                x_fill: fill(F_MAGNITUDES, 6),
                ..base
            },
        ),
        q(
            "per_tensor_nan_scale",
            QuantizeSpec {
                scales: raw(f32::NAN.to_bits()),
                ..base
            },
        ),
        q(
            "per_axis_i8_rank3",
            QuantizeSpec {
                signed: true,
                rank: 3,
                dims: [3, 4, 5],
                gran: 1,
                axis: 1,
                x_fill: fill(F_MAGNITUDES, 7),
                ..base
            },
        ),
        q(
            "per_axis_zero_scale",
            QuantizeSpec {
                rank: 2,
                dims: [4, 6, 0],
                gran: 1,
                axis: 0,
                scales: F32Params {
                    mode: 2,
                    raw: 0,
                    seed: 8,
                },
                ..base
            },
        ),
        q(
            "per_axis_past_rank",
            QuantizeSpec {
                rank: 2,
                dims: [4, 6, 0],
                gran: 1,
                axis: 2,
                ..base
            },
        ),
        q(
            "per_block_u8",
            QuantizeSpec {
                rank: 2,
                dims: [4, 9, 0],
                gran: 2,
                axis: 1,
                block: 4,
                ..base
            },
        ),
        q(
            "per_block_size_zero",
            QuantizeSpec {
                rank: 2,
                dims: [4, 9, 0],
                gran: 2,
                axis: 1,
                block: 0,
                ..base
            },
        ),
        q(
            "input_longer_than_shape",
            QuantizeSpec {
                len_delta: 15,
                ..base
            },
        ),
        q(
            "dequantize_u8_extremes",
            QuantizeSpec {
                dequantize: true,
                x_fill: fill(EXTREMES, 9),
                ..base
            },
        ),
        q(
            "dequantize_i8_per_block",
            QuantizeSpec {
                dequantize: true,
                signed: true,
                rank: 3,
                dims: [2, 7, 3],
                gran: 2,
                axis: 1,
                block: 3,
                x_fill: fill(BIASED, 10),
                ..base
            },
        ),
    ]
}

fn dynamic_seeds() -> Vec<(&'static str, Spec)> {
    let base = DynamicSpec {
        rows: 3,
        cols: 10,
        x_fill: fill(F_TIES, 1),
        scale_bits: 0.05f32.to_bits(),
        ..DynamicSpec::default()
    };
    let d = |name, s| (name, Spec::Dynamic(s));
    vec![
        d("linear_ties", base),
        d(
            "linear_nan_inf",
            DynamicSpec {
                x_fill: fill(F_SPECIAL, 2),
                ..base
            },
        ),
        d(
            "linear_all_zero",
            DynamicSpec {
                x_fill: fill(F_CONST, 0),
                ..base
            },
        ),
        d(
            "rows_u8_asymmetric_magnitudes",
            DynamicSpec {
                per_row: true,
                rows: 4,
                cols: 17,
                x_fill: fill(F_MAGNITUDES, 3),
                ..base
            },
        ),
        d(
            "rows_i8_symmetric_full_nan_padding",
            DynamicSpec {
                per_row: true,
                signed: true,
                mode: 2,
                rows: 5,
                cols: 33,
                pad: 2,
                nan_padding: true,
                ..base
            },
        ),
        d(
            "rows_i8_symmetric_restricted",
            DynamicSpec {
                per_row: true,
                signed: true,
                mode: 1,
                rows: 8,
                cols: 70,
                out_pad: 3,
                ..base
            },
        ),
        d(
            "rows_empty_columns",
            DynamicSpec {
                per_row: true,
                cols: 0,
                ..base
            },
        ),
        d(
            "rows_wrong_parameter_slots",
            DynamicSpec {
                per_row: true,
                short: 15,
                ..base
            },
        ),
    ]
}

fn gemm_seeds() -> Vec<(&'static str, Spec)> {
    let base = GemmSpec {
        b_signed: true,
        m: 13,
        n: 33,
        k: 70,
        za: 128,
        a_fill: fill(BIASED, 1),
        b_fill: fill(BIASED, 2),
        zb_fill: fill(RANDOM, 3),
        out: 1, // u8
        stage: StageSpec {
            clamp_mode: 2, // ReLU
            ..quantized(0, true)
        },
        row_split: 5,
        col_split: 17,
        ..GemmSpec::default()
    };
    let g = |name, s| (name, Spec::Gemm(s));
    vec![
        g("u8i8_to_u8_fp32_per_channel_relu", base),
        g(
            "i8i8_to_i8_double_rounding",
            GemmSpec {
                a_signed: true,
                za: 0x80, // −128
                out: 2,
                stage: quantized(1, true),
                ..base
            },
        ),
        g(
            "u8u8_single_rounding_per_tensor_nxk",
            GemmSpec {
                b_signed: false,
                nxk: true,
                zb_per_channel: true,
                zb_fill: fill(EXTREMES, 4),
                stage: quantized(2, false),
                ..base
            },
        ),
        g(
            "wrap_i32_big_k_extremes",
            GemmSpec {
                big_k: true,
                m: 2,
                n: 33, // two panels of every kernel (NR ≤ 32), so every lane
                k: 7000,
                za: 0,
                a_fill: fill(MAX, 0),  // A = 255
                b_fill: fill(MIN, 0),  // B = −128
                zb_fill: fill(MAX, 0), // zb = 127: every product −65025
                out: 0,
                stage: StageSpec::default(),
                ..base
            },
        ),
        g(
            "f32_output_with_bias",
            GemmSpec {
                out: 3,
                stage: StageSpec {
                    kind: 2,
                    per_channel: true,
                    scales: gen(5),
                    f32_bias_mode: 1,
                    f32_bias: gen(6),
                    bias_mode: 1,
                    bias_fill: fill(I_EXTREMES, 7),
                    ..StageSpec::default()
                },
                ..base
            },
        ),
        g(
            "tile_edges_strides",
            GemmSpec {
                m: 25,
                n: 65,
                k: 257,
                a_pad: 3,
                b_pad: 1,
                out_pad: 2,
                row_split: 12,
                col_split: 31,
                ..base
            },
        ),
        g("k_zero", GemmSpec { k: 0, ..base }),
        g(
            "invalid_clamp",
            GemmSpec {
                stage: StageSpec {
                    clamp_mode: 1,
                    clamp_lo: 10,
                    clamp_hi: 5,
                    ..quantized(0, true)
                },
                ..base
            },
        ),
        g(
            "output_zero_point_out_of_range",
            GemmSpec {
                stage: StageSpec {
                    zp_mode: 3,
                    zp_raw: 300,
                    ..quantized(0, false)
                },
                ..base
            },
        ),
        g(
            "invalid_multiplier",
            GemmSpec {
                stage: StageSpec {
                    mult_mode: 2,
                    mult_m0: 5,
                    mult_shift: 0,
                    ..quantized(1, true)
                },
                ..base
            },
        ),
        g(
            "nan_scale",
            GemmSpec {
                stage: StageSpec {
                    scales: raw(f32::NAN.to_bits()),
                    ..quantized(0, false)
                },
                ..base
            },
        ),
        g("output_buffer_short", GemmSpec { short: 15, ..base }),
        g(
            "zero_points_wrong_count",
            GemmSpec {
                zb_per_channel: true,
                zb_len_delta: 15,
                ..base
            },
        ),
    ]
}

fn requantize_seeds() -> Vec<(&'static str, Spec)> {
    let base = RequantizeSpec {
        rows: 7,
        cols: 37,
        src_pad: 1,
        out_pad: 2,
        src_fill: fill(I_EXTREMES, 1),
        out: 1,
        stage: quantized(0, true),
        ..RequantizeSpec::default()
    };
    let r = |name, s| (name, Spec::Requantize(s));
    vec![
        r("fp32_u8_per_channel_extremes", base),
        r(
            "double_rounding_i8_largest_multiplier",
            RequantizeSpec {
                out: 2,
                src_fill: fill(I_RANDOM, 2),
                stage: StageSpec {
                    mult_mode: 0,
                    mult_m0: i32::MAX,
                    mult_shift: 30,
                    ..quantized(1, false)
                },
                ..base
            },
        ),
        r(
            "single_rounding_u8_smallest_multiplier",
            RequantizeSpec {
                stage: StageSpec {
                    mult_mode: 0,
                    mult_m0: 1 << 30,
                    mult_shift: -31,
                    ..quantized(2, false)
                },
                ..base
            },
        ),
        r(
            "double_rounding_per_channel_shifted",
            RequantizeSpec {
                out: 2,
                src_fill: fill(I_SHIFTED, 3),
                stage: StageSpec {
                    clamp_mode: 3,
                    clamp_lo: 17,
                    clamp_hi: 200,
                    ..quantized(1, true)
                },
                ..base
            },
        ),
        r(
            "f32_output",
            RequantizeSpec {
                out: 3,
                stage: StageSpec {
                    kind: 2,
                    per_channel: true,
                    scales: gen(4),
                    ..StageSpec::default()
                },
                ..base
            },
        ),
        r(
            "i32_output_bias_wraps",
            RequantizeSpec {
                out: 0,
                stage: StageSpec {
                    bias_mode: 1,
                    bias_fill: fill(I_EXTREMES, 5),
                    ..StageSpec::default()
                },
                ..base
            },
        ),
        r(
            "stage_does_not_fit_output_type",
            RequantizeSpec { out: 0, ..base },
        ),
        r(
            "clamp_on_f32_output",
            RequantizeSpec {
                out: 3,
                stage: StageSpec {
                    kind: 2,
                    scales: gen(6),
                    clamp_mode: 2,
                    ..StageSpec::default()
                },
                ..base
            },
        ),
    ]
}

fn params_seeds() -> Vec<(&'static str, Spec)> {
    let base = ParamsSpec {
        scale: 0.1f32.to_bits(),
        zp: 128,
        min: (-1.0f32).to_bits(),
        max: 3.0f32.to_bits(),
        absmax: 2.5f32.to_bits(),
        x: 0.05f32.to_bits(),
        q: 0,
        real: 0.0005f64.to_bits(),
        m0: 1 << 30,
        shift: 0,
    };
    let p = |name, s| (name, Spec::Params(s));
    let nan = f32::NAN.to_bits();
    let inf = f32::INFINITY.to_bits();
    vec![
        p("ordinary", base),
        p(
            "nan_everywhere",
            ParamsSpec {
                scale: nan,
                min: nan,
                max: nan,
                absmax: nan,
                x: nan,
                real: f64::NAN.to_bits(),
                ..base
            },
        ),
        p(
            "infinities",
            ParamsSpec {
                scale: inf,
                min: f32::NEG_INFINITY.to_bits(),
                max: inf,
                absmax: inf,
                x: inf,
                real: f64::INFINITY.to_bits(),
                ..base
            },
        ),
        p(
            "subnormals",
            ParamsSpec {
                scale: 1,
                min: (-1e-45f32).to_bits(),
                max: 1e-45f32.to_bits(),
                absmax: 1,
                x: 3.0f32.to_bits(),
                real: 1, // smallest subnormal f64
                ..base
            },
        ),
        p(
            "width_overflows",
            ParamsSpec {
                min: f32::MIN.to_bits(),
                max: f32::MAX.to_bits(),
                absmax: f32::MAX.to_bits(),
                ..base
            },
        ),
        p(
            "negative_zero_and_negative",
            ParamsSpec {
                scale: (-0.0f32).to_bits(),
                min: 2.0f32.to_bits(),
                max: 1.0f32.to_bits(),
                absmax: (-0.0f32).to_bits(),
                real: (-1.0f64).to_bits(),
                ..base
            },
        ),
        p(
            "multiplier_rounds_up_to_next_power",
            ParamsSpec {
                real: (1.0 - 2f64.powi(-40)).to_bits(),
                m0: i32::MAX,
                shift: -31,
                ..base
            },
        ),
        p(
            "multiplier_smallest",
            ParamsSpec {
                real: 2f64.powi(-32).to_bits(),
                m0: (1 << 30) - 1,
                shift: 30,
                ..base
            },
        ),
        p(
            "multiplier_too_small",
            ParamsSpec {
                real: (2f64.powi(-32) * (1.0 - 2f64.powi(-20))).to_bits(),
                m0: 1 << 30,
                shift: 31,
                ..base
            },
        ),
        p(
            "multiplier_too_large",
            ParamsSpec {
                real: 2f64.powi(30).to_bits(),
                m0: i32::MIN,
                shift: -32,
                ..base
            },
        ),
        p(
            "quantize_tie_and_saturation",
            ParamsSpec {
                scale: 0.5f32.to_bits(),
                zp: 0x80,
                x: 1.25f32.to_bits(),
                q: 0xff,
                ..base
            },
        ),
    ]
}

fn pack_seeds() -> Vec<(&'static str, Spec)> {
    let base = PackSpec {
        signed: true,
        k: 20,
        n: 33,
        zb_fill: fill(RANDOM, 1),
        b_fill: fill(BIASED, 2),
        za: 3,
        a_fill: fill(BIASED, 3),
        ..PackSpec::default()
    };
    let p = |name, s| (name, Spec::Pack(s));
    vec![
        p("kxn_i8_identity", base),
        p(
            "nxk_u8_per_channel_zero_points",
            PackSpec {
                signed: false,
                nxk: true,
                pad: 3,
                zb_per_channel: true,
                zb_fill: fill(EXTREMES, 4),
                ..base
            },
        ),
        p(
            "deep_k_extremes",
            PackSpec {
                k: 190,
                n: 70,
                b_fill: fill(EXTREMES, 5),
                a_fill: fill(EXTREMES, 6),
                za: 255,
                ..base
            },
        ),
        p(
            "wrap_i32_big_k",
            PackSpec {
                big_k: true,
                k: 100,
                n: 9,
                b_fill: fill(MIN, 0),
                zb_fill: fill(MAX, 0),
                a_fill: fill(MAX, 0),
                za: 0,
                ..base
            },
        ),
        p("k_zero", PackSpec { k: 0, ..base }),
        p("n_zero", PackSpec { n: 0, ..base }),
        p("buffer_short", PackSpec { short: 15, ..base }),
        p(
            "zero_points_wrong_count",
            PackSpec {
                zb_per_channel: true,
                zb_len_delta: 14,
                ..base
            },
        ),
    ]
}

fn conv_seeds() -> Vec<(&'static str, Spec)> {
    // 9×8 u8 input, 16 → 20 channels, 3×3, padding 1: the implicit GEMM (16 input
    // channels are whole K groups of every kernel).
    let base = ConvSpec {
        w_signed: true,
        n: 1,
        h: 9,
        w: 8,
        cin_g: 15,
        cout_g: 19,
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        padding: [1, 1, 1, 1],
        zx: 120,
        zw_per_channel: true,
        zw_fill: fill(RANDOM, 1),
        x_fill: fill(BIASED, 2),
        w_fill: fill(BIASED, 3),
        out: 1, // u8
        stage: StageSpec {
            clamp_mode: 2, // ReLU
            ..quantized(0, true)
        },
        split: 30,
        ..ConvSpec::default()
    };
    let c = |name, s| (name, Spec::Conv(s));
    vec![
        c("implicit_3x3_u8_per_channel_relu", base),
        // Per-tensor multipliers through the implicit GEMM: once read from freed stack
        // memory (the stage of each group was lowered from a temporary).
        c(
            "per_tensor_double_rounding_implicit",
            ConvSpec {
                stride: [1, 2],
                stage: StageSpec {
                    clamp_mode: 2,
                    bias_mode: 1,
                    bias_fill: fill(I_SHIFTED, 13),
                    ..quantized(1, false)
                },
                ..base
            },
        ),
        c(
            "i8_input_strided_dilated_double_rounding",
            ConvSpec {
                x_signed: true,
                zx: 0xF6, // −10
                stride: [2, 1],
                dilation: [2, 2],
                padding: [2, 1, 0, 3],
                out: 2,
                stage: quantized(1, true),
                ..base
            },
        ),
        c(
            "im2col_grouped_odd_channels_i32",
            ConvSpec {
                groups: 1, // 2 groups
                cin_g: 4,  // 5 channels each: no whole K groups
                cout_g: 6, // 7 each
                kernel: [5, 3],
                stride: [1, 2],
                out: 0,
                stage: StageSpec::default(),
                ..base
            },
        ),
        c(
            "depthwise_multiplier_u8_weights_single_rounding",
            ConvSpec {
                w_signed: false,
                depthwise: true,
                groups: 10, // 12 channels
                cout_g: 1,  // multiplier 2
                zw_per_channel: false,
                stage: quantized(2, false),
                ..base
            },
        ),
        c(
            "pointwise_direct_batch_f32",
            ConvSpec {
                n: 2,
                kernel: [1, 1],
                padding: [0; 4],
                out: 3,
                stage: StageSpec {
                    kind: 2,
                    per_channel: true,
                    scales: gen(4),
                    f32_bias_mode: 1,
                    f32_bias: gen(5),
                    ..StageSpec::default()
                },
                ..base
            },
        ),
        c(
            "deep_5x5_two_panels",
            ConvSpec {
                h: 12,
                w: 12,
                cin_g: 39,  // 40: K = 1000
                cout_g: 39, // 40
                kernel: [5, 5],
                padding: [2, 2, 2, 2],
                split: 70,
                ..base
            },
        ),
        c(
            "extreme_operands",
            ConvSpec {
                zx: 0,
                x_fill: fill(MAX, 0),
                w_fill: fill(EXTREMES, 6),
                zw_fill: fill(MAX, 0),
                out: 0,
                stage: StageSpec::default(),
                ..base
            },
        ),
        c(
            "empty_input_all_padding",
            ConvSpec {
                h: 0,
                padding: [2, 1, 2, 1],
                ..base
            },
        ),
        c("batch_zero", ConvSpec { n: 0, ..base }),
        c(
            "kernel_zero",
            ConvSpec {
                kernel: [0, 3],
                ..base
            },
        ),
        c(
            "stride_zero",
            ConvSpec {
                stride: [1, 0],
                ..base
            },
        ),
        c(
            "kernel_larger_than_padded_input",
            ConvSpec {
                h: 2,
                kernel: [5, 3],
                padding: [0, 1, 0, 1],
                ..base
            },
        ),
        c("input_short", ConvSpec { short: 13, ..base }),
        c("weights_short", ConvSpec { short: 14, ..base }),
        c("output_short", ConvSpec { short: 15, ..base }),
        c(
            "zero_points_wrong_count",
            ConvSpec {
                zw_len_delta: 14,
                ..base
            },
        ),
        c(
            "output_zero_point_out_of_range",
            ConvSpec {
                stage: StageSpec {
                    zp_mode: 3,
                    zp_raw: 300,
                    ..quantized(0, false)
                },
                ..base
            },
        ),
    ]
}

fn ops_seeds() -> Vec<(&'static str, Spec)> {
    // add: [2, 3, 5] + [3, 1] (broadcast), simple scales; pools: 1×7×6×19 with a 3×3
    // window, stride 2, padding 1.
    let base = OpsSpec {
        rank: [3, 2],
        dims: [[0, 2, 3, 5], [0, 0, 3, 1]],
        nhwc: [1, 7, 6, 19],
        window: [3, 3],
        stride: [2, 2],
        padding: [1, 1, 1, 1],
        scale_mode: [1, 1, 1],
        scale_seed: [0, 1, 2],
        zp: [128, 120, 100],
        a_fill: fill(BIASED, 1),
        b_fill: fill(BIASED, 2),
        ..OpsSpec::default()
    };
    let o = |name, s| (name, Spec::Ops(s));
    let max_pool = OpsSpec { op: 1, ..base };
    let avg_pool = OpsSpec { op: 2, ..base };
    vec![
        o("add_broadcast_u8", base),
        o(
            "add_i8_relu6_scalar_operand",
            OpsSpec {
                signed: true,
                rank: [4, 0],
                dims: [[2, 3, 4, 33], [0; 4]],
                zp: [0x80, 0x05, 0xF0],
                activation: 2,
                ..base
            },
        ),
        o(
            "add_extreme_scales_saturate",
            OpsSpec {
                rank: [1, 1],
                dims: [[0, 0, 0, 5], [0, 0, 0, 5]],
                scale_mode: [0, 0, 0],
                scale_seed: [7, 8, 9],
                a_fill: fill(EXTREMES, 3),
                activation: 1,
                ..base
            },
        ),
        o(
            "add_zero_size_axis",
            OpsSpec {
                dims: [[0, 0, 3, 5], [0, 0, 3, 1]],
                ..base
            },
        ),
        o(
            "add_shapes_do_not_broadcast",
            OpsSpec {
                dims: [[0, 2, 3, 5], [0, 0, 4, 5]],
                ..base
            },
        ),
        o("add_output_short", OpsSpec { short: 15, ..base }),
        o("max_pool_u8", max_pool),
        o(
            "max_pool_i8_extremes_no_padding",
            OpsSpec {
                signed: true,
                padding: [0; 4],
                stride: [1, 1],
                a_fill: fill(EXTREMES, 4),
                ..max_pool
            },
        ),
        o(
            "max_pool_padding_not_below_window",
            OpsSpec {
                padding: [3, 0, 0, 0],
                ..max_pool
            },
        ),
        o(
            "max_pool_zero_stride",
            OpsSpec {
                stride: [0, 1],
                ..max_pool
            },
        ),
        o(
            "max_pool_input_short",
            OpsSpec {
                short: 13,
                ..max_pool
            },
        ),
        o("global_avg_pool_u8", avg_pool),
        o(
            "global_avg_pool_i8_extreme_scales",
            OpsSpec {
                signed: true,
                scale_mode: [0, 0, 0],
                a_fill: fill(MAX, 0),
                ..avg_pool
            },
        ),
        o(
            "global_avg_pool_empty_image",
            OpsSpec {
                nhwc: [1, 0, 6, 19],
                ..avg_pool
            },
        ),
        o(
            "global_avg_pool_output_short",
            OpsSpec {
                short: 15,
                ..avg_pool
            },
        ),
    ]
}

fn linear_seeds() -> Vec<(&'static str, Spec)> {
    // 5 rows, 37 → 19 features, finite weights of every magnitude, a bias, u8 → u8.
    let base = LinearSpec {
        k: 37,
        n: 19,
        m: 5,
        w_fill: fill(F_MAGNITUDES, 1),
        bias_mode: 1,
        bias_fill: fill(F_TIES, 2),
        scale_mode: [1, 1],
        scale_seed: [1, 0],
        zp: [128, 120],
        x_fill: fill(BIASED, 3),
        f_fill: fill(F_TIES, 4),
        ..LinearSpec::default()
    };
    let l = |name, s| (name, Spec::Linear(s));
    vec![
        l("per_channel_symmetric_fp32_u8", base),
        l(
            "per_tensor_asymmetric_double_rounding_i8_relu6",
            LinearSpec {
                scheme: 3,
                x_signed: true,
                y_signed: true,
                zp: [0xF0, 0x05],
                requant: 1,
                activation: 2,
                w_fill: fill(F_TIES, 8),
                ..base
            },
        ),
        l(
            "single_rounding_multiplier_out_of_range",
            LinearSpec {
                scheme: 2,
                scale_mode: [0, 0],
                scale_seed: [11, 12],
                requant: 2,
                activation: 1,
                w_fill: fill(F_TIES, 5),
                bias_mode: 0,
                ..base
            },
        ),
        l(
            "dynamic_input_with_specials",
            LinearSpec {
                f_fill: fill(F_SPECIAL, 6),
                ..base
            },
        ),
        l("batch_zero", LinearSpec { m: 0, ..base }),
        l("no_input_features", LinearSpec { k: 0, ..base }),
        l(
            "non_finite_weights",
            LinearSpec {
                w_fill: fill(F_SPECIAL, 7),
                ..base
            },
        ),
    ]
}

/// Every seed: `(name, spec)`, the spec naming its target.
pub fn seeds() -> Vec<(&'static str, Spec)> {
    let mut v = quant_seeds();
    v.extend(dynamic_seeds());
    v.extend(gemm_seeds());
    v.extend(requantize_seeds());
    v.extend(params_seeds());
    v.extend(pack_seeds());
    v.extend(conv_seeds());
    v.extend(ops_seeds());
    v.extend(linear_seeds());
    v
}
