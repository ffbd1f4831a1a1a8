#!/bin/sh
# TypeScript types for the backend API, generated from the backend's own OpenAPI schema
# (create_app().openapi(): no server needed) with openapi-typescript.
#
#   sh scripts/gen-api-types.sh           write src/api/schema.ts
#   sh scripts/gen-api-types.sh --check   fail if the committed src/api/schema.ts has drifted
#
# PYTHON: the interpreter with the crypto_rates package installed (default: the repository .venv).
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-../.venv/bin/python}"
out=src/api/schema.ts
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PYTHON" -c 'import json, sys
from crypto_rates.main import create_app
json.dump(create_app().openapi(), sys.stdout, indent=1)' >"$tmp/openapi.json"
node_modules/.bin/openapi-typescript "$tmp/openapi.json" --output "$tmp/schema.ts" >/dev/null 2>"$tmp/log" || {
    cat "$tmp/log" >&2
    exit 1
}

case "${1:-}" in
--check)
    if ! diff -u "$out" "$tmp/schema.ts"; then
        echo "$out is out of date with the backend's OpenAPI schema; regenerate it: cd frontend && npm run gen:api" >&2
        exit 1
    fi
    echo "$out matches the backend's OpenAPI schema"
    ;;
"")
    cp "$tmp/schema.ts" "$out"
    echo "wrote $out"
    ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
