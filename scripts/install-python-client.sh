#!/usr/bin/env bash
# Installs the official Python `kubernetes` client (PyPI), used by ferry-apiserver's acceptance tests
# to check that an unmodified third-party client works against Ferry's API server. Idempotent.
set -euo pipefail
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null; then
  echo "install-python-client: $python not found; the Python client tests need it" >&2
  exit 1
fi
if "$python" -c 'import kubernetes' 2>/dev/null; then
  echo "python kubernetes client already installed: $("$python" -c 'import kubernetes; print(kubernetes.__version__)')"
  exit 0
fi
"$python" -m pip install --quiet --disable-pip-version-check 'kubernetes>=31'
"$python" -c 'import kubernetes; print("python kubernetes client installed:", kubernetes.__version__)'
