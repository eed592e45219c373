#!/usr/bin/env bash
# kind-e2e.sh: the operator image on a real cluster, end to end.
#
#   1. create a kind cluster (needs Docker and kind),
#   2. run the shipping tests against it (tests/ship: chart install/upgrade, the operator under the chart's
#      ServiceAccount, RBAC proofs, examples) while the cluster is still empty,
#   3. build the image, load it into kind, install the chart with it (scripts/render-chart.py: no helm binary
#      needed) and check the real pod: it runs non-root on a read-only root filesystem, passes its liveness
#      and readiness probes, brings a local-driver resource to Ready=True against the Durable Workflow server
#      emulator (devkit/dw_emulator on the host, bound to the kind network's gateway address, which pods
#      reach), with the tenantPolicy values that admit that server and payload directory for the smoke
#      namespace (the default policy refuses both), and logs JSON without secrets,
#   4. run the end-to-end suite (tests/e2e) against the same cluster,
#   5. delete the cluster (KEEP_CLUSTER=1 keeps it).
#
# Without a Docker daemon (CI machines without one, sandboxes) it says so and exits 0: nothing is run.
#
# Environment: KIND_CLUSTER (default payload-operator-e2e), KIND_NODE_IMAGE (kind's default if empty),
# IMAGE (default payload-operator:e2e), KEEP_CLUSTER=1, PYTHON (default .venv/bin/python), DOCKER, KIND,
# DW_PORT (default 18080: the emulator's port on the gateway address).
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
DW_PORT=${DW_PORT:-18080}
DW_PID=

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
  [ -z "$DW_PID" ] || kill "$DW_PID" 2>/dev/null || true
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

# The smoke resource's server: the emulator on the host, bound to the kind network's gateway (pods reach it);
# its payload directory is the resource's local path.
GATEWAY=$("$DOCKER" network inspect kind -f '{{range .IPAM.Config}}{{println .Gateway}}{{end}}' | grep -m1 -E '^[0-9.]+$')
PAYLOADS="$WORK/payloads"
mkdir -p "$PAYLOADS"
log "Durable Workflow server emulator on $GATEWAY:$DW_PORT"
"$PYTHON" -m devkit.dw_emulator --host "$GATEWAY" --port "$DW_PORT" --namespace smoke \
  --admin-token "$SMOKE_TOKEN" --local-root "$PAYLOADS" >"$WORK/dw-emulator.log" 2>&1 &
DW_PID=$!
poll 30 "the emulator on $GATEWAY:$DW_PORT" bash -c "exec 3<>/dev/tcp/$GATEWAY/$DW_PORT"

log "chart with the image, watching $SMOKE_NS"
kubectl create namespace "$SMOKE_NS"
# the admin's tenant policy (docs/security.md) admits this server and this payload directory, for $SMOKE_NS only
cat >"$WORK/values.yaml" <<EOF
tenantPolicy:
  endpoints: [{hosts: ["$GATEWAY"], uses: [server], namespaces: [$SMOKE_NS]}]
  localRoots: [{path: "$PAYLOADS", namespaces: [$SMOKE_NS]}]
EOF
"$PYTHON" scripts/render-chart.py install --namespace "$RELEASE_NS" --name payload-operator -f "$WORK/values.yaml" \
  --set "image.repository=${IMAGE%:*}" --set "image.tag=${IMAGE##*:}" --set image.pullPolicy=Never \
  --set rbac.scope=namespace --set "watchNamespaces={$SMOKE_NS}" --set "rbac.secretNames={dw-admin}"
kubectl -n "$RELEASE_NS" rollout status deployment/payload-operator --timeout=180s

log "smoke: a local-driver resource becomes Ready=True, reconciled by the pod"
kubectl -n "$SMOKE_NS" create secret generic dw-admin --from-literal=token="$SMOKE_TOKEN"
kubectl -n "$SMOKE_NS" label secret dw-admin payloads.durable-workflow.io/consent=true  # the operator reads only these
kubectl apply -f - <<EOF
apiVersion: payloads.durable-workflow.io/v1alpha1
kind: ExternalPayloadStorage
metadata: {name: smoke, namespace: $SMOKE_NS}
spec:
  server: {url: "http://$GATEWAY:$DW_PORT", tokenSecretRef: {name: dw-admin}, namespaces: [smoke], requestTimeoutSeconds: 10}
  driver: local
  local: {path: "$PAYLOADS"}
  prefix: smoke
EOF
ready() {
  [ "$(kubectl -n "$SMOKE_NS" get eps smoke -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
if ! poll 180 "Ready=True on smoke" ready; then
  kubectl -n "$SMOKE_NS" get eps smoke -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2
  exit 1
fi
kubectl -n "$SMOKE_NS" get eps smoke -o wide

pod=$(kubectl -n "$RELEASE_NS" get pod -l app.kubernetes.io/component=operator -o jsonpath='{.items[0].metadata.name}')
uid=$(kubectl -n "$RELEASE_NS" exec "$pod" -- id -u)
[ "$uid" = 65532 ] || { log "operator runs as uid $uid, not 65532"; exit 1; }
if kubectl -n "$RELEASE_NS" exec "$pod" -- sh -c 'touch /opt/payload-operator/probe' 2>/dev/null; then
  log "the root filesystem is writable"; exit 1
fi
restarts=$(kubectl -n "$RELEASE_NS" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}')
[ "$restarts" = 0 ] || { log "operator restarted $restarts times (liveness probe?)"; exit 1; }
ready=$(kubectl -n "$RELEASE_NS" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].ready}')
[ "$ready" = true ] || { log "operator pod not ready (its readiness probe: /readyz, the Kubernetes API)"; exit 1; }
logs=$(kubectl -n "$RELEASE_NS" logs "$pod")
if grep -q "$SMOKE_TOKEN" <<<"$logs"; then log "the operator logged the token"; exit 1; fi
if grep -v '^{' <<<"$logs" | grep -q .; then log "non-JSON log lines:"; grep -v '^{' <<<"$logs" | head >&2; exit 1; fi
kubectl -n "$SMOKE_NS" delete eps smoke --wait=true --timeout=60s

log "end-to-end suite against the cluster"
"$PYTHON" -m pytest tests/e2e -q

log "passed"
