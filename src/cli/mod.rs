//! The binary's own code (not part of the library): the `bench` and `compare`
//! subcommands and what they are built from.
//!
//! - [`fingerprint`]: CPU model, features, cores, caches.
//! - [`limits`]: measured limits of one core (dot-product instruction peaks, read
//!   bandwidth).
//! - [`workloads`]: the benchmark workloads, shared with `cargo bench`.
//! - [`measure`]: timing and the progress indicator.
//! - [`bench`] and [`compare`]: the subcommands.

pub mod bench;
pub mod compare;
pub mod fingerprint;
pub mod limits;
pub mod measure;
pub mod workloads;
