#!/usr/bin/env bash
# bootstrap.sh: install everything the tests and the demo need, on a fresh Debian bookworm machine
# (run as root, or with sudo available). Idempotent: each step is skipped quickly when already done.
#
#   apt packages   Ceph RGW (mon/osd/radosgw), lua5.4, rclone, uuid-runtime, curl, ...
#   .venv          python -m venv + exactly requirements.lock + requirements-test.lock (hash-pinned, with
#                  durable-workflow 2.12.0) + the project itself (editable, no dependencies)
#   .venv-sdk04    an isolated venv with exactly requirements-sdk04.lock (durable-workflow 0.4.53; SDK-compat tests)
#   node_modules   npm ci (Azurite, pinned in package.json / package-lock.json)
#   kube binaries  scripts/build-k8s.sh (kube-apiserver, -controller-manager, -scheduler, kubelet, kubectl
#                  v1.20.2, cached in ~/.cache); `.work/bin/kubectl` links that kubectl (same version as the
#                  local control plane, so no skew warning; the tests' cluster calls use it too)
#
# apt waits up to 10 minutes for another apt/dpkg on the machine instead of failing (scripts/lib/apt.sh).
#
# Environment: PYTHON (interpreter for the venvs, default python3), BOOTSTRAP_SKIP_APT=1, BOOTSTRAP_SKIP_K8S=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
STAMPS="$ROOT/.work/stamps"
mkdir -p "$STAMPS"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# shellcheck source=lib/apt.sh
. "$ROOT/scripts/lib/apt.sh"

T0=$SECONDS
log() { echo "[bootstrap $(date +%T)] $*" >&2; }
step_start() { STEP_NAME=$1; STEP_T0=$SECONDS; }
step_done() { log "$STEP_NAME: $1 ($((SECONDS - STEP_T0)) s)"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# one bootstrap at a time per clone (several `make test` may start together)
exec 9>"$ROOT/.work/bootstrap.lock"
flock 9

# ------------------------------------------------------------------ apt
APT_PACKAGES=(
  ceph-mon ceph-osd radosgw ceph-common uuid-runtime
  lua5.4 rclone coreutils util-linux procps curl ca-certificates openssl make
  # the node suite (tests/node): the image build (scripts/build-image.sh) and a one-node cluster
  docker.io mmdebstrap containerd runc containernetworking-plugins socat dnsmasq-base iproute2 golang-go
)
command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || APT_PACKAGES+=(python3-venv)
step_start apt
if [ "${BOOTSTRAP_SKIP_APT:-0}" = 1 ]; then
  step_done "skipped (BOOTSTRAP_SKIP_APT=1)"
else
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    step_done "all ${#APT_PACKAGES[@]} packages present"
  else
    log "apt: installing ${missing[*]}"
    apt_get update -q
    apt_get install -y -q --no-install-recommends "${missing[@]}"
    step_done "installed ${#missing[@]} packages"
  fi
fi

# sync_venv VENV LOCK...: exactly these locks in the venv. --no-deps so nothing outside them comes in,
# --require-hashes so the bytes are the locked ones, then pip-sync-style removal of anything else, so a venv
# made from an older lock converges too. --no-compile: modules compile when first imported; compiling all of
# them up front (sympy, botocore, ...) took most of the install's CPU.
sync_venv() {
  local venv=$1 lock args=() extra
  shift
  for lock in "$@"; do args+=(-r "$lock"); done
  "$venv/bin/python" -m pip install -q --no-compile --require-hashes --no-deps "${args[@]}" >&2
  extra=$("$venv/bin/python" scripts/venv_extras.py "$@")
  [ -z "$extra" ] || "$venv/bin/python" -m pip uninstall -q -y $extra >&2
}

# ------------------------------------------------------------------ main venv
step_start ".venv"
VENV_KEY=$(hash_of pyproject.toml requirements.lock requirements-test.lock)
if [ -x .venv/bin/python ] && [ "$(cat "$STAMPS/venv" 2>/dev/null)" = "$VENV_KEY" ] \
  && .venv/bin/python -c 'import payload_operator, kopf, moto, durable_workflow' 2>/dev/null; then
  step_done "up to date"
else
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  sync_venv .venv requirements.lock requirements-test.lock
  .venv/bin/python -m pip install -q --no-deps -e . >&2
  .venv/bin/python -m pip check >&2
  .venv/bin/python -c 'import payload_operator, kopf, moto, durable_workflow'
  echo "$VENV_KEY" > "$STAMPS/venv"
  step_done "installed"
fi

# ------------------------------------------------------------------ SDK 0.4 venv
step_start ".venv-sdk04"
SDK04_KEY=$(hash_of requirements-sdk04.lock)
if [ -x .venv-sdk04/bin/python ] && [ "$(cat "$STAMPS/venv-sdk04" 2>/dev/null)" = "$SDK04_KEY" ]; then
  step_done "up to date"
else
  [ -x .venv-sdk04/bin/python ] || "$PYTHON" -m venv .venv-sdk04
  # the provider clients let the old SDK write through its own S3, GCS and Azure drivers in tests
  sync_venv .venv-sdk04 requirements-sdk04.lock
  .venv-sdk04/bin/python -c 'import durable_workflow, boto3, google.cloud.storage, azure.storage.blob'
  echo "$SDK04_KEY" > "$STAMPS/venv-sdk04"
  step_done "installed"
fi

# ------------------------------------------------------------------ npm (Azurite)
step_start "node_modules"
NPM_KEY=$(hash_of package.json package-lock.json)
if [ -x node_modules/.bin/azurite-blob ] && [ "$(cat node_modules/.bootstrap-stamp 2>/dev/null)" = "$NPM_KEY" ]; then
  step_done "up to date"
else
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$NPM_KEY" > node_modules/.bootstrap-stamp
  step_done "installed"
fi

# ------------------------------------------------------------------ Kubernetes binaries
step_start "kube binaries"
if [ "${BOOTSTRAP_SKIP_K8S:-0}" = 1 ]; then
  step_done "skipped (BOOTSTRAP_SKIP_K8S=1)"
else
  K8S_CACHE="${PAYLOAD_OPERATOR_CACHE:-$HOME/.cache/payload-operator}"
  mkdir -p "$K8S_CACHE"
  # the cache is shared by every clone on the machine: build-k8s.sh takes its own lock and builds once
  BIN=$(bash scripts/build-k8s.sh)
  mkdir -p .work/bin && ln -sf "$BIN/kubectl" .work/bin/kubectl
  step_done "$BIN"
fi

log "done in $((SECONDS - T0)) s"
