#!/usr/bin/env bash
# Build the Kubernetes v1.20.2 binaries from Debian's source package, all in one `make`:
# kube-apiserver and kube-controller-manager (the API-server-only suite), kube-scheduler and kubelet
# (a node that runs Pods and Jobs), and kubectl (the same version as the server, so no skew warning).
# Output is cached outside the clone, keyed by the Debian source version, so later runs reuse it.
# Usage: scripts/build-k8s.sh  -> prints the bin directory on stdout
set -euo pipefail
DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
CACHE="${PAYLOAD_OPERATOR_CACHE:-$HOME/.cache/payload-operator}/kubernetes-$DEB_VERSION"
BIN="$CACHE/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
have_all() { for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done; }
if have_all && command -v etcd >/dev/null; then
  echo "$BIN"; exit 0
fi
# The build runs in a session of its own and the caller waits for it: a caller that is killed (pytest under
# `timeout`, Ctrl-C) must not take a 10-minute compile down halfway, or every next caller starts it again.
if [ -z "${BUILD_K8S_DETACHED:-}" ]; then
  mkdir -p "$CACHE"
  echo "[build-k8s] building (or waiting for the running build); log: $CACHE/build.log" >&2
  BUILD_K8S_DETACHED=1 setsid bash "$0" >>"$CACHE/build.log" 2>&1 </dev/null &
  if wait $! && have_all; then echo "$BIN"; exit 0; fi
  echo "[build-k8s] the build failed; end of $CACHE/build.log:" >&2
  tail -40 "$CACHE/build.log" >&2
  exit 1
fi
# One build at a time per machine, whoever starts it (bootstrap, a test fixture, a second clone): a second
# caller waits here and then finds the binaries, instead of unpacking the source under a running build.
exec 8>"$(dirname "$CACHE")/build-k8s.lock"
flock 8
if have_all && command -v etcd >/dev/null; then echo "$BIN"; exit 0; fi
log() { echo "[build-k8s] $*" >&2; }
mkdir -p "$BIN" "$CACHE/src" "$CACHE/apt/lists/partial" "$CACHE/apt/parts"
export DEBIAN_FRONTEND=noninteractive
log "installing build dependencies"
# shellcheck source=lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"
apt_get update -q
apt_get install -y -q --no-install-recommends golang-go rsync make etcd-server \
  golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev ca-certificates openssl curl >&2
if have_all; then echo "$BIN"; exit 0; fi
# deb-src entries in a private apt state dir; the system's apt configuration is left untouched
sed 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources > "$CACHE/apt/parts/debian-src.sources"
APTO=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$CACHE/apt/parts" -o Dir::State::Lists="$CACHE/apt/lists")
apt-get "${APTO[@]}" update -q >&2
cd "$CACHE/src"
[ -f "kubernetes_1.20.5+really1.20.2.orig.tar.gz" ] || apt-get "${APTO[@]}" source --download-only "kubernetes=$DEB_VERSION" >&2
rm -rf kubernetes-1.20.2 && tar xzf kubernetes_1.20.5+really1.20.2.orig.tar.gz
SRC="$CACHE/src/kubernetes-1.20.2"; cd "$SRC"
# The vendored reflect2 1.0.1 crashes under Go >= 1.18; swap in Debian's packaged fixes.
for p in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  rm -rf "vendor/$p"; mkdir -p "vendor/$p"
  find "/usr/share/gocode/src/$p" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' -exec cp {} "vendor/$p/" \;
done
mkdir -p .go/src/k8s.io; [ -L .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
export GOPATH="$SRC/.go" CGO_ENABLED=0 GOPROXY=off GOCACHE="$CACHE/gocache"
export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20
log "compiling ${BINARIES[*]} (about 10-13 minutes on 2 cores)"
make WHAT="${BINARIES[*]/#/cmd/}" >&2
for b in "${BINARIES[@]}"; do cp "_output/bin/$b" "$BIN/"; done
cd "$CACHE" && rm -rf "$SRC" "$CACHE/gocache"
"$BIN/kube-apiserver" --version >&2
echo "$BIN"
