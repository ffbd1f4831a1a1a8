#!/usr/bin/env bash
# The registry's PKI with openssl: a CA of the project's own and a server certificate signed by it.
#
#   pki.sh ensure     CA if missing; server certificate if missing, expiring within REGISTRY_RENEW_DAYS,
#                     issued by another CA, or for other names than REGISTRY_NAMES/REGISTRY_IPS
#   pki.sh renew      a new server certificate now (same CA)
#   pki.sh rotate-ca  a new CA and a new server certificate; the old CA is deleted (make certs then
#                     replaces it on the nodes)
#
# Keys are ECDSA P-256. Files in REGISTRY_DIR: ca.crt (distribute this), ca.key, server.crt, server.key.
# The CA is name-constrained to REGISTRY_NAMES and REGISTRY_IPS: it cannot vouch for any other host.
set -euo pipefail
# shellcheck source=deploy/registry/lib.sh
. "$(dirname "$0")/lib.sh"

DIR=${REGISTRY_DIR:-.registry}
NAMES=${REGISTRY_NAMES:-localhost}
IPS=${REGISTRY_IPS:-127.0.0.1}
CERT_DAYS=${REGISTRY_CERT_DAYS:-90}
CA_DAYS=${REGISTRY_CA_DAYS:-1825}
RENEW_DAYS=${REGISTRY_RENEW_DAYS:-30}

for value in "$CERT_DAYS" "$CA_DAYS" "$RENEW_DAYS"; do
    [[ $value =~ ^[0-9]+$ ]] || die "REGISTRY_CERT_DAYS, REGISTRY_CA_DAYS and REGISTRY_RENEW_DAYS take whole days, got '$value'"
done

