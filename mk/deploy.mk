# Deploy targets (issue 5). The main Makefile includes this file: `-include mk/*.mk`.
# Tools live in .tools/ (gitignored) and install on first use (scripts/deploy-tools.sh).

DEPLOY_ROOT  := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
TOOLS_BIN    := $(DEPLOY_ROOT)/.tools/bin
DEPLOY_VENV  ?= $(DEPLOY_ROOT)/.venv
DEPLOY_PY    ?= $(DEPLOY_VENV)/bin/python
HELM         := $(TOOLS_BIN)/helm
KUBECTL      := $(TOOLS_BIN)/kubectl
CHART        := $(DEPLOY_ROOT)/helm/agnews
HELM_ENV     := HELM_CACHE_HOME=$(DEPLOY_ROOT)/.tools/helm/cache HELM_CONFIG_HOME=$(DEPLOY_ROOT)/.tools/helm/config HELM_DATA_HOME=$(DEPLOY_ROOT)/.tools/helm/data
# images (IMAGE_REGISTRY, IMAGE_TAG, `make images`, `make images-push`): mk/images.mk
RELEASE        ?= agnews
NAMESPACE      ?= agnews
VALUES         ?= $(CHART)/values-eks.yaml
HELM_EXTRA_ARGS ?=

.PHONY: deploy-lint deploy-tools deploy-check deploy-test helm-lint helm-template k8s-render render-manifests dashboards \
        helm-deploy deploy-apiserver deploy-install

$(HELM) $(KUBECTL):
	bash $(DEPLOY_ROOT)/scripts/deploy-tools.sh

deploy-tools: ## install helm, kubectl, promtool, hadolint, kubernetes-validate, check-jsonschema into .tools/
	bash $(DEPLOY_ROOT)/scripts/deploy-tools.sh

deploy-install: ## install the agnews-deploy command into the venv
	$(DEPLOY_VENV)/bin/pip install -q -c $(DEPLOY_ROOT)/constraints.txt -e $(DEPLOY_ROOT)/services/deploy

helm-lint: $(HELM) ## helm lint --strict with the default, EKS and k3s values
	cd $(DEPLOY_ROOT) && for v in "" "-f $(CHART)/values-eks.yaml" "-f $(CHART)/values-k3s.yaml"; do \
	  $(HELM_ENV) $(HELM) lint --strict $(CHART) $$v || exit 1; done

helm-template: $(HELM) ## print the chart rendered with VALUES
	@$(HELM_ENV) $(HELM) template $(RELEASE) $(CHART) -n $(NAMESPACE) -f $(VALUES) --api-versions monitoring.coreos.com/v1

render-manifests k8s-render: $(HELM) ## regenerate k8s/rendered/*.yaml from the chart (checked by tests/deploy)
	$(DEPLOY_PY) $(DEPLOY_ROOT)/scripts/deploy-render.py

dashboards: ## regenerate the Grafana dashboards JSON from scripts/deploy-dashboards.py
	$(DEPLOY_PY) $(DEPLOY_ROOT)/scripts/deploy-dashboards.py

# Static checks only (no API server, no running services): chart, manifests, dashboards, rules, Dockerfiles, CircleCI.
deploy-lint: ## ruff + mypy of agnews_deploy and the deploy tests/scripts
	cd $(DEPLOY_ROOT) && $(DEPLOY_VENV)/bin/ruff check services/deploy tests/deploy scripts/deploy-dashboards.py scripts/deploy-render.py
	cd $(DEPLOY_ROOT) && $(DEPLOY_VENV)/bin/ruff format --check services/deploy tests/deploy scripts/deploy-dashboards.py scripts/deploy-render.py
	cd $(DEPLOY_ROOT) && $(DEPLOY_VENV)/bin/mypy services/deploy/src

deploy-check: deploy-tools deploy-lint helm-lint ## all static deploy checks (installs the tools on first use)
	cd $(DEPLOY_ROOT) && $(DEPLOY_PY) -m pytest -q -p no:cacheprovider tests/deploy -m "not apiserver and not live"

deploy-test: deploy-tools ## every deploy test, including agnews-deploy against a real kube-apiserver
	cd $(DEPLOY_ROOT) && $(DEPLOY_PY) -m pytest -q -p no:cacheprovider tests/deploy

deploy-apiserver: ## build (once, cached in /var/cache/agnews-k8s) the kube-apiserver used by the tests
	bash $(DEPLOY_ROOT)/scripts/deploy-build-apiserver.sh

helm-deploy: $(HELM) ## helm upgrade --install --atomic RELEASE into NAMESPACE with VALUES and IMAGE_TAG
	$(HELM_ENV) $(HELM) upgrade --install $(RELEASE) $(CHART) -n $(NAMESPACE) --create-namespace \
	  -f $(VALUES) --set image.tag=$(IMAGE_TAG) $(if $(IMAGE_REGISTRY),--set image.registry=$(IMAGE_REGISTRY)) \
	  $(HELM_EXTRA_ARGS) --atomic --timeout 15m --wait
