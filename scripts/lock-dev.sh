#!/usr/bin/env bash
# Regenerate requirements-dev.lock: every Python tool of make venv (the dev, deploy and bench extras and
# their dependencies, plus the build backend), and requirements-checkov.lock (checkov's own venv, from
# requirements-checkov.in), pinned with hashes, resolved from PyPI alone (local
# find-links and extra indexes are ignored, so the lock names no host or path). Existing pins stay;
# pass --upgrade or --upgrade-package NAME to move them. make venv installs it with
# `pip install --require-hashes`, so CI runs exactly these files (test_image_files.py checks it).
# Resolve with the Python CI uses (.github/workflows/ci.yml, PYTHON_VERSION): markers are evaluated
# for the interpreter that runs pip-compile.
set -euo pipefail
cd "$(dirname "$0")/.."

compile() {
    env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
        CUSTOM_COMPILE_COMMAND="scripts/lock-dev.sh" \
        .venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
        --no-emit-index-url --no-emit-find-links --no-emit-trusted-host "$@"
}
compile --all-build-deps --extra dev --extra deploy --extra bench \
    --output-file requirements-dev.lock "$@" pyproject.toml
compile --output-file requirements-checkov.lock "$@" requirements-checkov.in

for lock in requirements-dev.lock requirements-checkov.lock; do
    if grep -nE '://|^-|/opt/' "$lock"; then
        echo "$lock must not name an index, host or local path (lines above)" >&2
        exit 1
    fi
done
