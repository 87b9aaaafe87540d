//! Writes the hand-picked seed corpus (`zeropoint_fuzz::seeds`) to
//! `corpus/<target>/<name>`, replacing what is there.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus
//! ```
//!
//! The fuzzers add their own finds to the corpus directory they are given first; CI
//! gives them a scratch directory, so only these seeds are committed
//! (`tests/corpus.rs` checks that the committed files are exactly these).

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for t in zeropoint_fuzz::seeds::TARGETS {
        let dir = root.join(t);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
    }
    let seeds = zeropoint_fuzz::seeds::seeds();
    for (name, spec) in &seeds {
        let path = root.join(spec.target()).join(name);
        std::fs::write(&path, spec.encode())?;
    }
    println!("wrote {} seeds under {}", seeds.len(), root.display());
    Ok(())
}
