#!/usr/bin/env bash
# The private registry on a host, with Debian's docker-registry (CNCF Distribution) and the repository's
# config.yml; its paths point into REGISTRY_DIR through Distribution's environment overrides.
#
# Two instances of it on the same storage, because Distribution's htpasswd knows no permissions (every
# user it accepts may push and delete):
#   push  REGISTRY_ADDR (default 127.0.0.1:5000), read-write; htpasswd holds only the push account
#         (REGISTRY_USER, REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE): make push, CI.
#   pull  REGISTRY_PULL_ADDR (default: REGISTRY_ADDR's next port), storage.maintenance.readonly: every
#         push or delete is refused (405) whoever asks; htpasswd-pull holds only the pull account
#         (REGISTRY_PULL_USER, default crypto-rates-pull, and REGISTRY_PULL_PASSWORD(_FILE); without
#         them a random password generated once into REGISTRY_DIR/pull-password): the cluster.
# Both serve the same certificate (its names are the host's; the port does not matter to TLS).
#
#   registry.sh files    certificates (pki.sh ensure), both htpasswd files, the HTTP secret
#   registry.sh start    files, then start both instances and wait until they are healthy
#   registry.sh stop     stop the processes started by `start`
#   registry.sh health   GET https://<addr>/v2/ of each with the CA: 401 = up and enforcing authentication
#
# REGISTRY_DIR holds ca.crt/ca.key, server.crt/server.key, htpasswd, htpasswd-pull, pull-password (when
# generated), http-secret, data/, and registry{,-pull}.log and registry{,-pull}.pid.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/registry/lib.sh
. "$HERE/lib.sh"

DIR=$(realpath -m "${REGISTRY_DIR:-.registry}")
ADDR=${REGISTRY_ADDR:-127.0.0.1:5000}
BIN=${REGISTRY_BIN:-docker-registry}

