#!/usr/bin/env bash
# lock-requirements.sh: regenerate requirements.lock, the hash-pinned runtime dependencies the image installs.
#
# The pins are the versions installed in the project venv (the ones the tests ran against), resolved from
# pyproject.toml's runtime dependencies only (no test extras), with the sha256 of every published file, so
# `pip install --require-hashes` in the Dockerfile installs exactly these bytes. Run it after changing
# pyproject.toml dependencies (and after `make bootstrap` updated the venv).
#
# Environment: VENV (default .venv), PIP_TOOLS_VERSION (default 7.6.2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${VENV:-.venv}
PIP_TOOLS_VERSION=${PIP_TOOLS_VERSION:-7.6.2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# only the public index: machine-local wheel folders and mirrors must not leak into the lock
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL
"$VENV/bin/python" -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION"
# the versions the tests use, as constraints (the project itself is installed editable: left out)
"$VENV/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check | grep -v '^-e ' > "$WORK/tested.txt"
CUSTOM_COMPILE_COMMAND=scripts/lock-requirements.sh "$WORK/tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
  --no-emit-trusted-host --no-emit-find-links \
  --constraint "$WORK/tested.txt" --output-file requirements.lock pyproject.toml
# the temp path of the constraints would make every run differ
sed -i "s|-c $WORK/tested.txt|-c versions installed in $VENV|" requirements.lock
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pins)"
