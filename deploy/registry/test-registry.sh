#!/usr/bin/env bash
# make test-registry: provisioning for deploy/tests/test_registry.py, which holds every assertion.
#
# Root. The Docker engine and the real images come from the image test's provisioning
# (deploy/images/provision.sh: its dockerd and data root, where make test-images has already built and
# cached everything, so `build` is quick after it). On top: the two test node images (the debootstrap
# base plus sshd, curl, skopeo, containerd; one also with Docker), cached in the same data root.
# make installs the Debian tools first (scripts/system-tools.txt). All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."

PROVISION=deploy/images/provision.sh
PIDFILE=/run/crypto-rates-images/dockerd.pid
DOCKER=/usr/bin/docker
export DOCKER_HOST=unix:///run/crypto-rates-images/docker.sock
BASE=crypto-rates-local/debian:bookworm   # provision.sh's stable tag of the debootstrap base
START=$SECONDS

phase() { printf '\n== %s (at %d s)\n' "$*" $((SECONDS - START)); }
fail() { printf '\ntest-registry: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (dockerd, /etc/docker/certs.d)"

phase "dockerd"
# One dockerd on that data root at a time: wait (up to 30 min) for another run's to exit.
for ((waited = 0; waited < 1800; waited += 5)); do
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
    [ "$waited" -gt 0 ] || echo "waiting for the dockerd of another test-images or test-registry run (pid $pid) to exit"
    sleep 5
done
[ "$waited" -lt 1800 ] || fail "the image test's dockerd (pid $pid) is still in use after 30 min"
"$PROVISION" start
cleanup() {
    local rc=$?
    "$DOCKER" ps -aq --filter label=crypto-rates-test=registry | xargs -r "$DOCKER" rm --force >/dev/null
    "$PROVISION" stop
    printf '\ntest-registry: %s after %d s\n' "$([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)")" \
        $((SECONDS - START))
}
trap cleanup EXIT

phase "images (deploy/images/provision.sh build)"
"$PROVISION" build
key=$("$DOCKER" image inspect --format '{{.Id}}' "$BASE" | cut -c8-19)
for flavour in containerd:0 docker:1; do
    tag=crypto-rates-local/test-node-${flavour%%:*}:$key
    if ! "$DOCKER" image inspect "$tag" >/dev/null 2>&1; then
        log=$(mktemp)
        "$DOCKER" build --network=host --quiet --file deploy/registry/test-node.Dockerfile \
            --build-arg BASE="$BASE" --build-arg WITH_DOCKER="${flavour#*:}" --tag "$tag" deploy/registry \
            >"$log" 2>&1 || { tail -n 30 "$log"; fail "building $tag failed"; }
        rm -f "$log"
    fi
    echo "node image $tag"
done
export TEST_NODE_IMAGE=crypto-rates-local/test-node-containerd:$key
export TEST_NODE_DOCKER_IMAGE=crypto-rates-local/test-node-docker:$key

phase "pytest deploy/tests/test_registry.py"
.venv/bin/python -m pytest deploy/tests/test_registry.py -p no:cacheprovider --durations=0 -v
