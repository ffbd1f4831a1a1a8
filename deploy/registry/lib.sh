# Shared by the registry scripts (sourced): one-line errors and the registry credentials.
# shellcheck shell=bash

# die MESSAGE: the one line that says what was wrong and what is valid, then exit 2.
die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 2
}

# read_account PREFIX: checks PREFIX_USER and the password, either PREFIX_PASSWORD or the first line of
# the file PREFIX_PASSWORD_FILE (then read into PREFIX_PASSWORD). Never from the command line: make
# would echo it and every process listing would show it.
read_account() {
    local -n user=${1}_USER password=${1}_PASSWORD file=${1}_PASSWORD_FILE
    [ -n "${user:-}" ] \
        || die "${1}_USER is not set: export the registry user name (and ${1}_PASSWORD or ${1}_PASSWORD_FILE)"
    if [ -n "${file:-}" ]; then
        [[ -f $file && -r $file ]] || die "${1}_PASSWORD_FILE=$file is not a readable file"
        password=$(head -n 1 "$file")
    fi
    [ -n "${password:-}" ] \
        || die "${1}_PASSWORD is not set (nor ${1}_PASSWORD_FILE): export the password of ${1}_USER=$user"
    case $user in
        *:*) die "${1}_USER=$user contains ':', which basic authentication cannot carry" ;;
    esac
}

# read_credentials: the push account, REGISTRY_USER and REGISTRY_PASSWORD(_FILE): make push and CI.
read_credentials() { read_account REGISTRY; }

# read_pull_credentials: the read-only pull account, REGISTRY_PULL_USER (default crypto-rates-pull) and
# REGISTRY_PULL_PASSWORD(_FILE); without either, the password make registry generated into
# REGISTRY_DIR/pull-password when that file exists. It can pull but never push or delete (registry.sh).
read_pull_credentials() {
    REGISTRY_PULL_USER=${REGISTRY_PULL_USER:-crypto-rates-pull}
    local generated=${REGISTRY_DIR:-.registry}/pull-password
    if [ -z "${REGISTRY_PULL_PASSWORD:-}" ] && [ -z "${REGISTRY_PULL_PASSWORD_FILE:-}" ] && [ -f "$generated" ]; then
        REGISTRY_PULL_PASSWORD_FILE=$generated
    fi
    [ -n "${REGISTRY_PULL_PASSWORD:-}${REGISTRY_PULL_PASSWORD_FILE:-}" ] \
        || die "REGISTRY_PULL_PASSWORD is not set (nor REGISTRY_PULL_PASSWORD_FILE, nor $generated from make registry): export the pull account's password"
    read_account REGISTRY_PULL
}

# check_registry_name VALUE [VARIABLE]: host:port as image names carry it.
check_registry_name() {
    [[ ${1:-} =~ ^[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] \
        || die "${2:-REGISTRY}=${1:-} is not host:port (e.g. registry.example.internal:5000 or 127.0.0.1:5000)"
}

# pull_registry: prints where the cluster pulls from, host:port: REGISTRY_PULL, else REGISTRY's host on
# the next port (make registry's read-only instance). Set REGISTRY_PULL=$REGISTRY for a registry that
# has one address.
pull_registry() {
    if [ -n "${REGISTRY_PULL:-}" ]; then
        check_registry_name "$REGISTRY_PULL" REGISTRY_PULL
        printf '%s\n' "$REGISTRY_PULL"
        return
    fi
    check_registry_name "${REGISTRY:-}"
    local port=${REGISTRY##*:}
    ((10#$port < 65535)) || die "REGISTRY=$REGISTRY: no next port for the read-only instance; set REGISTRY_PULL=host:port"
    printf '%s:%d\n' "${REGISTRY%:*}" $((10#$port + 1))
}

# curl_auth_config: a curl config (read with -K -) carrying the push account, so it stays out of argv.
curl_auth_config() {
    local user=$REGISTRY_USER:$REGISTRY_PASSWORD
    user=${user//\\/\\\\}
    printf 'user = "%s"\n' "${user//\"/\\\"}"
}
