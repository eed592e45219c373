#!/usr/bin/env bash
# lock-requirements.sh (`make lock`): re-pin the three hash-pinned locks that every install uses.
#
#   requirements.lock        runtime dependencies (pyproject [project.dependencies]): the image, .venv
#   requirements-test.lock   test-only packages (the `test` extra, with durable-workflow 2.12.0): .venv
#   requirements-sdk04.lock  the old SDK's venv (.venv-sdk04: durable-workflow 0.4.53 + provider clients)
#
# Runtime and test packages are resolved together, so both locks agree on every shared package, then split:
# requirements.lock holds what the runtime needs, requirements-test.lock the rest. pip-compile keeps the
# pins already in a lock when they still satisfy pyproject.toml, so this changes only what must change;
# `make lock UPGRADE=1` (or UPGRADE=1 here) re-resolves everything to the newest releases.
# Environment: PYTHON (default python3), PIP_TOOLS_VERSION (default 7.6.2), UPGRADE.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
PIP_TOOLS_VERSION=${PIP_TOOLS_VERSION:-7.6.2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# only the public index: machine-local wheel folders and mirrors must not leak into the locks
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q "pip-tools==$PIP_TOOLS_VERSION"
COMPILE=("$WORK/tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras
  --no-emit-index-url --no-emit-trusted-host --no-emit-find-links)
[ "${UPGRADE:-0}" = 1 ] && COMPILE+=(--upgrade)
export CUSTOM_COMPILE_COMMAND="make lock"

# 1. runtime + test together, preferring the pins of both current locks
cat requirements.lock requirements-test.lock > "$WORK/all.txt" 2>/dev/null || true
"${COMPILE[@]}" --extra test --output-file "$WORK/all.txt" pyproject.toml
# 2. the runtime subset, at exactly those versions
cp requirements.lock "$WORK/runtime.txt"
"${COMPILE[@]}" --constraint "$WORK/all.txt" --output-file "$WORK/runtime.txt" pyproject.toml
# 3. the test lock: everything in the joint resolution that the runtime lock does not hold
"$WORK/tools/bin/python" scripts/split_lock.py "$WORK/all.txt" "$WORK/runtime.txt" > "$WORK/test.txt"
sed "s|-c $WORK/all.txt|-c the joint runtime + test resolution|" "$WORK/runtime.txt" > requirements.lock
mv "$WORK/test.txt" requirements-test.lock

# 4. the old SDK's own venv, resolved alone (it pins avro and older httpx ranges of its own)
printf '%s\n' durable-workflow==0.4.53 boto3 google-cloud-storage azure-storage-blob > "$WORK/sdk04.in"
cp requirements-sdk04.lock "$WORK/sdk04.txt" 2>/dev/null || true
"${COMPILE[@]}" --output-file "$WORK/sdk04.txt" "$WORK/sdk04.in"
sed "s|$WORK/sdk04.in|scripts/lock-requirements.sh (durable-workflow 0.4.53 + provider clients)|" "$WORK/sdk04.txt" \
  > requirements-sdk04.lock
for f in requirements.lock requirements-test.lock requirements-sdk04.lock; do
  echo "wrote $f ($(grep -c '==' "$f") pins)"
done
