#!/usr/bin/env bash
# The README's first command: set up, build and run the embedded default,
# `vine up`: a manager and three agents, each on its own libvirt
# test-driver host with a few VMs. It prints the console, API and WBEM
# URLs and the admin password; Ctrl-C stops it and the state is kept in
# ~/.local/share/vine/up (or --state-dir DIR).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/deploy/setup.sh"
cargo build --release --manifest-path "$here/Cargo.toml" -p vine
exec "$here/target/release/vine" up "$@"
