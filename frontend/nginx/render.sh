#!/bin/sh
# Render the nginx config for the crypto-rates frontend into a writable directory.
#
#   frontend/nginx/render.sh OUTPUT_DIR
#
# Environment (default):
#   BACKEND_URL    (http://127.0.0.1:8000)   where /api/, /docs and /openapi.json are proxied;
#                                            scheme://host[:port], no path
#   LISTEN_PORT    (8080)                    the port nginx listens on
#   DOCUMENT_ROOT  (/usr/share/nginx/html)   the built app (the contents of frontend/dist)
#
# Writes OUTPUT_DIR/nginx.conf (from every *.template here) and OUTPUT_DIR/proxy.conf. OUTPUT_DIR
# is then nginx's prefix, holding its pid and temp files too:
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

# The values land in nginx syntax and in a sed replacement: allow only what they can contain.
printf '%s\n' "$BACKEND_URL" |
    grep -Eq '^https?://([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$' ||
    die "BACKEND_URL='$BACKEND_URL' is not valid: use scheme://host[:port] without a path, e.g. http://backend:8000"
{ printf '%s\n' "$LISTEN_PORT" | grep -Eq '^[0-9]+$' && [ "$LISTEN_PORT" -ge 1 ] && [ "$LISTEN_PORT" -le 65535 ]; } ||
    die "LISTEN_PORT='$LISTEN_PORT' is not valid: use a port number 1-65535, e.g. 8080"
printf '%s\n' "$DOCUMENT_ROOT" | grep -Eq '^/[A-Za-z0-9._/-]*$' ||
    die "DOCUMENT_ROOT='$DOCUMENT_ROOT' is not valid: use an absolute path of letters, digits and . _ / -"

mkdir -p "$out"
for template in "$here"/*.template; do
    target="$out/$(basename "$template" .template)"
    sed -e 's|[$]{BACKEND_URL}|'"$BACKEND_URL"'|g' \
        -e 's|[$]{LISTEN_PORT}|'"$LISTEN_PORT"'|g' \
        -e 's|[$]{DOCUMENT_ROOT}|'"$DOCUMENT_ROOT"'|g' \
        "$template" >"$target.tmp"
    if grep -n '[$]{[A-Z_]*}' "$target.tmp" >&2; then
        rm -f "$target.tmp"
        die "$(basename "$template") uses a placeholder this script does not know (above)"
    fi
    mv "$target.tmp" "$target"
done
cp "$here/proxy.conf" "$out/proxy.conf"
