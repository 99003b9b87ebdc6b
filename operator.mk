# Operator targets (included from the Makefile). Tools and envtest binaries are built from source into bin/.

CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN           := $(BIN)/tools/controller-gen-$(CONTROLLER_TOOLS_VERSION)/controller-gen
OPERATOR                 := $(BIN)/socketfleet-operator
CHART_CRDS               := charts/socketfleet/crds

$(CONTROLLER_GEN):
	GOBIN=$(dir $(CONTROLLER_GEN)) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

##@ Operator

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of api/ (controller-gen).
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests into config/ and copy the CRD, the operator's role and the monitoring rules and dashboard into the chart.
	$(CONTROLLER_GEN) crd rbac:roleName=socketfleet-operator paths=./api/... paths=./controllers/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	mkdir -p $(CHART_CRDS)
	cp config/crd/bases/*.yaml $(CHART_CRDS)/
	cp config/rbac/role.yaml charts/socketfleet/files/operator-role.yaml
	mkdir -p charts/socketfleet/files/monitoring
	cp config/monitoring/prometheusrule.yaml config/monitoring/dashboards/socketfleet-fleet.json charts/socketfleet/files/monitoring/

.PHONY: build-operator
build-operator: ## Build bin/socketfleet-operator.
	CGO_ENABLED=0 $(GO) build -o $(OPERATOR) ./cmd/operator

.PHONY: envtest-binaries
envtest-binaries: ## Build kube-apiserver and etcd from source into bin/envtest (cached by version).
	hack/envtest-binaries.sh >/dev/null

.PHONY: test-envtest
test-envtest: ## Operator tests against a real kube-apiserver + etcd (binaries built from source), chart rendering, golden files.
	$(GO) test -count=1 ./controllers/... ./api/...
	KUBEBUILDER_ASSETS="$$(hack/envtest-binaries.sh)" $(GO) test -count=1 ./test/envtest/...
	cd test/chart && KUBEBUILDER_ASSETS="$$(../../hack/envtest-binaries.sh)" $(GO) test -count=1 ./...

.PHONY: update-golden
update-golden: ## Rewrite the builder golden files under controllers/specs/testdata from the current builders.
	$(GO) test ./controllers/specs -run Golden -update
