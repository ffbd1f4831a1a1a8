#!/usr/bin/env bash
# Refuse an image that the release workflow did not sign: `cosign verify` of each IMAGE@sha256:DIGEST
# against a keyless signature whose certificate names release.yml of the repository SIGNED_BY
# (owner/name) run on main or on a vX.Y.Z tag (the protected refs), issued by GitHub's OIDC issuer.
# A signature from any other workflow, branch, repository or issuer does not count.
#
#   SIGNED_BY=owner/name deploy/registry/verify-signatures.sh REGISTRY/NAME@sha256:<digest> ...
#
# Used by deploy.yml (ECR) and by make deploy when SIGNED_BY is set. With REGISTRY_USER set, cosign
# logs in to the images' registry with REGISTRY_USER and REGISTRY_PASSWORD (or REGISTRY_PASSWORD_FILE)
# in a Docker config of its own; else it uses your existing login. REGISTRY_CA: a CA to trust for the
# registry besides the system store. COSIGN overrides the binary.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/registry/lib.sh
. "$HERE/lib.sh"

COSIGN=${COSIGN:-cosign}
ISSUER=https://token.actions.githubusercontent.com
repository=${SIGNED_BY:-}

[[ $repository =~ ^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$ ]] \
    || die "SIGNED_BY=$repository is not owner/name: the GitHub repository whose release.yml signs the images"
(($#)) || die "no image: pass REGISTRY/NAME@sha256:<digest> for each image to verify"
for image in "$@"; do
    [[ $image =~ ^[^/@]+/[^@]+@sha256:[0-9a-f]{64}$ ]] \
        || die "$image is not REGISTRY/NAME@sha256:<64 hex>: a signature covers a digest, not a tag"
done
command -v "$COSIGN" >/dev/null || die "no cosign binary (COSIGN=$COSIGN): install cosign or set COSIGN=/path/to/cosign"

if [ -n "${REGISTRY_USER:-}" ] || [ -n "${REGISTRY_CA:-}" ]; then
    DOCKER_CONFIG=$(mktemp -d)
    export DOCKER_CONFIG
    trap 'rm -rf "$DOCKER_CONFIG"' EXIT
fi
if [ -n "${REGISTRY_CA:-}" ]; then
    [ -f "$REGISTRY_CA" ] || die "REGISTRY_CA=$REGISTRY_CA does not exist"
    cp "$REGISTRY_CA" "$DOCKER_CONFIG/registry-ca.pem"
    export SSL_CERT_DIR="$DOCKER_CONFIG:${SSL_CERT_DIR:-/etc/ssl/certs}"
fi
if [ -n "${REGISTRY_USER:-}" ]; then
    read_credentials
    registry=${1%%/*}
    "$COSIGN" login "$registry" --username "$REGISTRY_USER" --password-stdin <<<"$REGISTRY_PASSWORD" >/dev/null \
        || die "cosign login to $registry as $REGISTRY_USER failed"
fi

# '.' is the only character of a repository name that a regular expression reads specially.
identity="^https://github\\.com/${repository//./\\.}/\\.github/workflows/release\\.yml@refs/(heads/main|tags/v[0-9]+\\.[0-9]+\\.[0-9]+)\$"

for image in "$@"; do
    if ! output=$("$COSIGN" verify --certificate-identity-regexp "$identity" \
        --certificate-oidc-issuer "$ISSUER" "$image" 2>&1 >/dev/null); then
        die "$image has no valid signature by $repository's release.yml on main or a vX.Y.Z tag: $(tail -n 1 <<<"$output")"
    fi
    echo "signature verified: $image (release.yml of $repository)"
done
