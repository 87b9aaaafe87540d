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
    /// x86_64 AMX-INT8 tiles (`tdpbusd`, Sapphire Rapids and later), with AVX-512 VNNI
    /// for everything around the tiles. Needs the OS to grant the tile state (on Linux
    /// an `arch_prctl` request, made on first detection).
    Amx,
    /// aarch64 Advanced SIMD (every ARMv8 CPU).
    Neon,
    /// aarch64 dot product (`sdot`/`udot`, ARMv8.2+).
    Dotprod,
    /// aarch64 int8 matrix multiply (`smmla`/`usmmla`/`usdot`, ARMv8.6+).
    I8mm,
}

impl Isa {
    /// All instruction sets, in order of preference within an architecture (worst first).
    pub const ALL: [Isa; 9] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::AvxVnni,
        Isa::Avx512Bw,
        Isa::Avx512Vnni,
        Isa::Amx,
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
            Isa::Amx => "amx",
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
            Isa::Avx2 | Isa::AvxVnni | Isa::Avx512Bw | Isa::Avx512Vnni | Isa::Amx => Some("x86_64"),
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
            Isa::Amx => &[
                "avx512f",
                "avx512vl",
                "avx512bw",
                "avx512vnni",
                "amx-tile",
                "amx-int8",
            ],
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
            #[cfg(target_arch = "x86_64")]
            Isa::Amx => Isa::Avx512Vnni.is_supported() && amx::usable(),
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

/// AMX detection. The standard library's `is_x86_feature_detected!("amx-int8")` is not
/// stable yet, so this reads CPUID and XCR0 itself, then asks Linux for the tile data
/// state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), without which the
/// first tile instruction faults. The answer is cached.
#[cfg(all(any(test, feature = "std"), target_arch = "x86_64"))]
mod amx {
    use core::sync::atomic::{AtomicU8, Ordering};

    /// 0 = not checked yet, 1 = usable, 2 = not usable.
    static STATE: AtomicU8 = AtomicU8::new(0);

    /// Whether AMX-TILE and AMX-INT8 are present and the OS lets this process use them.
    pub fn usable() -> bool {
        match STATE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let ok = check();
                STATE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
                ok
            }
        }
    }

    fn check() -> bool {
        // CPUID leaf 7 subleaf 0, EDX: bit 24 AMX-TILE, bit 25 AMX-INT8. Leaf 1 ECX bit 27:
        // OSXSAVE (XGETBV usable).
        // CPUID is safe to run on x86_64; leaf 7 is read only when the maximum leaf
        // (leaf 0, EAX) is at least 7.
        let (max_leaf, leaf1, leaf7) = {
            let max = core::arch::x86_64::__cpuid(0).eax;
            (
                max,
                core::arch::x86_64::__cpuid(1),
                if max >= 7 {
                    core::arch::x86_64::__cpuid_count(7, 0)
                } else {
                    core::arch::x86_64::CpuidResult {
                        eax: 0,
                        ebx: 0,
                        ecx: 0,
                        edx: 0,
                    }
                },
            )
        };
        let cpu = max_leaf >= 7 && leaf7.edx & (1 << 24) != 0 && leaf7.edx & (1 << 25) != 0;
        if !cpu || leaf1.ecx & (1 << 27) == 0 {
            return false;
        }
        let (lo, _hi): (u32, u32);
        // SAFETY: OSXSAVE is set (checked above), so XGETBV with ECX = 0 reads XCR0.
        unsafe {
            core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") _hi,
                options(nomem, nostack, preserves_flags));
        }
        // XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the OS manages the tile state.
        if lo & (3 << 17) != 3 << 17 {
            return false;
        }
        request_tile_state()
    }

    /// Linux: `arch_prctl(ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18)`.
    #[cfg(target_os = "linux")]
    fn request_tile_state() -> bool {
        let ret: i64;
        // the arch_prctl system call (158 on x86_64) with these arguments only
        // changes this process's permission for the tile state; it reads and writes no
        // user memory. `syscall` clobbers rcx and r11.
        // SAFETY: the conditions stated just above hold.
        unsafe {
            core::arch::asm!("syscall", inlateout("rax") 158i64 => ret, in("rdi") 0x1023u64,
                in("rsi") 18u64, lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret == 0
    }

    /// Other systems: no known way to request the state here, so AMX is not used.
    #[cfg(not(target_os = "linux"))]
    fn request_tile_state() -> bool {
        false
    }
}
