#!/usr/bin/env bash
# The private registry on a host, with Debian's docker-registry (CNCF Distribution) and the repository's
# config.yml; its paths point into REGISTRY_DIR through Distribution's environment overrides.
#
#   registry.sh files    certificates (pki.sh ensure), htpasswd from the credentials, the HTTP secret
#   registry.sh start    files, then start the registry and wait until it is healthy
#   registry.sh stop     stop the process started by `start`
#   registry.sh health   GET https://REGISTRY_ADDR/v2/ with the CA: 401 = up and enforcing authentication
#
# REGISTRY_DIR holds ca.crt/ca.key, server.crt/server.key, htpasswd, http-secret, data/, registry.log and
# registry.pid. Credentials: REGISTRY_USER plus REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE (lib.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/registry/lib.sh
. "$HERE/lib.sh"

DIR=$(realpath -m "${REGISTRY_DIR:-.registry}")
ADDR=${REGISTRY_ADDR:-127.0.0.1:5000}
BIN=${REGISTRY_BIN:-docker-registry}
PIDFILE=$DIR/registry.pid

[[ $ADDR =~ ^(.*):([0-9]{1,5})$ ]] || die "REGISTRY_ADDR=$ADDR is not address:port (e.g. 0.0.0.0:5000 or 127.0.0.1:5000)"
PORT=${BASH_REMATCH[2]}
# Where health checks connect: a listen-on-all address is reached on loopback.
case ${BASH_REMATCH[1]} in "" | 0.0.0.0 | "[::]") PROBE=127.0.0.1:$PORT ;; *) PROBE=$ADDR ;; esac

running_pid() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

# health: prints the HTTP status of an anonymous GET /v2/ (401 when healthy); non-zero on any other.
health() {
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$DIR/ca.crt" "https://$PROBE/v2/" 2>&1) || {
        printf 'registry at https://%s is not answering: %s\n' "$PROBE" "$code" >&2
        return 1
    }
    [ "$code" = 401 ] || { printf 'registry at https://%s answered %s to an anonymous GET /v2/, expected 401\n' "$PROBE" "$code" >&2; return 1; }
    echo "registry at https://$PROBE is healthy (anonymous GET /v2/ -> 401)"
}

write_htpasswd() {
    read_credentials
    command -v htpasswd >/dev/null || die "htpasswd not found: install apache2-utils"
    # -i: the password comes on stdin, never in argv. Rewritten only when it does not verify already.
    if [ -f "$DIR/htpasswd" ] && printf '%s' "$REGISTRY_PASSWORD" | htpasswd -iv "$DIR/htpasswd" "$REGISTRY_USER" >/dev/null 2>&1; then
        return
    fi
    (umask 077 && printf '%s' "$REGISTRY_PASSWORD" | htpasswd -iBC 10 -c "$DIR/htpasswd.new" "$REGISTRY_USER" 2>/dev/null)
    mv "$DIR/htpasswd.new" "$DIR/htpasswd"
    echo "htpasswd: bcrypt entry for $REGISTRY_USER written to $DIR/htpasswd"
}

files() {
    mkdir -p "$DIR/data"
    chmod 700 "$DIR"
    REGISTRY_DIR=$DIR "$HERE/pki.sh" ensure
    write_htpasswd
    # Shared by every instance behind one name; kept so upload sessions survive restarts.
    [ -s "$DIR/http-secret" ] || (umask 077 && openssl rand -hex 32 >"$DIR/http-secret")
}

start() {
    command -v "$BIN" >/dev/null || die "REGISTRY_BIN=$BIN not found: install Debian's docker-registry (or set REGISTRY_BIN)"
    if pid=$(running_pid); then die "a registry from $DIR is already running (pid $pid): make registry-stop first"; fi
    files
    # A clean environment: the registry must not inherit the password (nor our other REGISTRY_* settings,
    # which Distribution would read as config overrides).
    env -i PATH="$PATH" \
        REGISTRY_HTTP_ADDR="$ADDR" \
        REGISTRY_HTTP_SECRET="$(cat "$DIR/http-secret")" \
        REGISTRY_HTTP_TLS_CERTIFICATE="$DIR/server.crt" \
        REGISTRY_HTTP_TLS_KEY="$DIR/server.key" \
        REGISTRY_AUTH_HTPASSWD_PATH="$DIR/htpasswd" \
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$DIR/data" \
        setsid "$BIN" serve "$HERE/config.yml" >>"$DIR/registry.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 50); do
        health 2>/dev/null && return
        running_pid >/dev/null || { tail -n 5 "$DIR/registry.log" >&2; die "the registry exited at start (log: $DIR/registry.log)"; }
        sleep 0.2
    done
    health || die "the registry did not become healthy within 10 s (log: $DIR/registry.log)"
}

stop() {
    local pid
    pid=$(running_pid) || { echo "no registry running from $DIR"; rm -f "$PIDFILE"; return; }
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    rm -f "$PIDFILE"
    echo "registry (pid $pid) stopped"
}

case ${1:-} in
    files) files ;;
    start) start ;;
    stop) stop ;;
    health) health ;;
    *) die "usage: registry.sh files|start|stop|health (got '${1:-}')" ;;
esac
