#!/usr/bin/env bash
# make certs INVENTORY=... REGISTRY=host:port [REGISTRY_CA=path] [REGISTRY_CA_OS_TRUST=1] [CHECK=1]
# [ANSIBLE_ARGS=...]: run the registry_ca role on the inventory's k8s_nodes. The inputs are checked here
# first, one line each. The nodes only pull, so the CA is trusted for the address they pull from only
# (certs.d): REGISTRY_PULL, by default REGISTRY's next port (make registry's read-only instance).
# REGISTRY_CA_OS_TRUST=1 also puts it into the nodes' OS trust store, for hosts whose tools read nothing else.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/registry/lib.sh
. deploy/registry/lib.sh

INVENTORY=${INVENTORY:-deploy/ansible/inventory.yml}
CA=${REGISTRY_CA:-${REGISTRY_DIR:-.registry}/ca.crt}
PLAYBOOK=${ANSIBLE_PLAYBOOK:-.venv-ansible/bin/ansible-playbook}

[ -f "$INVENTORY" ] \
    || die "INVENTORY=$INVENTORY does not exist: copy deploy/ansible/inventory.example.yml, list your nodes, pass INVENTORY=<that file>"
check_registry_name "${REGISTRY:-}"
PULL=$(pull_registry) || exit 2
[ -f "$CA" ] || die "REGISTRY_CA=$CA does not exist: make registry writes REGISTRY_DIR/ca.crt (or pass REGISTRY_CA=<the CA certificate>)"
openssl x509 -in "$CA" -noout 2>/dev/null || die "REGISTRY_CA=$CA is not a PEM certificate"
openssl x509 -in "$CA" -noout -ext basicConstraints 2>/dev/null | grep -q 'CA:TRUE' \
    || die "REGISTRY_CA=$CA is not a CA certificate (the server certificate? distribute ca.crt)"
openssl x509 -in "$CA" -noout -checkend 0 >/dev/null \
    || die "REGISTRY_CA=$CA expired ($(openssl x509 -in "$CA" -noout -enddate)): make registry-rotate-ca makes a new one"
case ${REGISTRY_CA_OS_TRUST:-0} in
    0 | "") os_trust=false ;;
    1) os_trust=true ;;
    *) die "REGISTRY_CA_OS_TRUST=$REGISTRY_CA_OS_TRUST: 1 puts the CA into the nodes' OS trust store, 0 (default) keeps it out" ;;
esac
[ -x "$PLAYBOOK" ] || die "$PLAYBOOK not found: make certs installs it (.venv-ansible)"

extra=$(python3 -c 'import json, sys; print(json.dumps({"registry_ca_registry": sys.argv[1], "registry_ca_file": sys.argv[2],
    "registry_ca_os_trust": sys.argv[3] == "true"}))' "$PULL" "$(realpath "$CA")" "$os_trust")
check=()
[ -z "${CHECK:-}" ] || check=(--check --diff)
# shellcheck disable=SC2086 # ANSIBLE_ARGS is a list of options
ANSIBLE_CONFIG=deploy/ansible/ansible.cfg exec "$PLAYBOOK" -i "$INVENTORY" deploy/ansible/certs.yml \
    -e "$extra" "${check[@]}" ${ANSIBLE_ARGS:-}
