#!/usr/bin/env bash
# Stops everything hack/cluster/up.sh started (the process-node agent first, so it stops its pods), and
# removes the cluster state unless KEEP_STATE=1.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER_DIR="${CLUSTER_DIR:-${REPO_ROOT}/bin/cluster}"
pids="${CLUSTER_DIR}/pids"
if [[ -f "${pids}" ]]; then
  # Reverse start order: process-node (stops its pod processes), scheduler, controller-manager, apiserver, etcd.
  tac "${pids}" | while read -r pid name; do
    if kill -0 "${pid}" 2>/dev/null; then
      kill -TERM "${pid}" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "${pid}" 2>/dev/null || true
      echo "cluster-down: stopped ${name} (${pid})" >&2
    fi
  done
  rm -f "${pids}"
fi
if [[ "${KEEP_STATE:-0}" != 1 ]]; then
  rm -rf "${CLUSTER_DIR}"
fi
