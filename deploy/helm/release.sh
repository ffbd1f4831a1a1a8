#!/usr/bin/env bash
# The one deploy step: helm upgrade --install (atomic, waiting), then helm test, and the test pod's logs
# when the test fails. make deploy (deploy/registry/deploy.sh, and so the Jenkinsfile), ci.yml's kind job
# and deploy.yml all run it; what differs between them (values files, images, --create-namespace) are the
# helm upgrade arguments they pass.
#
#   deploy/helm/release.sh [upgrade|test|print] [HELM_UPGRADE_ARGS...]
#     (no mode)  upgrade, then test
#     upgrade    helm upgrade --install RELEASE deploy/helm/crypto-rates --namespace NAMESPACE --atomic
#                --wait --timeout DEPLOY_TIMEOUT HELM_UPGRADE_ARGS...
#     test       helm test RELEASE --namespace NAMESPACE --timeout DEPLOY_TIMEOUT; failed: its pod's logs
#     print      both commands, shell-quoted, one a line (make deploy's DEPLOY_DRY_RUN)
# Settings (environment): RELEASE, NAMESPACE (both crypto-rates), DEPLOY_TIMEOUT (5m), HELM, KUBECTL.
# Not `helm test --logs`: the chart deletes its test pod once it passed, and --logs then fails with
# "pods ... not found" (helm issue 9098).
set -euo pipefail
cd "$(dirname "$0")/../.."

RELEASE=${RELEASE:-crypto-rates}
NAMESPACE=${NAMESPACE:-crypto-rates}
TIMEOUT=${DEPLOY_TIMEOUT:-5m}
HELM=${HELM:-helm}
KUBECTL=${KUBECTL:-kubectl}

mode=all
case ${1:-} in
    upgrade | test | print) mode=$1 && shift ;;
esac
if [ "$mode" = test ] && [ $# -gt 0 ]; then
    echo "release.sh: 'test' takes no helm upgrade arguments (got: $*)" >&2
    exit 2
fi

upgrade=("$HELM" upgrade --install "$RELEASE" deploy/helm/crypto-rates --namespace "$NAMESPACE"
    --atomic --wait --timeout "$TIMEOUT" "$@")
helm_test=("$HELM" test "$RELEASE" --namespace "$NAMESPACE" --timeout "$TIMEOUT")

if [ "$mode" = print ]; then
    printf '%s\n' "$(printf '%q ' "${upgrade[@]}")" "$(printf '%q ' "${helm_test[@]}")"
    exit 0
fi
if [ "$mode" != test ]; then
    echo "+ ${upgrade[*]}"
    "${upgrade[@]}"
fi
if [ "$mode" != upgrade ]; then
    echo "+ ${helm_test[*]}"
    if ! "${helm_test[@]}"; then
        echo "helm test failed; the logs of its pod $RELEASE-test:" >&2
        "$KUBECTL" logs --namespace "$NAMESPACE" "$RELEASE-test" >&2 || true
        exit 1
    fi
fi