# The subjectAltName list, in the order openssl prints it back: DNS names first, then IPs.
expected_sans() {
    local sans=() name ip normal
    for name in ${NAMES//,/ }; do
        [[ $name =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "REGISTRY_NAMES: '$name' is not a DNS name"
        sans+=("DNS:$name")
    done
    for ip in ${IPS//,/ }; do
        # openssl prints IPv6 addresses fully expanded, groups in upper-case hex without leading zeros.
        normal=$(python3 -c 'import ipaddress, sys
a = ipaddress.ip_address(sys.argv[1])
print(a if a.version == 4 else ":".join(format(int(g, 16), "X") for g in a.exploded.split(":")))' "$ip" 2>/dev/null) \
            || die "REGISTRY_IPS: '$ip' is not an IP address"
        sans+=("IP Address:$normal")
    done
    [ "${#sans[@]}" -gt 0 ] || die "REGISTRY_NAMES and REGISTRY_IPS are both empty: the certificate needs at least one"
    local IFS=,
    printf '%s\n' "${sans[*]}" | sed 's/,/, /g'
}

SANS=$(expected_sans) || exit 2

# The CA may only vouch for the registry: X.509 name constraints permit exactly REGISTRY_NAMES (and
# their subdomains) and REGISTRY_IPS, so a certificate it signs for any other host fails verification
# (Go's crypto/x509, as containerd, Docker and skopeo use, and OpenSSL enforce them). A type without
# entries is shut entirely: no IP constraint would leave every IP address open.
expected_constraints() {
    local constraints=() name ip
    for name in ${NAMES//,/ }; do constraints+=("permitted;DNS:$name"); done
    [ -n "${NAMES//[ ,]/}" ] || constraints+=("permitted;DNS:invalid")
    for ip in ${IPS//,/ }; do
        constraints+=("permitted;IP:$(python3 -c 'import ipaddress, sys
n = ipaddress.ip_network(sys.argv[1])
print(f"{n.network_address}/{n.netmask}")' "$ip")")
    done
    [ -n "${IPS//[ ,]/}" ] || constraints+=("excluded;IP:0.0.0.0/0.0.0.0" "excluded;IP:::/::")
    local IFS=,
    printf '%s\n' "${constraints[*]}"
}
CONSTRAINTS=$(expected_constraints) || exit 2

new_key() { (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null); }

make_ca() {
    mkdir -p "$DIR"
    new_key "$DIR/ca.key"
    openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days "$CA_DAYS" \
        -subj "/O=crypto-rates/CN=crypto-rates registry CA $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -addext "nameConstraints=critical,$CONSTRAINTS" \
        -out "$DIR/ca.crt"
    echo "new CA: $DIR/ca.crt (valid $CA_DAYS days, only for $SANS; distribute it with make certs)"
}

make_server_cert() {
    local ext csr first
    first=$(sed -E 's/^(DNS|IP Address):([^,]+).*/\2/' <<<"$SANS")
    ext=$(mktemp) csr=$(mktemp)
    trap 'rm -f "$ext" "$csr"' RETURN
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=serverAuth"
        echo "subjectKeyIdentifier=hash"
        echo "authorityKeyIdentifier=keyid"
        echo "subjectAltName=${SANS//IP Address:/IP:}"
    } >"$ext"
    new_key "$DIR/server.key"
    openssl req -new -key "$DIR/server.key" -subj "/O=crypto-rates/CN=$first" -out "$csr"
    openssl x509 -req -in "$csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -sha256 -days "$CERT_DAYS" \
        -set_serial "0x$(openssl rand -hex 16)" -extfile "$ext" -out "$DIR/server.crt" 2>/dev/null
    echo "new server certificate: $DIR/server.crt for $SANS (valid $CERT_DAYS days)"
}

# Why the server certificate needs replacing, or nothing when it is fine.
server_cert_problem() {
    [[ -f $DIR/server.crt && -f $DIR/server.key ]] || { echo "missing"; return; }
    openssl verify -CAfile "$DIR/ca.crt" "$DIR/server.crt" >/dev/null 2>&1 || { echo "not issued by the current CA"; return; }
    openssl x509 -in "$DIR/server.crt" -noout -checkend $((RENEW_DAYS * 86400)) >/dev/null \
        || { echo "expires within $RENEW_DAYS days"; return; }
    local have
    have=$(openssl x509 -in "$DIR/server.crt" -noout -ext subjectAltName | tail -n +2 | sed 's/^ *//')
    [ "$have" = "$SANS" ] || echo "names changed (has: $have)"
}

# Whether the CA's name constraints are exactly the ones REGISTRY_NAMES/REGISTRY_IPS ask for.
ca_constraints_match() {
    local have want
    have=$(openssl x509 -in "$DIR/ca.crt" -noout -ext nameConstraints 2>/dev/null | tail -n +2 | tr -d ' \n')
    want=$(openssl req -new -x509 -key "$DIR/ca.key" -subj /CN=x -days 1 -addext "nameConstraints=critical,$CONSTRAINTS" 2>/dev/null \
        | openssl x509 -noout -ext nameConstraints | tail -n +2 | tr -d ' \n')
    [ -n "$have" ] && [ "$have" = "$want" ]
}

case ${1:-} in
    ensure)
        [[ -f $DIR/ca.crt && -f $DIR/ca.key ]] || make_ca
        ca_constraints_match \
            || die "the CA $DIR/ca.crt is not constrained to exactly $SANS (made for other names, or before name constraints): make registry-rotate-ca, then make certs"
        openssl x509 -in "$DIR/ca.crt" -noout -checkend $((RENEW_DAYS * 86400)) >/dev/null \
            || echo "warning: the CA $DIR/ca.crt expires within $RENEW_DAYS days: make registry-rotate-ca, then make certs" >&2
        problem=$(server_cert_problem)
        if [ -n "$problem" ]; then
            echo "server certificate: $problem"
            make_server_cert
        else
            echo "server certificate: valid, $(openssl x509 -in "$DIR/server.crt" -noout -enddate)"
        fi
        ;;
    renew)
        [ -f "$DIR/ca.crt" ] || die "no CA in REGISTRY_DIR=$DIR: run make registry first"
        make_server_cert
        ;;
    rotate-ca)
        rm -f "$DIR/ca.crt" "$DIR/ca.key"
        make_ca
        make_server_cert
        ;;
    *) die "usage: pki.sh ensure|renew|rotate-ca (got '${1:-}')" ;;
esac
