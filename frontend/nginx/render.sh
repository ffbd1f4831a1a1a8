#!/bin/sh
# Render the nginx config for the crypto-rates frontend into a writable directory.
#
#   frontend/nginx/render.sh OUTPUT_DIR
#
# Environment (default):
#   BACKEND_URL      (http://127.0.0.1:8000)  where /api/, /docs and /openapi.json are proxied;
#                                             scheme://host[:port], no path
#   LISTEN_PORT      (8080)                   the port nginx listens on
#   DOCUMENT_ROOT    (/usr/share/nginx/html)  the built app (the contents of frontend/dist)
#   MICRO_CACHE_TTL  (1)                      seconds nginx caches the rate endpoints' answers;
#                                             0 turns the micro-cache off
#   STALE_IF_ERROR   (600)                    seconds (0, 10, 60, 600 or 3600) for which a cached rate
#                                             answer may stand in for a failing backend: the cache
#                                             key changes every such window, so no copy outlives
#                                             it; 600 is the backend's own stale-if-error default
#                                             (2 x REFRESH_INTERVAL); 0: never
#   RATE_LIMIT       (50)                     requests per second per client address to the API
#                                             (bursts of twice that pass); more get a 429
#                                             problem; 0 turns the limit off
#   RESOLVER         (unset)                  DNS server(s) that re-resolve the backend's name,
#                                             e.g. 127.0.0.11 (compose's); unset: the name is
#                                             resolved once at start (a Kubernetes Service's
#                                             address is stable, so the chart leaves it unset)
#
# Writes OUTPUT_DIR/nginx.conf and OUTPUT_DIR/micro-cache.conf (from the *.template files here),
# OUTPUT_DIR/backend.conf (the upstream), OUTPUT_DIR/edge.conf (stale window, rate limit) and
# OUTPUT_DIR/proxy.conf. OUTPUT_DIR is then nginx's
# prefix, holding its pid, temp files and the micro-cache too:
#   nginx -p OUTPUT_DIR -c OUTPUT_DIR/nginx.conf -e stderr -g 'daemon off;'
# Plain POSIX sh, sed and grep (no envsubst), so it runs in any minimal image. Bad values stop it
# with exit status 2 and a message naming the variable.
set -eu

die() {
    echo "render.sh: $*" >&2
    exit 2
}

[ $# -eq 1 ] || die "usage: render.sh OUTPUT_DIR"
out=$1
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

BACKEND_URL=${BACKEND_URL:-http://127.0.0.1:8000}
BACKEND_URL=${BACKEND_URL%/}
LISTEN_PORT=${LISTEN_PORT:-8080}
DOCUMENT_ROOT=${DOCUMENT_ROOT:-/usr/share/nginx/html}
MICRO_CACHE_TTL=${MICRO_CACHE_TTL:-1}
STALE_IF_ERROR=${STALE_IF_ERROR:-600}
RATE_LIMIT=${RATE_LIMIT:-50}
RESOLVER=${RESOLVER:-}

# The values land in nginx syntax and in a sed replacement: allow only what they can contain.
printf '%s\n' "$BACKEND_URL" |
    grep -Eq '^https?://([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$' ||
    die "BACKEND_URL='$BACKEND_URL' is not valid: use scheme://host[:port] without a path, e.g. http://backend:8000"
{ printf '%s\n' "$LISTEN_PORT" | grep -Eq '^[0-9]+$' && [ "$LISTEN_PORT" -ge 1 ] && [ "$LISTEN_PORT" -le 65535 ]; } ||
    die "LISTEN_PORT='$LISTEN_PORT' is not valid: use a port number 1-65535, e.g. 8080"
printf '%s\n' "$DOCUMENT_ROOT" | grep -Eq '^/[A-Za-z0-9._/-]*$' ||
    die "DOCUMENT_ROOT='$DOCUMENT_ROOT' is not valid: use an absolute path of letters, digits and . _ / -"

{ printf '%s\n' "$MICRO_CACHE_TTL" | grep -Eq '^[0-9]{1,4}$' && [ "$MICRO_CACHE_TTL" -le 3600 ]; } ||
    die "MICRO_CACHE_TTL='$MICRO_CACHE_TTL' is not valid: use whole seconds 0-3600 (0 turns the micro-cache off), e.g. 1"
# nginx has no age limit for stale copies of its own, so the window is part of the cache key: a
# prefix of $time_iso8601 (2026-12-04T03:4 changes every 10 minutes), hence the fixed choices.
case $STALE_IF_ERROR in
    0) window=''; stale_on_error='' ;;
    10) window='T\d\d:\d\d:\d' ;;
    60) window='T\d\d:\d\d' ;;
    600) window='T\d\d:\d' ;;
    3600) window='T\d\d' ;;
    *) die "STALE_IF_ERROR='$STALE_IF_ERROR' is not valid: use 0, 10, 60, 600 or 3600 (seconds), e.g. 600" ;;
