# Shared by the registry scripts (sourced): one-line errors and the registry credentials.
# shellcheck shell=bash

# die MESSAGE: the one line that says what was wrong and what is valid, then exit 2.
die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 2
}

# read_credentials: sets REGISTRY_USER and REGISTRY_PASSWORD from the environment, the password either
# directly or from the file REGISTRY_PASSWORD_FILE. Never from the command line: make would echo it and
# every process listing would show it.
read_credentials() {
    [ -n "${REGISTRY_USER:-}" ] \
        || die "REGISTRY_USER is not set: export the registry user name (and REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE)"
    if [ -n "${REGISTRY_PASSWORD_FILE:-}" ]; then
        [[ -f $REGISTRY_PASSWORD_FILE && -r $REGISTRY_PASSWORD_FILE ]] \
            || die "REGISTRY_PASSWORD_FILE=$REGISTRY_PASSWORD_FILE is not a readable file"
        REGISTRY_PASSWORD=$(head -n 1 "$REGISTRY_PASSWORD_FILE")
    fi
    [ -n "${REGISTRY_PASSWORD:-}" ] \
        || die "REGISTRY_PASSWORD is not set (nor REGISTRY_PASSWORD_FILE): export the password of REGISTRY_USER=$REGISTRY_USER"
    case $REGISTRY_USER in
        *:*) die "REGISTRY_USER=$REGISTRY_USER contains ':', which basic authentication cannot carry" ;;
    esac
}

# check_registry_name VALUE: host:port as image names carry it.
check_registry_name() {
    [[ ${1:-} =~ ^[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] \
        || die "REGISTRY=${1:-} is not host:port (e.g. registry.example.internal:5000 or 127.0.0.1:5000)"
}

# curl_auth_config: a curl config (read with -K -) carrying the credentials, so they stay out of argv.
curl_auth_config() {
    local user=$REGISTRY_USER:$REGISTRY_PASSWORD
    user=${user//\\/\\\\}
    printf 'user = "%s"\n' "${user//\"/\\\"}"
}

# trust_registry_ca CA DIR: Go programs started from here (cosign) trust the registry CA besides the
# system store: a copy in DIR, which joins SSL_CERT_DIR.
trust_registry_ca() {
    [ -f "$1" ] || die "REGISTRY_CA=$1 does not exist (make registry writes REGISTRY_DIR/ca.crt)"
    cp "$1" "$2/registry-ca.pem"
    export SSL_CERT_DIR="$2:${SSL_CERT_DIR:-/etc/ssl/certs}"
}
