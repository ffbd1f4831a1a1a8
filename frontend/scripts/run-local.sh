#!/bin/sh
# `make run`: the backend on 127.0.0.1:8000 (live CoinGecko, sample fallback) plus the built UI at
# one URL, served by nginx with the production config when nginx is installed, else by Vite's
# preview server; both proxy /api/, /docs and /openapi.json to the backend. Ctrl-C stops both.
#
# Environment: PYTHON (default .venv/bin/python), UI_PORT (default 8080), NO_NGINX=1 to use Vite's
# preview server even when nginx is installed, and any backend setting
# (PORT, COINGECKO_API_PLAN, ...; see README). Expects frontend/dist (make frontend-build).
set -eu
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-.venv/bin/python}
UI_PORT=${UI_PORT:-8080}
BACKEND_PORT=${PORT:-8000}
backend_url="http://127.0.0.1:$BACKEND_PORT"
ui_url="http://127.0.0.1:$UI_PORT"
[ -f frontend/dist/index.html ] || { echo "run-local: frontend/dist is missing; run: make frontend-build" >&2; exit 1; }

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/crypto-rates-run.XXXXXX")
backend_pid=''
ui_pid=''
# shellcheck disable=SC2317,SC2329  # called from the trap
stop() {
    trap - INT TERM EXIT
    for pid in $ui_pid $backend_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in $ui_pid $backend_pid; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$run_dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

# Wait (at most 30 s) until `url` answers at all.
wait_for() {
    "$PYTHON" - "$1" <<'EOF'
import sys, time, urllib.error, urllib.request
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit(1)
EOF
}

LOG_FORMAT=${LOG_FORMAT:-text} "$PYTHON" -m crypto_rates &
backend_pid=$!
wait_for "$backend_url/health/live" || { echo "run-local: the backend did not come up (see above)" >&2; exit 1; }

nginx=$(command -v nginx || echo /usr/sbin/nginx)  # /usr/sbin is not on every user's PATH
if [ -x "$nginx" ] && [ -z "${NO_NGINX:-}" ]; then
    ui_server=nginx
    BACKEND_URL=$backend_url LISTEN_PORT=$UI_PORT DOCUMENT_ROOT="$PWD/frontend/dist" \
        sh frontend/nginx/render.sh "$run_dir"
    "$nginx" -p "$run_dir" -c "$run_dir/nginx.conf" -e stderr -g 'daemon off;' &
else
    [ -n "${NO_NGINX:-}" ] || echo "run-local: nginx is not installed (as root: apt-get install nginx), so Vite's preview server serves the UI"
    ui_server="vite preview"
    (cd frontend && BACKEND_URL=$backend_url exec node_modules/.bin/vite preview \
        --host 127.0.0.1 --port "$UI_PORT" --strictPort) &
fi
ui_pid=$!
wait_for "$ui_url/" || { echo "run-local: the UI server did not come up (see above)" >&2; exit 1; }

cat <<EOF

crypto-rates is running ($ui_server in front of the backend):
UI          $ui_url/
API docs    $ui_url/docs
Rates JSON  $ui_url/api/v1/rates
Backend     $backend_url/  (health: /health, metrics: /metrics)
Press Ctrl-C to stop.

EOF

# Stop everything as soon as either process ends (e.g. the backend port was taken).
while kill -0 "$backend_pid" 2>/dev/null && kill -0 "$ui_pid" 2>/dev/null; do sleep 1; done
echo "run-local: a process exited; stopping" >&2
exit 1
