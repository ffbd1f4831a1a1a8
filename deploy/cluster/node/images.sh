#!/usr/bin/env bash
# Image archives for the test node, from the images `make test-images` built (no Docker Hub, no registry):
#
#   deploy/cluster/node/images.sh OUT_DIR
#
# writes OUT_DIR/backend.tar and OUT_DIR/frontend.tar (`docker save` of crypto-rates-backend:test and
# crypto-rates-frontend:test, taken from the test's Docker data root with a short-lived dockerd of the same
# socket and pid file, so it never runs beside a test-images run), and OUT_DIR/fake-coingecko.tar: the
# backend image plus one layer with the test kit's fake CoinGecko and the recorded fixture. The runtime
# images themselves carry no test code.
set -euo pipefail
cd "$(dirname "$0")/../../.."

OUT=${1:?usage: images.sh OUT_DIR}
STATE_DIR=${CRYPTO_RATES_IMAGES_STATE:-/var/lib/crypto-rates-images}
RUN_DIR=/run/crypto-rates-images
BACKEND_IMAGE=crypto-rates-backend:test
FRONTEND_IMAGE=crypto-rates-frontend:test
FAKE_IMAGE=crypto-rates-fake-coingecko:test
FIXTURE=backend/crypto_rates/data/sample-exchange-rates.json # the recorded response the backend bundles
FAKE=backend/testkit/fake_coingecko.py # stdlib only: runs on the backend image's Python

die() { echo "images.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (dockerd)"
[[ -f $FAKE ]] || die "$FAKE missing"
[[ -d $STATE_DIR/docker ]] || die "no images in $STATE_DIR/docker: run 'make test-images' first"
if [[ -f $RUN_DIR/dockerd.pid ]] && kill -0 "$(cat "$RUN_DIR/dockerd.pid")" 2>/dev/null; then
    die "a dockerd of a test-images run is alive (pid $(cat "$RUN_DIR/dockerd.pid")): wait for it to finish"
fi
mkdir -p "$OUT" "$RUN_DIR"

export DOCKER_HOST="unix://$RUN_DIR/docker.sock"
dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$STATE_DIR/docker" \
    --exec-root "$RUN_DIR/exec" --pidfile "$RUN_DIR/dockerd.pid" --host "$DOCKER_HOST" >"$OUT/dockerd.log" 2>&1 &
dockerd_pid=$!
trap 'kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null || true' EXIT
for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
docker version >/dev/null 2>&1 || { cat "$OUT/dockerd.log" >&2; die "dockerd did not start"; }
for image in "$BACKEND_IMAGE" "$FRONTEND_IMAGE"; do
    docker image inspect "$image" >/dev/null 2>&1 || die "image $image missing: run 'make test-images' first"
done
docker save -o "$OUT/backend.tar" "$BACKEND_IMAGE"
docker save -o "$OUT/frontend.tar" "$FRONTEND_IMAGE"

python3 deploy/cluster/node/image.py "$OUT/fake-coingecko.tar" "$FAKE_IMAGE" --base "$OUT/backend.tar" \
    --add "$FAKE=/opt/testkit/fake_coingecko.py" --add "$FIXTURE=/opt/testkit/exchange-rates.json" \
    --entrypoint '["python", "/opt/testkit/fake_coingecko.py", "--host", "0.0.0.0", "--port", "9900", "--fixture", "/opt/testkit/exchange-rates.json"]' \
    --workdir /opt/testkit >&2
ls -l "$OUT"/*.tar >&2
