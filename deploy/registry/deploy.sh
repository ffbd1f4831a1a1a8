#!/usr/bin/env bash
# make deploy: install or upgrade the chart on the cluster of KUBECONFIG, pulling the images pinned by
# make push from the private registry.
#
#   1. the docker-registry pull Secret PULL_SECRET for the pinned registry (the read-only address) with the
#      read-only pull account: REGISTRY_PULL_USER (default crypto-rates-pull) and REGISTRY_PULL_PASSWORD
#      or REGISTRY_PULL_PASSWORD_FILE (default: REGISTRY_DIR/pull-password, which make registry
#      generates), applied through stdin: never in argv, never printed. The push account
#      (REGISTRY_USER) is never read here, so the cluster cannot push or delete;
#   2. the deploy step, deploy/helm/release.sh: helm upgrade --install --atomic --wait with
#      values-$ENV.yaml, the pinned digests (PINNED_VALUES) and your own values files last (DEPLOY_VALUES,
#      space-separated: e.g. your CoinGecko URL or replicas); then helm test, and its pod's logs if it fails.
# DEPLOY_DRY_RUN=DIR writes DIR/pull-secret.yaml (mode 600) and DIR/commands instead of touching a cluster.
# SIGNED_BY=owner/name (when the pinned images are releases, which carry a signature): before anything
# else, refuse any pinned image without a valid cosign signature of that repository's release.yml on
# main or a vX.Y.Z tag (verify-signatures.sh, logging in with the pull account; REGISTRY_CA is
# trusted besides the system store). Empty (the default): images from make push carry no signature.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/registry/lib.sh
. "$HERE/lib.sh"
cd "$HERE/../.."

ENVIRONMENT=${ENV:-dev}
RELEASE=${RELEASE:-crypto-rates}
NAMESPACE=${NAMESPACE:-crypto-rates}
PULL_SECRET=${PULL_SECRET:-crypto-rates-registry}
PINNED=${PINNED_VALUES:-.artifacts/registry-images.yaml}
HELM=${HELM:-helm}
KUBECTL=${KUBECTL:-kubectl}
TIMEOUT=${DEPLOY_TIMEOUT:-5m}
SIGNED_BY=${SIGNED_BY:-}
DRY_RUN=${DEPLOY_DRY_RUN:-}
read -ra own_values <<<"${DEPLOY_VALUES:-}"
CHART=deploy/helm/crypto-rates
VALUES=$CHART/values-$ENVIRONMENT.yaml