esac
[ "$STALE_IF_ERROR" -eq 0 ] || stale_on_error=' error timeout http_502 http_503 http_504'
{ printf '%s\n' "$RATE_LIMIT" | grep -Eq '^[0-9]{1,5}$' && [ "$RATE_LIMIT" -le 10000 ]; } ||
    die "RATE_LIMIT='$RATE_LIMIT' is not valid: use requests per second 0-10000 (0 turns the limit off), e.g. 50"
for address in $RESOLVER; do
    printf '%s\n' "$address" | grep -Eq '^([0-9.]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$' ||
        die "RESOLVER='$RESOLVER' is not valid: use DNS server addresses (IP[:port], IPv6 in brackets) separated by spaces, e.g. 127.0.0.11"
done

scheme=${BACKEND_URL%%://*}
server=${BACKEND_URL#*://}
case $server in
    *:[0-9]*) ;;
    *) if [ "$scheme" = https ]; then server=$server:443; else server=$server:80; fi ;;
esac

# The upstream keeps idle connections to the backend open (16 per worker, closed after 4 s idle:
# before uvicorn's 5 s, so nginx never reuses one the backend is closing). With RESOLVER, nginx
# >= 1.27.3 re-resolves the name inside the upstream (`resolve`), keep-alive pool and all. Older
# nginx (Debian 12's 1.22) re-resolves only a name given in a variable, which bypasses the upstream:
# the backend's new address is followed, but each request opens a new connection.
pass="$scheme://crypto_rates_backend"
resolve=""
if [ -n "$RESOLVER" ]; then
    version=$(nginx -v 2>&1 | sed -n 's|^nginx version: [^/]*/\([0-9.]*\).*|\1|p')
    if printf '%s\n1.27.3\n' "${version:-0}" | sort -C -t. -k1,1n -k2,2n -k3,3n; then
        pass="$scheme://\$crypto_rates_backend"
        echo "render.sh: nginx ${version:-(not found)} is older than 1.27.3: the backend's name is re-resolved through RESOLVER, without keep-alive connections" >&2
    else
        resolve=" resolve"
    fi
fi
mkdir -p "$out"
{
    echo "# Rendered by render.sh from BACKEND_URL=$BACKEND_URL RESOLVER=$RESOLVER"
    [ -z "$RESOLVER" ] || echo "resolver $RESOLVER valid=5s ipv6=off;"
    case $pass in
        *'$'*) echo "map \"\" \$crypto_rates_backend { default $server; }" ;;
        *) echo "upstream crypto_rates_backend {"
           [ -z "$resolve" ] || echo "    zone crypto_rates_backend 64k;"
           echo "    server $server$resolve;"
           echo "    keepalive 16;"
           echo "    keepalive_timeout 4s;"
           echo "}" ;;
    esac
} >"$out/backend.conf"

{
    echo "# Rendered by render.sh from STALE_IF_ERROR=$STALE_IF_ERROR RATE_LIMIT=$RATE_LIMIT"
    # shellcheck disable=SC2016 # nginx variables, written as they are
    if [ -n "$window" ]; then
        printf 'map $time_iso8601 $stale_window { "~^(?<window>%s)" $window; default ""; }\n' \
            "\\d{4}-\\d\\d-\\d\\d$window"
    else
        echo 'map $time_iso8601 $stale_window { default ""; }'
    fi
    if [ "$RATE_LIMIT" -gt 0 ]; then
        echo "limit_req_zone \$binary_remote_addr zone=api:10m rate=${RATE_LIMIT}r/s;"
        echo "limit_req zone=api burst=$((RATE_LIMIT * 2)) nodelay;"
    fi
} >"$out/edge.conf"

for template in "$here"/*.template; do
    target="$out/$(basename "$template" .template)"
    sed -e 's|[$]{BACKEND_PASS}|'"$pass"'|g' \
        -e 's|[$]{LISTEN_PORT}|'"$LISTEN_PORT"'|g' \
        -e 's|[$]{DOCUMENT_ROOT}|'"$DOCUMENT_ROOT"'|g' \
        -e 's|[$]{MICRO_CACHE_TTL}|'"$MICRO_CACHE_TTL"'|g' \
        -e 's|[$]{STALE_ON_ERROR}|'"$stale_on_error"'|g' \
        "$template" >"$target.tmp"
    if grep -n '[$]{[A-Z_]*}' "$target.tmp" >&2; then
        rm -f "$target.tmp"
        die "$(basename "$template") uses a placeholder this script does not know (above)"
    fi
    mv "$target.tmp" "$target"
done
cp "$here/proxy.conf" "$out/proxy.conf"
if [ "$MICRO_CACHE_TTL" -eq 0 ]; then
    echo "# MICRO_CACHE_TTL=0: the micro-cache is off." >"$out/micro-cache.conf"
fi
