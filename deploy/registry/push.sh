#!/usr/bin/env bash
# make push REGISTRY=host:port: tag both images for the registry, push them, print their digests and write
# a values file that pins the chart to them (image@sha256:...) at the address the cluster pulls from:
# REGISTRY_PULL, by default REGISTRY's next port (make registry's read-only instance on the same storage,
# so the digests are the same there).
#
# Before any push it checks, each with a one-line error: REGISTRY's form, the credentials' presence
# (REGISTRY_USER, REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE), the images, that the registry answers
# over TLS with a certificate REGISTRY_CA (or the system trust store) verifies, and that it accepts the
# credentials. The Docker daemon itself trusts the registry through /etc/docker/certs.d/<host:port>/ca.crt
# (make certs writes it on nodes; on the pushing host put it there once).
set -euo pipefail
# shellcheck source=deploy/registry/lib.sh
. "$(dirname "$0")/lib.sh"

REGISTRY=${REGISTRY:-}
IMAGE_TAG=${IMAGE_TAG:-local}
DOCKER=${DOCKER:-docker}
# The CA to check the registry with: REGISTRY_CA, else make registry's when it exists, else the system store.
CA=${REGISTRY_CA:-}
[ -n "$CA" ] || [ ! -f "${REGISTRY_DIR:-.registry}/ca.crt" ] || CA=${REGISTRY_DIR:-.registry}/ca.crt
VALUES=${PINNED_VALUES:-.artifacts/registry-images.yaml}
IMAGES=(crypto-rates-backend crypto-rates-frontend)

check_registry_name "$REGISTRY"
PULL=$(pull_registry) || exit 2
read_credentials
if [ -n "$CA" ]; then
    [ -f "$CA" ] || die "REGISTRY_CA=$CA does not exist (make registry writes REGISTRY_DIR/ca.crt)"
    cacert=(--cacert "$CA")
else
    cacert=()
fi
for image in "${IMAGES[@]}"; do
    "$DOCKER" image inspect "$image:$IMAGE_TAG" >/dev/null 2>&1 \
        || die "no local image $image:$IMAGE_TAG: build it with make images IMAGE_TAG=$IMAGE_TAG (or set IMAGE_TAG)"
done

# The registry: reachable, a certificate that verifies, authentication enforced, our credentials accepted.
url=https://$REGISTRY/v2/
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
# probe [CURL ARGS...]: sets code to the HTTP status of GET /v2/, or stops with curl's reason in one line.
probe() {
    local rc=0 reason
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "${cacert[@]}" "$@" "$url" 2>"$errors") || rc=$?
    [ "$rc" -eq 0 ] && return
    reason=$(head -n 1 "$errors")
    reason=${reason#curl: }
    [[ $reason =~ ^\([0-9]+\)\ (.*)$ ]] && reason=${BASH_REMATCH[1]}
    case $rc in
        6 | 7 | 28) die "registry $REGISTRY is unreachable ($reason): check REGISTRY, or start it with make registry" ;;
        35 | 51 | 58 | 60 | 77 | 83 | 90 | 91) die "TLS with $REGISTRY failed ($reason): its certificate must be valid and verify against REGISTRY_CA=${CA:-<system trust store>} (make registry-renew renews it)" ;;
        *) die "GET $url failed: $reason" ;;
    esac
}
probe
[ "$code" = 401 ] || die "GET $url without credentials answered $code, expected 401: is REGISTRY=$REGISTRY this project's registry?"
probe -K - < <(curl_auth_config)
case $code in
    200) ;;
    401) die "REGISTRY_USER/REGISTRY_PASSWORD rejected by $REGISTRY (401): check REGISTRY_USER and REGISTRY_PASSWORD (or REGISTRY_PASSWORD_FILE)" ;;
    *) die "GET $url with credentials answered $code, expected 200" ;;
esac

# docker login into a throw-away client config, so the credentials are not left in ~/.docker.
DOCKER_CONFIG=$(mktemp -d)
export DOCKER_CONFIG
trap 'rm -rf "$DOCKER_CONFIG" "$errors"' EXIT
printf '%s' "$REGISTRY_PASSWORD" | "$DOCKER" login --username "$REGISTRY_USER" --password-stdin "$REGISTRY" >/dev/null \
    || die "docker login $REGISTRY failed (above): the Docker daemon trusts the registry through /etc/docker/certs.d/$REGISTRY/ca.crt"

declare -A digest
for image in "${IMAGES[@]}"; do
    target=$REGISTRY/$image:$IMAGE_TAG
    "$DOCKER" tag "$image:$IMAGE_TAG" "$target"
    "$DOCKER" push --quiet "$target" >/dev/null || die "docker push $target failed (above)"
    digest[$image]=$("$DOCKER" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$target" \
        | sed -n "s|^$REGISTRY/$image@||p" | head -n 1)
    [[ ${digest[$image]} =~ ^sha256:[0-9a-f]{64}$ ]] || die "no digest for $target after the push"
    printf '%s@%s\n' "$REGISTRY/$image" "${digest[$image]}"
done
"$DOCKER" logout "$REGISTRY" >/dev/null 2>&1 || true

mkdir -p "$(dirname "$VALUES")"
cat >"$VALUES" <<VALUES
# Written by make push: pins the chart to the images pushed to $REGISTRY (tag $IMAGE_TAG), pulled
# from $PULL. make deploy passes this file after the environment's values file.
global:
  imageRegistry: "$PULL"
backend:
  image:
    repository: crypto-rates-backend
    digest: "${digest[crypto-rates-backend]}"
frontend:
  image:
    repository: crypto-rates-frontend
    digest: "${digest[crypto-rates-frontend]}"
VALUES
echo "pinned values: $VALUES (pulled from $PULL)"
