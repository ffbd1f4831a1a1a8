#!/usr/bin/env bash
# Regenerate backend/requirements.lock: the backend's runtime and build dependencies, pinned with hashes,
# resolved from PyPI alone (local find-links and extra indexes are ignored, so the lock names no host or
# path). Existing pins stay; pass --upgrade or --upgrade-package NAME to move them.
# The backend image installs it with `pip install --require-hashes`.
set -euo pipefail
cd "$(dirname "$0")/../.."

env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
    CUSTOM_COMPILE_COMMAND="deploy/images/lock-backend.sh" \
    .venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps \
    --strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
    --output-file backend/requirements.lock "$@" pyproject.toml

if grep -nE '://|^-|/opt/' backend/requirements.lock; then
    echo "backend/requirements.lock must not name an index, host or local path (lines above)" >&2
    exit 1
fi
