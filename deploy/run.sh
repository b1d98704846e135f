#!/usr/bin/env bash
# The README's first command: set up, build and run vine's WBEM server with
# the interop namespace and the sample classes on 127.0.0.1:5988/5989.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/deploy/setup.sh"
cargo build --release --manifest-path "$here/Cargo.toml" -p vine
exec "$here/target/release/vine" wbem serve --sample "$@"
