#!/usr/bin/env bash
# make test-images: provision the engine and the images (deploy/images/provision.sh), then check them with
# pytest (deploy/tests/images/): the images run the way production runs them against the fake CoinGecko.
# Root; one run at a time on a machine (provision.sh refuses while its dockerd is alive). The static checks
# of the same files (hadolint, compose, shellcheck, the lock) need neither and run in make test.
set -euo pipefail
cd "$(dirname "$0")/../.."

PROVISION=deploy/images/provision.sh
export DOCKER_HOST=unix:///run/crypto-rates-images/docker.sock

[ "$(id -u)" -eq 0 ] || { echo "test-images needs root (dockerd, debootstrap)" >&2; exit 1; }
"$PROVISION" start
trap '"$PROVISION" stop' EXIT
start=$SECONDS
"$PROVISION" build
echo "provisioned in $((SECONDS - start)) s"
.venv/bin/python -m pytest deploy/tests/images -p no:cacheprovider
