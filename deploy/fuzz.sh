#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds (default 60). Only a stable
# toolchain exists here, so RUSTC_BOOTSTRAP=1 unlocks the sanitizer flags
# cargo-fuzz needs. Installs cargo-fuzz from crates.io when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked -q
export RUSTC_BOOTSTRAP=1
cd "$here"
targets=$(cargo fuzz list)
for t in $targets; do
  echo "fuzz: $t for ${seconds}s"
  mkdir -p "fuzz/corpus/$t"
  # New inputs go to fuzz/corpus/<t> (not in git); fuzz/seeds/<t> holds
  # the checked-in seeds that crates/vine/tests/fuzz_seeds.rs also runs.
  cargo fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 2>&1 | tail -n 3
done
echo "fuzz: no crash in $(echo $targets | wc -w) targets"
