#!/usr/bin/env bash
# Image archives for the test node, from the images `make test-images` built (no Docker Hub, no registry):
#
#   deploy/cluster/node/images.sh OUT_DIR
#
# writes OUT_DIR/backend.tar, frontend.tar and fake-coingecko.tar (`docker save` of the :test images of
# deploy/images/provision.sh, which starts and stops the test's own dockerd on the same data root, so it
# never runs beside a test-images run) for `node.sh import`.
set -euo pipefail
cd "$(dirname "$0")/../../.."

OUT=${1:?usage: images.sh OUT_DIR}
die() { echo "images.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (dockerd)"
mkdir -p "$OUT"

deploy/images/provision.sh start >&2
trap 'deploy/images/provision.sh stop >&2' EXIT
export DOCKER_HOST=unix:///run/crypto-rates-images/docker.sock
for name in backend frontend fake-coingecko; do
    docker image inspect "crypto-rates-$name:test" >/dev/null 2>&1 ||
        die "image crypto-rates-$name:test missing: run 'make test-images' first"
    docker save -o "$OUT/$name.tar" "crypto-rates-$name:test"
done
ls -l "$OUT"/*.tar >&2
