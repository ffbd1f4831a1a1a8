#!/usr/bin/env bash
# Package the umbrella chart for a release (release.yml):
#
#   deploy/helm/package.sh VERSION APP_VERSION OUT_DIR     -> OUT_DIR/crypto-rates-VERSION.tgz
#
# `helm package --app-version` sets only the umbrella's appVersion, but each image's default tag is its
# own subchart's appVersion (charts/workload's workload.image). So the chart is copied and APP_VERSION
# is written into the umbrella and both subcharts before packaging: installed without overrides, the
# packaged chart runs the images built from the same commit. HELM names the helm binary (default helm).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "package.sh: $*" >&2; exit 1; }

[[ $# -eq 3 ]] || die "usage: package.sh VERSION APP_VERSION OUT_DIR"
version=$1 app_version=$2 out=$3
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || die "VERSION=$version is not SemVer (e.g. 1.4.0 or 0.1.0-main.7.gabc1234)"
[[ $app_version =~ ^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$ ]] || die "APP_VERSION=$app_version is not a valid image tag"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/crypto-rates" "$work/"
for chart in "$work/crypto-rates" "$work/crypto-rates/charts/backend" "$work/crypto-rates/charts/frontend"; do
    grep -q '^appVersion:' "$chart/Chart.yaml" || die "$chart/Chart.yaml has no appVersion line"
    sed -i "s/^appVersion:.*/appVersion: \"$app_version\"/" "$chart/Chart.yaml"
done
mkdir -p "$out"
"${HELM:-helm}" package "$work/crypto-rates" --version "$version" --destination "$out"
