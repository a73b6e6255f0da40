#!/usr/bin/env bash
# Runs every test of the workspace. Installs the test-only tools first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh
cargo test --workspace --all-targets "$@"
