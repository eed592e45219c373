#!/usr/bin/env bash
# build-image.sh (`make image`): build the operator image from the Dockerfile, here and anywhere.
#
#   scripts/build-image.sh [--save FILE]        IMAGE=payload-operator:dev by default
#
# Where a Docker daemon answers (a laptop), this is plain `docker build` on the public python base.
# Where none runs but dockerd is installed (CI machines: apt docker.io, no systemd, no registry), it
# starts a private dockerd (own data root, socket and pidfile; no bridge, no iptables), makes a stand-in
# for python:3.11-slim-bookworm with mmdebstrap (Debian's python3 3.11, plus the host's extra CA
# certificates so pip works behind a TLS-intercepting egress proxy), builds with the legacy builder
# (BuildKit would fetch its frontend from a registry) and stops the daemon again. Both use the same
# Dockerfile unchanged; only the PYTHON_IMAGE build argument differs.
#
# --save FILE writes `docker save` output (e.g. for `ctr images import`). The last line printed is the
# image size in bytes.
#
# Environment: IMAGE, PAYLOAD_OPERATOR_CACHE (default ~/.cache/payload-operator: the private daemon's data
# root and the base tarball live there, so rebuilds are incremental), PAYLOAD_OPERATOR_PRIVATE_DOCKERD=1
# (use the private daemon even if another one answers).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
IMAGE=${IMAGE:-payload-operator:dev}
SAVE=""
while [ $# -gt 0 ]; do
  case $1 in
    --save) SAVE=$(realpath -m "$2"); shift 2 ;;
    *) echo "usage: $0 [--save FILE]" >&2; exit 2 ;;
  esac
done
log() { echo "[build-image $(date +%T)] $*" >&2; }
T0=$SECONDS

finish() {  # docker CLI... -> save if asked, print the size
  if [ -n "$SAVE" ]; then
    mkdir -p "$(dirname "$SAVE")"
    "$@" save -o "$SAVE.tmp" "$IMAGE" && mv "$SAVE.tmp" "$SAVE"
    log "saved $IMAGE to $SAVE"
  fi
  local size
  size=$("$@" image inspect -f '{{.Size}}' "$IMAGE")
  log "$IMAGE: $((size / 1000000)) MB, built in $((SECONDS - T0)) s"
  echo "$size"
}

if [ "${PAYLOAD_OPERATOR_PRIVATE_DOCKERD:-0}" != 1 ] && docker info >/dev/null 2>&1; then
  log "building $IMAGE with the running Docker daemon"
  docker build -t "$IMAGE" . >&2
  finish docker
  exit 0
fi

# ------------------------------------------------------------------ private dockerd
# /usr/bin/docker: a newer client elsewhere on PATH may not speak to the apt daemon's API version
DOCKER_CLI=/usr/bin/docker
for tool in dockerd "$DOCKER_CLI" mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "ERROR: no Docker daemon answers and $tool is missing (apt docker.io mmdebstrap)" >&2; exit 1; }
done
CACHE="${PAYLOAD_OPERATOR_CACHE:-$HOME/.cache/payload-operator}/image-build"
RUNDIR=/run/payload-operator-dockerd
[ -z "${PAYLOAD_OPERATOR_CACHE:-}" ] || RUNDIR="$RUNDIR-$(echo "$CACHE" | sha256sum | cut -c1-8)"  # one per data root
mkdir -p "$CACHE" "$RUNDIR"
exec 8>"$CACHE/lock"   # one private daemon per data root
flock 8
SOCK="unix://$RUNDIR/docker.sock"
docker_() { "$DOCKER_CLI" -H "$SOCK" "$@"; }

log "starting a private dockerd (data root $CACHE/docker)"
dockerd --data-root "$CACHE/docker" --exec-root "$RUNDIR/exec" -H "$SOCK" --pidfile "$RUNDIR/docker.pid" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
  >"$CACHE/dockerd.log" 2>&1 8>&- &   # not the lock: a daemon outliving a killed build must not hold it
DOCKERD_PID=$!
stop_dockerd() {
  kill "$DOCKERD_PID" 2>/dev/null || true
  wait "$DOCKERD_PID" 2>/dev/null || true
}
trap stop_dockerd EXIT
for _ in $(seq 300); do
  docker_ info >/dev/null 2>&1 && break
  kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -20 "$CACHE/dockerd.log" >&2; exit 1; }
  sleep 0.2
done
docker_ info >/dev/null

# ------------------------------------------------------------------ stand-in base
EXTRA_CAS=(/usr/local/share/ca-certificates/*.crt)
[ -e "${EXTRA_CAS[0]}" ] || EXTRA_CAS=()
BASE_PACKAGES=python3,python3-venv,python-is-python3,passwd,ca-certificates
BASE_KEY=$( (echo "bookworm $BASE_PACKAGES"; cat "${EXTRA_CAS[@]}" /dev/null) | sha256sum | cut -c1-12)
BASE="payload-operator-base:bookworm-$BASE_KEY"
if ! docker_ image inspect "$BASE" >/dev/null 2>&1; then
  log "making the base $BASE with mmdebstrap"
  rootfs="$CACHE/rootfs-$BASE_KEY.tar"   # the .tar suffix makes mmdebstrap write a tarball
  hooks=()
  if [ ${#EXTRA_CAS[@]} -gt 0 ]; then
    # the host's extra CAs (e.g. a TLS-intercepting egress proxy), so pip in the build stage can verify
    hooks=(--customize-hook="cp ${EXTRA_CAS[*]} \"\$1/usr/local/share/ca-certificates/\" && chroot \"\$1\" update-ca-certificates")
  fi
  mmdebstrap --variant=minbase --include="$BASE_PACKAGES" "${hooks[@]}" bookworm "$rootfs" >&2
  docker_ import "$rootfs" "$BASE" >&2
  rm -f "$rootfs"
fi

log "building $IMAGE on $BASE"
DOCKER_BUILDKIT=0 docker_ build --network host --build-arg "PYTHON_IMAGE=$BASE" -t "$IMAGE" . >&2
docker_ image prune -f >/dev/null   # dangling layers of earlier builds
finish docker_
