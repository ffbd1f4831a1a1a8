#!/bin/sh
# Entrypoint of the frontend image: render the nginx config from the environment (BACKEND_URL, LISTEN_PORT,
# DOCUMENT_ROOT, MICRO_CACHE_TTL, RESOLVER) into /tmp, the only writable path (it holds the micro-cache too),
# then replace this shell with nginx in the foreground (PID 1, so it gets docker's stop signal). It relies on
# no base image's own entrypoint.
set -eu

export BACKEND_URL="${BACKEND_URL:-http://127.0.0.1:8000}"
export LISTEN_PORT="${LISTEN_PORT:-8080}"
export DOCUMENT_ROOT="${DOCUMENT_ROOT:-/usr/share/crypto-rates/html}"
conf_dir=/tmp/nginx

# render.sh checks the values and exits 2 with a message naming a bad one.
/etc/crypto-rates/nginx/render.sh "$conf_dir"
# The rendered directory is nginx's prefix (pid and temp files live there); -e stderr logs to stderr from
# the first moment, before the config is read (the default error log path is on the read-only root).
exec nginx -p "$conf_dir" -c "$conf_dir/nginx.conf" -e stderr -g 'daemon off;'