[[ $ADDR =~ ^(.*):([0-9]{1,5})$ ]] || die "REGISTRY_ADDR=$ADDR is not address:port (e.g. 0.0.0.0:5000 or 127.0.0.1:5000)"
PULL_ADDR=${REGISTRY_PULL_ADDR:-${BASH_REMATCH[1]}:$((10#${BASH_REMATCH[2]} + 1))}
[[ $PULL_ADDR =~ ^(.*):([0-9]{1,5})$ ]] || die "REGISTRY_PULL_ADDR=$PULL_ADDR is not address:port (e.g. 0.0.0.0:5001 or 127.0.0.1:5001)"
[ "$PULL_ADDR" != "$ADDR" ] || die "REGISTRY_PULL_ADDR=$PULL_ADDR is REGISTRY_ADDR: the read-only instance needs a port of its own"

INSTANCES=(push pull)
declare -A LISTEN=([push]=$ADDR [pull]=$PULL_ADDR)
declare -A SUFFIX=([push]="" [pull]=-pull)
# Distribution's overrides per instance: the pull instance only reads the shared storage (no uploads,
# no deletes, no upload purging: that is the push instance's job).
declare -A OVERRIDES=([push]="" [pull]="REGISTRY_STORAGE_MAINTENANCE={readonly: {enabled: true}, uploadpurging: {enabled: false}}")

pidfile() { printf '%s/registry%s.pid\n' "$DIR" "${SUFFIX[$1]}"; }
logfile() { printf '%s/registry%s.log\n' "$DIR" "${SUFFIX[$1]}"; }

running_pid() {
    local pid
    pid=$(cat "$(pidfile "$1")" 2>/dev/null) || return 1
    kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

# Where health checks connect: a listen-on-all address is reached on loopback.
probe_addr() {
    [[ ${LISTEN[$1]} =~ ^(.*):([0-9]{1,5})$ ]]
    case ${BASH_REMATCH[1]} in "" | 0.0.0.0 | "[::]") echo "127.0.0.1:${BASH_REMATCH[2]}" ;; *) echo "${LISTEN[$1]}" ;; esac
}

# health INSTANCE: says whether an anonymous GET /v2/ answers 401 (healthy); non-zero on anything else.
health() {
    local code probe
    probe=$(probe_addr "$1")
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$DIR/ca.crt" "https://$probe/v2/" 2>&1) || {
        printf '%s registry at https://%s is not answering: %s\n' "$1" "$probe" "$code" >&2
        return 1
    }
    [ "$code" = 401 ] || { printf '%s registry at https://%s answered %s to an anonymous GET /v2/, expected 401\n' "$1" "$probe" "$code" >&2; return 1; }
    echo "$1 registry at https://$probe is healthy (anonymous GET /v2/ -> 401)"
}

# write_htpasswd FILE USER PASSWORD: FILE holds exactly USER's bcrypt entry.
write_htpasswd() {
    command -v htpasswd >/dev/null || die "htpasswd not found: install apache2-utils"
    # -i: the password comes on stdin, never in argv. Rewritten only when it does not verify already.
    if [ -f "$1" ] && [ "$(cut -d: -f1 "$1")" = "$2" ] && printf '%s' "$3" | htpasswd -iv "$1" "$2" >/dev/null 2>&1; then
        return
    fi
    (umask 077 && printf '%s' "$3" | htpasswd -iBC 10 -c "$1.new" "$2" 2>/dev/null)
    mv "$1.new" "$1"
    echo "htpasswd: bcrypt entry for $2 written to $1"
}

files() {
    mkdir -p "$DIR/data"
    chmod 700 "$DIR"
    REGISTRY_DIR=$DIR "$HERE/pki.sh" ensure
    read_credentials
    write_htpasswd "$DIR/htpasswd" "$REGISTRY_USER" "$REGISTRY_PASSWORD"
    if [ -z "${REGISTRY_PULL_PASSWORD:-}${REGISTRY_PULL_PASSWORD_FILE:-}" ] && [ ! -s "$DIR/pull-password" ]; then
        (umask 077 && openssl rand -base64 24 | tr -d '\n/+=' >"$DIR/pull-password")
        echo "pull account: a random password generated into $DIR/pull-password"
    fi
    REGISTRY_DIR=$DIR read_pull_credentials
    [ "$REGISTRY_PULL_USER" != "$REGISTRY_USER" ] \
        || die "REGISTRY_PULL_USER=$REGISTRY_PULL_USER is also REGISTRY_USER: the pull account needs a name of its own"
    write_htpasswd "$DIR/htpasswd-pull" "$REGISTRY_PULL_USER" "$REGISTRY_PULL_PASSWORD"
    # Shared by every instance behind one name; kept so upload sessions survive restarts.
    [ -s "$DIR/http-secret" ] || (umask 077 && openssl rand -hex 32 >"$DIR/http-secret")
}

start_instance() {
    local instance=$1 log overrides=()
    log=$(logfile "$instance")
    [ -z "${OVERRIDES[$instance]}" ] || overrides=("${OVERRIDES[$instance]}")
    # A clean environment: the registry must not inherit the passwords (nor our other REGISTRY_*
    # settings, which Distribution would read as config overrides).
    env -i PATH="$PATH" \
        REGISTRY_HTTP_ADDR="${LISTEN[$instance]}" \
        REGISTRY_HTTP_SECRET="$(cat "$DIR/http-secret")" \
        REGISTRY_HTTP_TLS_CERTIFICATE="$DIR/server.crt" \
        REGISTRY_HTTP_TLS_KEY="$DIR/server.key" \
        REGISTRY_AUTH_HTPASSWD_PATH="$DIR/htpasswd${SUFFIX[$instance]}" \
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$DIR/data" \
        "${overrides[@]}" \
        setsid "$BIN" serve "$HERE/config.yml" >>"$log" 2>&1 </dev/null &
    echo $! >"$(pidfile "$instance")"
    for _ in $(seq 50); do
        health "$instance" 2>/dev/null && return
        running_pid "$instance" >/dev/null || { tail -n 5 "$log" >&2; die "the $instance registry exited at start (log: $log)"; }
        sleep 0.2
    done
    health "$instance" || die "the $instance registry did not become healthy within 10 s (log: $log)"
}

start() {
    command -v "$BIN" >/dev/null || die "REGISTRY_BIN=$BIN not found: install Debian's docker-registry (or set REGISTRY_BIN)"
    local instance pid
    for instance in "${INSTANCES[@]}"; do
        if pid=$(running_pid "$instance"); then die "a $instance registry from $DIR is already running (pid $pid): make registry-stop first"; fi
    done
    files
    for instance in "${INSTANCES[@]}"; do start_instance "$instance"; done
}

stop() {
    local instance pid
    for instance in "${INSTANCES[@]}"; do
        pid=$(running_pid "$instance") || { echo "no $instance registry running from $DIR"; rm -f "$(pidfile "$instance")"; continue; }
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        rm -f "$(pidfile "$instance")"
        echo "$instance registry (pid $pid) stopped"
    done
}

case ${1:-} in
    files) files ;;
    start) start ;;
    stop) stop ;;
    health) for instance in "${INSTANCES[@]}"; do health "$instance" || exit 1; done ;;
    *) die "usage: registry.sh files|start|stop|health (got '${1:-}')" ;;
esac
