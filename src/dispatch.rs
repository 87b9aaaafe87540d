//! Run-time dispatch: which kernel tables this build has, which this CPU can run, and
//! which one each operation uses.
//!
//! Detection uses the standard library's `is_x86_feature_detected!` /
//! `is_aarch64_feature_detected!` (CPUID plus the OS's XCR0 register-state check for
//! AVX-512; cached by the standard library). The choice is made once per [`Engine`]:
//! [`Engine::global`] is built on first use and cached in a `OnceLock`, honouring the
//! `ZEROPOINT_ISA` environment variable (read once), and [`Engine::with_isa`] builds one
//! for an explicit ISA. Operations then run their loop nests with no further checks.
//!
//! An ISA acts as a cap: the engine uses, for each operation, the best compiled kernel
//! whose ISA is at most the requested one on the same architecture (scalar is always
//! eligible). Requesting an ISA the CPU lacks is an [`Error::IsaUnavailable`].

use std::sync::OnceLock;

use zeropoint_kernels::{
    DepthwiseKernel, ElementwiseKernels, GemmKernel, Isa, OpsKernels, DEPTHWISE_KERNELS,
    ELEMENTWISE_KERNELS, GEMM_KERNELS, OPS_KERNELS,
};

use crate::{Error, Result};

/// A choice of kernel tables, one per operation, all runnable on this CPU.
#[derive(Clone, Copy, Debug)]
pub struct Engine {
    isa: Isa,
    gemm: &'static GemmKernel,
    elementwise: &'static ElementwiseKernels,
    depthwise: &'static DepthwiseKernel,
    ops: &'static OpsKernels,
}

/// Whether `kernel_isa` may serve a request capped at `cap`.
fn within_cap(kernel_isa: Isa, cap: Isa) -> bool {
    kernel_isa == Isa::Scalar || (kernel_isa.arch() == cap.arch() && kernel_isa <= cap)
}

/// Picks the best table of `tables` within `cap` (tables are listed best first within
/// an architecture; scalar last).
fn pick<T>(tables: &[&'static T], isa_of: impl Fn(&T) -> Isa, cap: Isa) -> &'static T {
    tables
        .iter()
        .copied()
        .filter(|t| within_cap(isa_of(t), cap) && isa_of(t).is_supported())
        .max_by_key(|t| isa_of(t))
        .expect("the scalar tables are always compiled and eligible")
}

impl Engine {
    /// An engine capped at `isa`. Errors when the CPU lacks `isa`.
    pub fn with_isa(isa: Isa) -> Result<Engine> {
        if let Some(arch) = isa.arch() {
            if arch != std::env::consts::ARCH {
                return Err(Error::IsaUnavailable {
                    isa,
                    reason: "belongs to another architecture",
                });
            }
        }
        if !isa.is_supported() {
            return Err(Error::IsaUnavailable {
                isa,
                reason: "this CPU (or OS) lacks the features",
            });
        }
        Ok(Engine {
            isa,
            gemm: pick(GEMM_KERNELS, |k| k.isa, isa),
            elementwise: pick(ELEMENTWISE_KERNELS, |t| t.isa, isa),
            depthwise: pick(DEPTHWISE_KERNELS, |t| t.isa, isa),
            ops: pick(OPS_KERNELS, |t| t.isa, isa),
        })
    }

    /// The best engine for this CPU, or the one `ZEROPOINT_ISA` asks for. Built once and
    /// cached; an invalid `ZEROPOINT_ISA` makes every call return the same error.
    pub fn global() -> Result<Engine> {
        static GLOBAL: OnceLock<Result<Engine>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| match std::env::var("ZEROPOINT_ISA") {
                Ok(v) if !v.trim().is_empty() => {
                    let isa = Isa::from_name(&v).ok_or(Error::UnknownIsa(v))?;
                    Engine::with_isa(isa)
                }
                _ => Engine::with_isa(best_isa()),
            })
            .clone()
    }

    /// The ISA this engine was asked for (its cap).
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The GEMM kernel this engine packs for and runs.
    pub fn gemm_kernel(&self) -> &'static GemmKernel {
        self.gemm
    }

    /// The element-wise table this engine runs.
    pub fn elementwise_kernels(&self) -> &'static ElementwiseKernels {
        self.elementwise
    }

    /// The depthwise-convolution kernel this engine packs for and runs
    /// ([`crate::Conv2d`] with `groups = in_channels > 1`, any channel multiplier).
    /// `i8mm` engines run the `dotprod` kernel.
    pub fn depthwise_kernel(&self) -> &'static DepthwiseKernel {
        self.depthwise
    }

    /// The add and pooling table this engine runs ([`Engine::add`],
    /// [`Engine::global_avg_pool`], [`Engine::max_pool`]).
    pub fn ops_kernels(&self) -> &'static OpsKernels {
        self.ops
    }
}

/// The best ISA this CPU supports (ignoring `ZEROPOINT_ISA`).
pub fn best_isa() -> Isa {
    Isa::ALL
        .into_iter()
        .filter(|i| i.arch().is_none_or(|a| a == std::env::consts::ARCH) && i.is_supported())
        .max()
        .unwrap_or(Isa::Scalar)
}

/// Every ISA of this architecture that the CPU supports, worst first.
pub fn detected_isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|i| i.arch().is_none_or(|a| a == std::env::consts::ARCH) && i.is_supported())
        .collect()
}

/// Which operation a [`Variant`] implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// GEMM / GEMV microkernel with its packer.
    Gemm,
    /// Quantize, dequantize, requantize, min/max.
    Elementwise,
    /// Depthwise convolution (one output pixel from its taps).
    Depthwise,
    /// Quantized add (QLinearAdd) and pooling (channel sums, max over taps).
    Ops,
}

/// One compiled kernel table.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// The operation.
    pub op: OpKind,
    /// The kernel's path-style name.
    pub name: &'static str,
    /// The ISA it needs.
    pub isa: Isa,
    /// Whether this CPU can run it.
    pub available: bool,
}

/// Every compiled kernel variant, with its availability on this CPU. Tests, benches and
/// fuzz targets iterate this list (through [`Engine::with_isa`] with the variant's ISA).
pub fn variants() -> Vec<Variant> {
    let g = GEMM_KERNELS.iter().map(|k| Variant {
        op: OpKind::Gemm,
        name: k.name,
        isa: k.isa,
        available: k.isa.is_supported(),
    });
    let e = ELEMENTWISE_KERNELS.iter().map(|t| Variant {
        op: OpKind::Elementwise,
        name: t.name,
        isa: t.isa,
        available: t.isa.is_supported(),
    });
    let d = DEPTHWISE_KERNELS.iter().map(|t| Variant {
        op: OpKind::Depthwise,
        name: t.name,
        isa: t.isa,
        available: t.isa.is_supported(),
    });
    let o = OPS_KERNELS.iter().map(|t| Variant {
        op: OpKind::Ops,
        name: t.name,
        isa: t.isa,
        available: t.isa.is_supported(),
    });
    g.chain(e).chain(d).chain(o).collect()
}
