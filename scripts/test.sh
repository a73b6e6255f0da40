#!/usr/bin/env bash
# Runs every test of the workspace. Installs the test-only tools first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh
# Benchmarks are not run here (they live in `cargo bench`); clippy in CI still compiles them.
cargo test --workspace "$@"
