#!/bin/sh
# Entrypoint of the frontend image: render the nginx config from the environment (BACKEND_URL, LISTEN_PORT)
# into /tmp, the only writable path, then replace this shell with nginx in the foreground (PID 1, so it gets
# docker's stop signal). It relies on no base image's own entrypoint.
set -eu

export BACKEND_URL="${BACKEND_URL:-http://127.0.0.1:8000}"
export LISTEN_PORT="${LISTEN_PORT:-8080}"
conf_dir=/tmp/nginx

mkdir -p "$conf_dir"
/etc/crypto-rates/nginx/render.sh "$conf_dir"
# -e stderr: log to stderr from the first moment, before the config is read (the root is read-only).
exec nginx -e stderr -c "$conf_dir/nginx.conf" -g 'daemon off;'
