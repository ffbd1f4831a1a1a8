#!/bin/sh
# `make run`: the backend on 127.0.0.1:8000 (live CoinGecko, sample fallback) plus the built UI at
# one URL, served by nginx with the production config when nginx is installed, else by Vite's
# preview server; both proxy /api/, /docs and /openapi.json to the backend. Ctrl-C stops both.
#
# Environment: PYTHON (default .venv/bin/python), UI_PORT (default 8080), NO_NGINX=1 to use Vite's
# preview server even when nginx is installed, TMPDIR (where nginx's run directory goes, default
# /tmp), render.sh's MICRO_CACHE_TTL, and any backend setting (PORT, COINGECKO_API_PLAN,
# COINGECKO_BASE_URL, ...; see README). Expects frontend/dist (make frontend-build).
# The start-up itself is backend/testkit/local_stack.py, which the browser tests use too.
set -eu
cd "$(dirname "$0")/../.."
PYTHONPATH="$PWD/backend${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-.venv/bin/python}" -m testkit.local_stack
