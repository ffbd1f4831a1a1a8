#!/usr/bin/env bash
# Refuse an image nobody trusted signed: `cosign verify` of each IMAGE@sha256:DIGEST against one of two
# trust anchors, set by the environment:
#
#   SIGNED_BY=owner/name deploy/registry/verify-signatures.sh REGISTRY/NAME@sha256:<digest> ...
#   COSIGN_PUBLIC_KEY=cosign.pub deploy/registry/verify-signatures.sh REGISTRY/NAME@sha256:<digest> ...
#
# SIGNED_BY (keyless, the release images): the signature's certificate must name release.yml of the
# repository SIGNED_BY (owner/name) run on main or on a vX.Y.Z tag (the protected refs), issued by
# GitHub's OIDC issuer. A signature from any other workflow, branch, repository or issuer does not count.
# COSIGN_PUBLIC_KEY (a key pair of your own: make push with COSIGN_KEY signs): the signature must verify
# with that public key. Such signatures are not in a transparency log (make push signs with
# --tlog-upload=false: a private registry's names stay private, and no Rekor is needed offline), so the
# key alone is the anchor and the check skips the log.
# Either way the signed payload names the digest, so a signature copied onto another image fails too.
#
# Used by deploy.yml (ECR) and by make deploy when SIGNED_BY or COSIGN_PUBLIC_KEY is set. With
# REGISTRY_USER set, cosign logs in to the images' registry with REGISTRY_USER and REGISTRY_PASSWORD
# (or REGISTRY_PASSWORD_FILE) in a Docker config of its own; else it uses your existing login.
# REGISTRY_CA: a CA to trust for the registry besides the system store. COSIGN overrides the binary.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/registry/lib.sh
. "$HERE/lib.sh"

COSIGN=${COSIGN:-cosign}
ISSUER=https://token.actions.githubusercontent.com
repository=${SIGNED_BY:-}
public_key=${COSIGN_PUBLIC_KEY:-}

if [ -n "$public_key" ]; then
    [ -z "$repository" ] \
        || die "SIGNED_BY and COSIGN_PUBLIC_KEY are both set: one trust anchor per deploy (release.yml's keyless signature or your key)"
    [ -f "$public_key" ] || die "COSIGN_PUBLIC_KEY=$public_key does not exist: the public key (cosign.pub) of the COSIGN_KEY make push signed with"
else
    [[ $repository =~ ^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$ ]] \
        || die "SIGNED_BY=$repository is not owner/name: the GitHub repository whose release.yml signs the images (or set COSIGN_PUBLIC_KEY)"
fi
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
[ -z "${REGISTRY_CA:-}" ] || trust_registry_ca "$REGISTRY_CA" "$DOCKER_CONFIG"
if [ -n "${REGISTRY_USER:-}" ]; then
    read_credentials
    registry=${1%%/*}
    # Quietly: its warning that the login is stored unencrypted is about DOCKER_CONFIG, removed on exit.
    output=$("$COSIGN" login "$registry" --username "$REGISTRY_USER" --password-stdin <<<"$REGISTRY_PASSWORD" 2>&1 >/dev/null) \
        || die "cosign login to $registry as $REGISTRY_USER failed: $(tail -n 1 <<<"$output")"
fi

if [ -n "$public_key" ]; then
    check=(--key "$public_key" --insecure-ignore-tlog=true)
    signer="the key $public_key"
else
    # '.' is the only character of a repository name that a regular expression reads specially.
    identity="^https://github\\.com/${repository//./\\.}/\\.github/workflows/release\\.yml@refs/(heads/main|tags/v[0-9]+\\.[0-9]+\\.[0-9]+)\$"
    check=(--certificate-identity-regexp "$identity" --certificate-oidc-issuer "$ISSUER")
    signer="$repository's release.yml on main or a vX.Y.Z tag"
fi

for image in "$@"; do
    if ! output=$("$COSIGN" verify "${check[@]}" "$image" 2>&1 >/dev/null); then
        # cosign's reason is its first "Error:" line (it repeats it last; several signatures' reasons
        # follow on lines of their own, and warnings come before).
        reason=$(grep -m 1 '^Error: ' <<<"$output" || tail -n 1 <<<"$output")
        die "$image has no valid signature by $signer: $reason"
    fi
    echo "signature verified: $image (${signer% on main*})"
done
