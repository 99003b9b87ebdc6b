#!/usr/bin/env bash
# Starts a local Kubernetes control plane from binaries built from source, plus the process-node agent that
# runs pods as local processes (test/process-node). Everything runs on loopback; state, logs and pid files live
# in bin/cluster/ (CLUSTER_DIR). Stop it with hack/cluster/down.sh.
#
#   etcd                     127.0.0.1:${ETCD_PORT}
#   kube-apiserver           https://127.0.0.1:${APISERVER_PORT}  (TLS, client certificates, RBAC)
#   kube-controller-manager  every default controller (Deployments, ReplicaSets, EndpointSlices, GC, HPA, ...)
#   kube-scheduler
#   process-node             the node "process-node": pods run as processes on pod IPs of ${POD_CIDR},
#                            Service ClusterIPs (${SERVICE_CIDR}) proxied in process; both ranges are made
#                            local to this machine by "local" routes on lo (traffic never leaves loopback)
#
# Prints `export KUBECONFIG=...` on stdout when the node is Ready.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER_DIR="${CLUSTER_DIR:-${REPO_ROOT}/bin/cluster}"
ETCD_PORT="${ETCD_PORT:-12379}"
APISERVER_PORT="${APISERVER_PORT:-16443}"
SERVICE_CIDR="${SERVICE_CIDR:-10.96.0.0/16}"
POD_CIDR="${POD_CIDR:-10.244.0.0/24}"
GO="${GO:-go}"

log() { echo "cluster-up: $*" >&2; }

if [[ -f "${CLUSTER_DIR}/pids" ]]; then
  log "a cluster is already running from ${CLUSTER_DIR} (hack/cluster/down.sh stops it)"
  exit 1
fi
command -v openssl >/dev/null || { log "openssl is needed"; exit 1; }

ENVTEST="$("${REPO_ROOT}/hack/envtest-binaries.sh")"
K8S="$("${REPO_ROOT}/hack/cluster/k8s-binaries.sh")"
mkdir -p "${CLUSTER_DIR}/pki" "${CLUSTER_DIR}/logs"
log "building socketfleet-runtime and process-node"
(cd "${REPO_ROOT}" && CGO_ENABLED=0 "${GO}" build -o bin/socketfleet-runtime ./cmd/runtime \
  && CGO_ENABLED=0 "${GO}" build -o bin/process-node ./test/process-node)

# --- certificates (a throwaway CA; the admin client is in system:masters) ---
PKI="${CLUSTER_DIR}/pki"
if [[ ! -f "${PKI}/ca.crt" ]]; then
  log "generating certificates in ${PKI}"
  (
    cd "${PKI}"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=socketfleet-local-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    cat > apiserver.ext <<EXT
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:${SERVICE_CIDR%.0/*}.1
extendedKeyUsage=serverAuth
EXT
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    echo "extendedKeyUsage=clientAuth" > client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=socketfleet-admin" -keyout admin.key -out admin.csr 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
fi

KUBECONFIG_FILE="${CLUSTER_DIR}/kubeconfig"
cat > "${KUBECONFIG_FILE}" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority: ${PKI}/ca.crt
users:
- name: admin
  user:
    client-certificate: ${PKI}/admin.crt
    client-key: ${PKI}/admin.key
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC

: > "${CLUSTER_DIR}/pids"
# start NAME CMD...: runs a component in the background with its log, records its pid.
start() {
  local name="$1"; shift
  "$@" > "${CLUSTER_DIR}/logs/${name}.log" 2>&1 &
  echo "$! ${name}" >> "${CLUSTER_DIR}/pids"
}

log "starting etcd, kube-apiserver"
start etcd "${ENVTEST}/etcd" --data-dir "${CLUSTER_DIR}/etcd" --name local \
  --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "local=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync
start kube-apiserver "${ENVTEST}/kube-apiserver" --etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "${APISERVER_PORT}" \
  --tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" --client-ca-file "${PKI}/ca.crt" \
  --service-account-key-file "${PKI}/sa.pub" --service-account-signing-key-file "${PKI}/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range "${SERVICE_CIDR}" --authorization-mode RBAC --allow-privileged=true \
  --endpoint-reconciler-type none

KUBECTL=("${K8S}/kubectl" --kubeconfig "${KUBECONFIG_FILE}")
for _ in $(seq 1 120); do
  "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
"${KUBECTL[@]}" get --raw /readyz >/dev/null || { log "kube-apiserver did not become ready; see ${CLUSTER_DIR}/logs"; exit 1; }

log "starting kube-controller-manager, kube-scheduler, process-node"
start kube-controller-manager "${K8S}/kube-controller-manager" --kubeconfig "${KUBECONFIG_FILE}" \
  --authentication-kubeconfig "${KUBECONFIG_FILE}" --authorization-kubeconfig "${KUBECONFIG_FILE}" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --controllers '*' \
  --service-account-private-key-file "${PKI}/sa.key" --root-ca-file "${PKI}/ca.crt" \
  --use-service-account-credentials=false --horizontal-pod-autoscaler-sync-period 5s \
  --node-monitor-grace-period 40s
start kube-scheduler "${K8S}/kube-scheduler" --kubeconfig "${KUBECONFIG_FILE}" \
  --authentication-kubeconfig "${KUBECONFIG_FILE}" --authorization-kubeconfig "${KUBECONFIG_FILE}" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false
start process-node "${REPO_ROOT}/bin/process-node" --kubeconfig "${KUBECONFIG_FILE}" \
  --pod-cidr "${POD_CIDR}" --service-cidr "${SERVICE_CIDR}" --state-dir "${CLUSTER_DIR}/pods" \
  --image "socketfleet/runtime=${REPO_ROOT}/bin/socketfleet-runtime" \
  --image "ghcr.io/socketfleet/socketfleet-runtime=${REPO_ROOT}/bin/socketfleet-runtime" \
  --image "redis=$(command -v redis-server)"

for _ in $(seq 1 120); do
  [[ "$("${KUBECTL[@]}" get node process-node -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == "True" ]] && break
  sleep 0.5
done
"${KUBECTL[@]}" wait --for=condition=Ready node/process-node --timeout=5s >/dev/null
log "control plane up; node process-node Ready; logs in ${CLUSTER_DIR}/logs"
echo "export KUBECONFIG=${KUBECONFIG_FILE}"
