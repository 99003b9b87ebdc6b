# Local control plane targets (included from the Makefile): a real kube-apiserver, etcd,
# kube-controller-manager and kube-scheduler built from source, and test/process-node running pods as
# local processes. State and logs live in bin/cluster/.

##@ Local cluster

KUBECTL := $(BIN)/k8s-v1.37.2/kubectl

.PHONY: cluster-up
cluster-up: ## Start a local control plane + process-node (builds what is missing; prints `export KUBECONFIG=...`).
	hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local control plane and every pod process; remove its state.
	hack/cluster/down.sh

.PHONY: demo
demo: ## The whole mission on one machine: local control plane, Traefik, the operator and a chat fleet on http://localhost:8080/.
	hack/demo/up.sh

.PHONY: demo-down
demo-down: ## Stop everything `make demo` started.
	hack/cluster/down.sh

.PHONY: test-e2e
test-e2e: ## End-to-end on a local control plane + Traefik: apply, scale down with 1,000 clients, rolling upgrade, autoscale + rebalance, delete.
	test/e2e/run.sh
