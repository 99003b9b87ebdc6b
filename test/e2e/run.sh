#!/usr/bin/env bash
# End-to-end tests (test/e2e): a local control plane from source (hack/cluster/up.sh) with process-node,
# Traefik in front, the operator as a process, and 1,000+ official socket.io-client clients through the
# ingress. Uses its own state dir, ports and address ranges, so it runs beside `make demo`. Everything it
# starts is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
export CLUSTER_DIR="$root/bin/e2e-cluster" APISERVER_PORT=26443 ETCD_PORT=22379
export POD_CIDR=10.245.0.0/24 SERVICE_CIDR=10.97.0.0/16 TRAEFIK_PORT=18080 TRAEFIK_ADMIN_PORT=18090
make --no-print-directory build build-operator
go test -count=1 ./test/process-node/
hack/traefik/build.sh >/dev/null
if [[ ! -d test/fleet/node_modules/socket.io-client ]]; then
	(cd test/fleet && npm ci --no-audit --no-fund --loglevel=error)
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

[[ -f "$CLUSTER_DIR/pids" ]] && hack/cluster/down.sh
trap 'hack/cluster/down.sh' EXIT
eval "$(hack/cluster/up.sh)"
KUBECTL="$(hack/cluster/k8s-binaries.sh)/kubectl"
echo "$(hack/traefik/run.sh "$CLUSTER_DIR") traefik" >> "$CLUSTER_DIR/pids"
"$KUBECTL" apply --server-side -f config/crd/bases/ >/dev/null
"$KUBECTL" apply -f hack/demo/ingressclass.yaml >/dev/null
# kubectl wait fails at once ("accessor error") while the new CRD has no status.conditions yet: try again.
for i in $(seq 60); do
	"$KUBECTL" wait --for condition=Established crd/realtimeclusters.realtime.socketfleet.io --timeout=60s >/dev/null 2>&1 && break
	[[ $i == 60 ]] && { echo "run.sh: CRD realtimeclusters not established" >&2; exit 1; }
	sleep 1
done
bin/socketfleet-operator --leader-elect=false --metrics-bind-address 0 --health-probe-bind-address 0 \
	--runtime-image socketfleet/runtime:dev --fleet-poll-interval 2s > "$CLUSTER_DIR/logs/operator.log" 2>&1 &
echo "$! socketfleet-operator" >> "$CLUSTER_DIR/pids"

status=0
# bin/ on the PATH: kubectl finds the kubectl-socketfleet plugin there.
PATH="$root/bin:$PATH" KUBECTL="$KUBECTL" E2E_INGRESS_URL="http://localhost:$TRAEFIK_PORT" \
	node --test --test-force-exit --test-reporter=spec --test-timeout=900000 "$here/e2e.test.mjs" || status=$?
if [[ $status -ne 0 ]]; then
	echo "e2e failed; last lines of the component logs:" >&2
	for f in "$CLUSTER_DIR"/logs/*.log; do echo "--- $f" >&2; tail -n 15 "$f" >&2; done
fi
exit $status
