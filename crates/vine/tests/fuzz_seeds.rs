//! Keeps the fuzz targets honest on stable Rust without libFuzzer: every
//! target body in `fuzz/src/lib.rs` runs over its seeds in
//! `fuzz/seeds/<target>/` (real inputs from the tests, and inputs that once
//! crashed a parser), and the target list matches `fuzz/Cargo.toml`. The
//! long sanitizer runs are `deploy/fuzz.sh`.

#[path = "../../../fuzz/src/lib.rs"]
mod bodies;

use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn every_fuzz_target_has_a_body_and_seeds() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let mut bins: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|b| b.lines().find_map(|l| l.trim().strip_prefix("name = ")))
        .map(|n| n.trim_matches('"'))
        .collect();
    let mut bodies: Vec<&str> = bodies::TARGETS.iter().map(|(n, _)| *n).collect();
    bins.sort_unstable();
    bodies.sort_unstable();
    assert_eq!(
        bins, bodies,
        "fuzz/Cargo.toml [[bin]]s and vine_fuzz::TARGETS differ"
    );
}

#[test]
fn every_fuzz_target_passes_its_seeds() {
    for (name, body) in bodies::TARGETS {
        let dir = fuzz_dir().join("seeds").join(name);
        let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}; every target needs seeds", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            let run = std::panic::catch_unwind(|| body(&data));
            assert!(
                run.is_ok(),
                "fuzz target {name} fails on {}",
                seed.display()
            );
        }
    }
}
