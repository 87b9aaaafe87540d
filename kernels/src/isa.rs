//! Instruction-set names.

/// An instruction set that kernels may be written for. Detection lives in the safe crate
/// (it needs `std`); this enum only names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable Rust, every CPU: the reference.
    Scalar,
    /// x86_64 AVX2 (Haswell and later).
    Avx2,
    /// x86_64 AVX-VNNI: the 256-bit VEX `vpdpbusd` (Alder Lake and later client cores,
    /// Zen 5; also present beside AVX-512 on Sapphire Rapids, where AVX-512 VNNI wins).
    AvxVnni,
    /// x86_64 AVX-512 F+BW+VL without VNNI (Skylake-SP, Cascade Lake).
    Avx512Bw,
    /// x86_64 AVX-512 VNNI (`vpdpbusd`, Ice Lake and later).
    Avx512Vnni,
    /// aarch64 Advanced SIMD (every ARMv8 CPU).
    Neon,
    /// aarch64 dot product (`sdot`/`udot`, ARMv8.2+).
    Dotprod,
    /// aarch64 int8 matrix multiply (`smmla`/`usmmla`/`usdot`, ARMv8.6+).
    I8mm,
}

impl Isa {
    /// All instruction sets, in order of preference within an architecture (worst first).
    pub const ALL: [Isa; 8] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::AvxVnni,
        Isa::Avx512Bw,
        Isa::Avx512Vnni,
        Isa::Neon,
        Isa::Dotprod,
        Isa::I8mm,
    ];

    /// The name used by `ZEROPOINT_ISA`, tests and benchmark ids.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avxvnni",
            Isa::Avx512Bw => "avx512bw",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Neon => "neon",
            Isa::Dotprod => "dotprod",
            Isa::I8mm => "i8mm",
        }
    }

    /// Parses a name as written by [`Isa::name`] (ASCII case-insensitive).
    pub fn from_name(s: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The architecture the instruction set belongs to (`None` for scalar: all of them).
    pub const fn arch(self) -> Option<&'static str> {
        match self {
            Isa::Scalar => None,
            Isa::Avx2 | Isa::AvxVnni | Isa::Avx512Bw | Isa::Avx512Vnni => Some("x86_64"),
            Isa::Neon | Isa::Dotprod | Isa::I8mm => Some("aarch64"),
        }
    }

    /// The CPU features (as the standard library's detection macros name them) that the
    /// instruction set needs.
    pub const fn features(self) -> &'static [&'static str] {
        match self {
            Isa::Scalar => &[],
            Isa::Avx2 => &["avx2", "fma"],
            Isa::AvxVnni => &["avx2", "fma", "avxvnni"],
            Isa::Avx512Bw => &["avx512f", "avx512vl", "avx512bw"],
            Isa::Avx512Vnni => &["avx512f", "avx512vl", "avx512bw", "avx512vnni"],
            Isa::Neon => &["neon"],
            Isa::Dotprod => &["neon", "dotprod"],
            Isa::I8mm => &["neon", "dotprod", "i8mm"],
        }
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(any(test, feature = "std"))]
impl Isa {
    /// Whether the running CPU (and OS, for AVX-512 register state) supports this
    /// instruction set, by the standard library's `is_*_feature_detected!` macros, which
    /// check CPUID and XCR0 and cache their answer. `cpufeatures` 0.3 is not used: it
    /// cannot detect `avx512vnni`, `avxvnni`, `dotprod` or `i8mm`.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::AvxVnni => Isa::Avx2.is_supported() && std::is_x86_feature_detected!("avxvnni"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Bw => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                Isa::Avx512Bw.is_supported() && std::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Isa::Dotprod => {
                Isa::Neon.is_supported() && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::I8mm => {
                Isa::Dotprod.is_supported() && std::arch::is_aarch64_feature_detected!("i8mm")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The first feature of [`Isa::features`] this CPU lacks, for skip messages.
    pub fn missing_feature(self) -> Option<&'static str> {
        if self.is_supported() {
            return None;
        }
        if self.arch().is_some_and(|a| a != std::env::consts::ARCH) {
            return Some(match self.arch() {
                Some("x86_64") => "x86_64 (other architecture)",
                _ => "aarch64 (other architecture)",
            });
        }
        Some(self.features().last().copied().unwrap_or("?"))
    }
}
