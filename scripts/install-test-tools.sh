#!/usr/bin/env bash
# Installs the tools tests use but Ferry does not ship: each from its package registry, never committed.
# Idempotent: a tool already present is left alone. Every installer lives in scripts/install-*.sh.
set -euo pipefail
cd "$(dirname "$0")"
for installer in install-*.sh; do
  [ "$installer" = "install-test-tools.sh" ] && continue
  echo "== $installer"
  bash "$installer"
done