if [ ! -f "$VALUES" ]; then
    valid=$(for f in "$CHART"/values-*.yaml; do f=${f##*/values-}; printf '%s ' "${f%.yaml}"; done)
    die "ENV=$ENVIRONMENT has no $VALUES: valid are ${valid% }"
fi
for file in "${own_values[@]}"; do
    [ -f "$file" ] || die "DEPLOY_VALUES names $file, which does not exist: list values files, space-separated"
done
[ -f "$PINNED" ] || die "PINNED_VALUES=$PINNED does not exist: run make push REGISTRY=host:port first"
pinned_registry=$(sed -nE 's/^  imageRegistry: "?([^"]*)"?$/\1/p' "$PINNED")
check_registry_name "$pinned_registry"
if [ -n "${REGISTRY:-}${REGISTRY_PULL:-}" ]; then
    pull=$(pull_registry) || exit 2
    [ "$pull" = "$pinned_registry" ] \
        || die "the cluster pulls from $pull (REGISTRY_PULL, or REGISTRY's next port) but PINNED_VALUES=$PINNED pins images from $pinned_registry: make push with these settings first, or unset REGISTRY and REGISTRY_PULL"
fi
read_pull_credentials

if [ -n "$SIGNED_BY" ]; then
    mapfile -t pinned_images < <(awk -v registry="$pinned_registry" '$1 == "repository:" { name = $2 }
        $1 == "digest:" { gsub(/"/, "", $2); print registry "/" name "@" $2 }' "$PINNED")
    ((${#pinned_images[@]} == 2)) || die "PINNED_VALUES=$PINNED pins ${#pinned_images[@]} images by digest, not 2: run make push again"
    REGISTRY_USER=$REGISTRY_PULL_USER REGISTRY_PASSWORD=$REGISTRY_PULL_PASSWORD REGISTRY_PASSWORD_FILE="" \
        SIGNED_BY=$SIGNED_BY "$HERE/verify-signatures.sh" "${pinned_images[@]}"
fi

if [ -z "$DRY_RUN" ]; then
    kubeconfig=${KUBECONFIG:-$HOME/.kube/config}
    [ -f "$kubeconfig" ] || die "no cluster: KUBECONFIG=$kubeconfig does not exist (export KUBECONFIG=/path/to/kubeconfig)"
    command -v "$HELM" >/dev/null || die "no helm binary (HELM=$HELM): install Helm 3 or set HELM=/path/to/helm"
    command -v "$KUBECTL" >/dev/null || die "no kubectl binary (KUBECTL=$KUBECTL): install kubectl or set KUBECTL=/path/to/kubectl"
    reason=$("$KUBECTL" get --raw=/readyz --request-timeout=10s 2>&1 >/dev/null) \
        || die "no cluster answers with KUBECONFIG=$kubeconfig: $(head -n 1 <<<"$reason")"
fi

# The Namespace and the pull Secret as one manifest stream (JSON is YAML). The pull account reaches python
# through its environment only.
render_secret() {
    PULL_SERVER=$pinned_registry NAMESPACE=$NAMESPACE PULL_SECRET=$PULL_SECRET \
        PULL_USER=$REGISTRY_PULL_USER PULL_PASSWORD=$REGISTRY_PULL_PASSWORD python3 -c '
import base64, json, os

env = os.environ
b64 = lambda raw: base64.b64encode(raw.encode()).decode()
user, password = env["PULL_USER"], env["PULL_PASSWORD"]
config = {"auths": {env["PULL_SERVER"]: {"username": user, "password": password, "auth": b64(f"{user}:{password}")}}}
labels = {"app.kubernetes.io/part-of": "crypto-rates", "app.kubernetes.io/managed-by": "make-deploy"}
namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env["NAMESPACE"]}}
secret = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": env["PULL_SECRET"], "namespace": env["NAMESPACE"], "labels": labels},
    "type": "kubernetes.io/dockerconfigjson",
    "data": {".dockerconfigjson": b64(json.dumps(config))},
}
print(json.dumps(namespace), json.dumps(secret), sep="\n---\n")
'
}

# Server-side apply keeps no last-applied-configuration annotation, so the Secret exists in one place.
apply=("$KUBECTL" apply --server-side --field-manager=crypto-rates-deploy -f -)
release=(env RELEASE="$RELEASE" NAMESPACE="$NAMESPACE" DEPLOY_TIMEOUT="$TIMEOUT" HELM="$HELM" KUBECTL="$KUBECTL"
    deploy/helm/release.sh)
upgrade_args=(-f "$VALUES" -f "$PINNED" "${own_values[@]/#/--values=}"
    --set "global.imagePullSecrets[0].name=$PULL_SECRET")

if [ -n "$DRY_RUN" ]; then
    mkdir -p "$DRY_RUN"
    (umask 077 && render_secret >"$DRY_RUN/pull-secret.yaml")
    { echo "$(printf '%q ' "${apply[@]}") < pull-secret.yaml" && "${release[@]}" print "${upgrade_args[@]}"; } \
        >"$DRY_RUN/commands"
    echo "dry run: $DRY_RUN/pull-secret.yaml (the Namespace and Secret $PULL_SECRET) and $DRY_RUN/commands"
    exit 0
fi

echo "pull Secret $NAMESPACE/$PULL_SECRET for $pinned_registry (read-only user $REGISTRY_PULL_USER)"
render_secret | "${apply[@]}" >/dev/null
"${release[@]}" "${upgrade_args[@]}"
