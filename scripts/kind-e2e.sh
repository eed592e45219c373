#!/usr/bin/env bash
# kind-e2e.sh: the operator image on a real cluster, end to end.
#
#   1. create a kind cluster (needs Docker and kind),
#   2. run the shipping tests against it (tests/ship: chart install/upgrade, the operator under the chart's
#      ServiceAccount, RBAC proofs, examples) while the cluster is still empty,
#   3. build the image, load it into kind, install the chart with it (scripts/render-chart.py: no helm binary
#      needed) and check the real pod: it runs non-root on a read-only root filesystem, passes its liveness
#      probe, reports a condition on a resource, and logs JSON without secrets,
#   4. run the end-to-end suite (tests/e2e) against the same cluster,
#   5. delete the cluster (KEEP_CLUSTER=1 keeps it).
#
# Without a Docker daemon (CI machines without one, sandboxes) it says so and exits 0: nothing is run.
#
# Environment: KIND_CLUSTER (default payload-operator-e2e), KIND_NODE_IMAGE (kind's default if empty),
# IMAGE (default payload-operator:e2e), KEEP_CLUSTER=1, PYTHON (default .venv/bin/python), DOCKER, KIND.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DOCKER=${DOCKER:-docker}
KIND=${KIND:-kind}
CLUSTER=${KIND_CLUSTER:-payload-operator-e2e}
IMAGE=${IMAGE:-payload-operator:e2e}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
RELEASE_NS=payload-system
SMOKE_NS=payload-smoke
SMOKE_TOKEN=smoke-token-$RANDOM$RANDOM

log() { echo "[kind-e2e $(date +%T)] $*" >&2; }

if ! "$DOCKER" info >/dev/null 2>&1; then
  echo "SKIP: kind end-to-end needs a running Docker daemon ('$DOCKER info' failed); nothing was run." >&2
  echo "      Building the image (Dockerfile) needs Docker too. Run this script where Docker runs." >&2
  exit 0
fi
if ! command -v "$KIND" >/dev/null 2>&1; then
  echo "ERROR: Docker runs but '$KIND' is not installed: https://kind.sigs.k8s.io/docs/user/quick-start/" >&2
  exit 1
fi

WORK=$(mktemp -d)
export KUBECONFIG="$WORK/kubeconfig"
cleanup() {
  if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
    log "keeping cluster $CLUSTER (KUBECONFIG=$KUBECONFIG)"
  else
    "$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# poll <timeout seconds> <description> <command...>: retry until the command succeeds or the deadline passes
poll() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "timed out waiting for: $what"
      return 1
    fi
    sleep 1
  done
}

log "cluster $CLUSTER"
node_image=()
[ -n "${KIND_NODE_IMAGE:-}" ] && node_image=(--image "$KIND_NODE_IMAGE")
"$KIND" create cluster --name "$CLUSTER" "${node_image[@]}" --wait 180s --kubeconfig "$KUBECONFIG"
kubectl version

log "shipping tests (chart, RBAC, examples) on the empty cluster"
"$PYTHON" -m pytest tests/ship -q

log "image $IMAGE"
"$DOCKER" build -t "$IMAGE" .
"$KIND" load docker-image "$IMAGE" --name "$CLUSTER"

log "chart with the image, watching $SMOKE_NS"
kubectl create namespace "$SMOKE_NS"
"$PYTHON" scripts/render-chart.py install --namespace "$RELEASE_NS" --name payload-operator \
  --set "image.repository=${IMAGE%:*}" --set "image.tag=${IMAGE##*:}" --set image.pullPolicy=Never \
  --set rbac.scope=namespace --set "watchNamespaces={$SMOKE_NS}" --set "rbac.secretNames={dw-admin}"
kubectl -n "$RELEASE_NS" rollout status deployment/payload-operator --timeout=180s

log "smoke: a resource gets a condition for its generation from the pod"
kubectl -n "$SMOKE_NS" create secret generic dw-admin --from-literal=token="$SMOKE_TOKEN"
kubectl -n "$SMOKE_NS" label secret dw-admin payloads.durable-workflow.io/consent=true  # the operator reads only these
kubectl apply -f - <<EOF
apiVersion: payloads.durable-workflow.io/v1alpha1
kind: ExternalPayloadStorage
metadata: {name: smoke, namespace: $SMOKE_NS}
spec:
  server: {url: "http://durable-workflow.invalid:8080", tokenSecretRef: {name: dw-admin}, namespaces: [smoke], requestTimeoutSeconds: 2}
  driver: local
  local: {path: /var/lib/dw-payloads}
  prefix: smoke
EOF
observed() {
  [ "$(kubectl -n "$SMOKE_NS" get eps smoke -o jsonpath='{.status.conditions[?(@.type=="PolicySynced")].observedGeneration}')" = 1 ]
}
poll 120 "PolicySynced on smoke (generation 1)" observed
kubectl -n "$SMOKE_NS" get eps smoke -o wide

pod=$(kubectl -n "$RELEASE_NS" get pod -l app.kubernetes.io/component=operator -o jsonpath='{.items[0].metadata.name}')
uid=$(kubectl -n "$RELEASE_NS" exec "$pod" -- id -u)
[ "$uid" = 65532 ] || { log "operator runs as uid $uid, not 65532"; exit 1; }
if kubectl -n "$RELEASE_NS" exec "$pod" -- sh -c 'touch /opt/payload-operator/probe' 2>/dev/null; then
  log "the root filesystem is writable"; exit 1
fi
restarts=$(kubectl -n "$RELEASE_NS" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}')
[ "$restarts" = 0 ] || { log "operator restarted $restarts times (liveness probe?)"; exit 1; }
logs=$(kubectl -n "$RELEASE_NS" logs "$pod")
if grep -q "$SMOKE_TOKEN" <<<"$logs"; then log "the operator logged the token"; exit 1; fi
if grep -v '^{' <<<"$logs" | grep -q .; then log "non-JSON log lines:"; grep -v '^{' <<<"$logs" | head >&2; exit 1; fi
kubectl -n "$SMOKE_NS" delete eps smoke --wait=true --timeout=60s

log "end-to-end suite against the cluster"
"$PYTHON" -m pytest tests/e2e -q

log "passed"
