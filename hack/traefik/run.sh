#!/usr/bin/env bash
# Runs Traefik (hack/traefik/build.sh) as a host process in front of a local cluster: the Kubernetes Ingress
# provider reads Ingresses, Services (with their traefik.ingress.kubernetes.io/service.sticky.cookie*
# annotations) and EndpointSlices through $KUBECONFIG, and routes to the pod IPs. Only Ingresses of the
# IngressClass "traefik" (controller traefik.io/ingress-controller) are served.
#
# Usage: KUBECONFIG=... hack/traefik/run.sh STATE_DIR   # starts it in the background, prints its pid
# Environment: TRAEFIK_PORT (default 8080, the HTTP entry point on 127.0.0.1), TRAEFIK_ADMIN_PORT (default 8090: /ping)
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${1:?usage: run.sh STATE_DIR}"
TRAEFIK_PORT="${TRAEFIK_PORT:-8080}"
TRAEFIK_ADMIN_PORT="${TRAEFIK_ADMIN_PORT:-8090}"
: "${KUBECONFIG:?KUBECONFIG must point at the cluster}"
TRAEFIK="$("${REPO_ROOT}/hack/traefik/build.sh")"
mkdir -p "${STATE}/logs"
# Socket.IO sessions are long-lived: no read/write timeout on the entry point, an idle timeout above
# pingInterval + pingTimeout.
KUBECONFIG="${KUBECONFIG}" "${TRAEFIK}" \
  --entryPoints.web.address="127.0.0.1:${TRAEFIK_PORT}" \
  --entryPoints.web.transport.respondingTimeouts.readTimeout=0 \
  --entryPoints.web.transport.respondingTimeouts.writeTimeout=0 \
  --entryPoints.web.transport.respondingTimeouts.idleTimeout=180s \
  --entryPoints.traefik.address="127.0.0.1:${TRAEFIK_ADMIN_PORT}" \
  --ping=true \
  --providers.kubernetesingress=true \
  --providers.kubernetesingress.ingressClass=traefik \
  --providers.kubernetesingress.throttleDuration=0s \
  --log.level=INFO \
  > "${STATE}/logs/traefik.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:${TRAEFIK_ADMIN_PORT}/ping" >/dev/null 2>&1 && break
  kill -0 "${pid}" 2>/dev/null || { echo "traefik exited; see ${STATE}/logs/traefik.log" >&2; exit 1; }
  sleep 0.2
done
echo "${pid}"
