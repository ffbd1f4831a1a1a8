#!/usr/bin/env bash
# make test-registry: provisioning for deploy/tests/test_registry.py, which holds every assertion.
#
# Runs as root after make test-images, whose Docker data root holds the images it pushes (the real
# backend and frontend images) and the debootstrap base the test nodes are built on. make installs the
# Debian tools first (scripts/system-tools.txt). This starts that dockerd (own socket, host networking
# only), builds the two node images (cached in the same data root), runs pytest and stops dockerd.
# All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."

STATE_DIR=${CRYPTO_RATES_IMAGES_STATE:-/var/lib/crypto-rates-images}
RUN_DIR=/run/crypto-rates-images
DOCKER=/usr/bin/docker
export DOCKER_HOST="unix://$RUN_DIR/docker.sock" DOCKER_BUILDKIT=1
WORK=$(mktemp -d /tmp/crypto-rates-registry.XXXXXX)
DOCKERD_PID=""
START=$SECONDS

phase() { printf '\n== %s (at %d s)\n' "$*" $((SECONDS - START)); }
fail() { printf '\ntest-registry: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local rc=$?
    set +e
    if [ -n "$DOCKERD_PID" ]; then
        "$DOCKER" ps -aq --filter label=crypto-rates-test=registry | xargs -r "$DOCKER" rm --force >/dev/null
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID"
    fi
    rm -rf "$WORK"
    printf '\ntest-registry: %s after %d s\n' "$([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)")" $((SECONDS - START))
    exit "$rc"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || fail "needs root (dockerd, /etc/docker/certs.d)"
phase "dockerd (data root $STATE_DIR/docker)"
mkdir -p "$STATE_DIR/docker" "$RUN_DIR"
# One dockerd on this data root at a time: wait (up to 30 min) for another run's to exit.
for ((waited = 0; waited < 1800; waited += 5)); do
    pid=$(cat "$RUN_DIR/dockerd.pid" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
    [ "$waited" -gt 0 ] || echo "waiting for the dockerd of another test-images or test-registry run (pid $pid) to exit"
    sleep 5
done
[ "$waited" -lt 1800 ] || fail "the image test's dockerd (pid $pid) is still in use after 30 min"
dockerd --bridge=none --iptables=false --ip6tables=false \
    --data-root "$STATE_DIR/docker" --exec-root "$RUN_DIR/exec" \
    --pidfile "$RUN_DIR/dockerd.pid" --host "$DOCKER_HOST" >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 60); do
    "$DOCKER" version >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 20 "$WORK/dockerd.log"; fail "dockerd exited"; }
    sleep 0.5
done
"$DOCKER" version >/dev/null || fail "dockerd did not answer within 30 s"

phase "images"
for image in crypto-rates-backend:test crypto-rates-frontend:test; do
    "$DOCKER" image inspect "$image" >/dev/null 2>&1 || fail "no $image in $STATE_DIR: run make test-images first"
done
base=$("$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}' crypto-rates-local/debian | head -n 1)
[ -n "$base" ] || fail "no crypto-rates-local/debian base in $STATE_DIR: run make test-images first"
for flavour in containerd:0 docker:1; do
    tag=crypto-rates-local/test-node-${flavour%%:*}:${base##*:}
    if ! "$DOCKER" image inspect "$tag" >/dev/null 2>&1; then
        "$DOCKER" build --network=host --quiet --file deploy/registry/test-node.Dockerfile \
            --build-arg BASE="$base" --build-arg WITH_DOCKER="${flavour#*:}" --tag "$tag" deploy/registry \
            >"$WORK/node.log" 2>&1 || { tail -n 30 "$WORK/node.log"; fail "building $tag failed"; }
    fi
    printf '%s\n' "$tag"
done
export TEST_NODE_IMAGE=crypto-rates-local/test-node-containerd:${base##*:}
export TEST_NODE_DOCKER_IMAGE=crypto-rates-local/test-node-docker:${base##*:}

phase "pytest deploy/tests/test_registry.py"
.venv/bin/python -m pytest deploy/tests/test_registry.py -p no:cacheprovider --durations=0 -v
