# Container images (issue 13). The main Makefile includes this file: `-include mk/*.mk`.
#   make images         every CPU image from the repo's Dockerfiles, podman or docker (whichever runs here),
#                       tagged IMAGE_TAG (the git SHA); sizes and build times in build/images/report.tsv
#   make images-test    images, then the whole stack FROM them (compose.yaml on a user network) and the
#                       smoke suite tests/images against it; part of `make test` (scripts/test.sh)
#   make images-gpu     the CUDA trainer image (needs the upstream CUDA base: CI only)
#   make images-push    push what the targets above built
# IMAGE_BASE=local builds on a Debian bookworm base made here with debootstrap (no registry needed);
# IMAGE_BASE=upstream on the pinned upstream images of the Dockerfiles (CI).

IMAGES_ROOT    := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
IMAGE_REGISTRY ?=
IMAGE_TAG      ?= $(shell git -C $(IMAGES_ROOT) rev-parse --short=12 HEAD 2>/dev/null || echo dev)
IMAGE_PREFIX   := $(if $(IMAGE_REGISTRY),$(IMAGE_REGISTRY)/,localhost/)
IMAGE_ENGINE   ?= auto
IMAGE_BASE     ?= local
IMAGES_PYTEST  ?= $(IMAGES_ROOT)/.venv/bin/pytest
images_env = IMAGE_ENGINE=$(IMAGE_ENGINE) IMAGE_BASE=$(IMAGE_BASE) IMAGE_PREFIX=$(IMAGE_PREFIX) IMAGE_TAG=$(IMAGE_TAG)

.PHONY: images images-test images-gpu images-push images-tools images-base

images-tools: ## install podman, buildah, runc, debootstrap, podman-compose (apt) and the engine settings
	bash $(IMAGES_ROOT)/scripts/images-tools.sh

images-base: ## the local Debian bookworm base image (debootstrap once, then loaded from build/images)
	bash $(IMAGES_ROOT)/scripts/images-base.sh $$(bash $(IMAGES_ROOT)/scripts/images-engine.sh $(IMAGE_ENGINE))

images: ## build every CPU image (gateway, inference, frontend, trainer-cpu, redis) tagged IMAGE_TAG
	$(images_env) bash $(IMAGES_ROOT)/scripts/images-build.sh

# the suite builds the images itself (scripts/images-build.sh, layer-cached), as `make test` runs it too
images-test: ## build the images, run the stack from them (compose.yaml) and the smoke suite tests/images
	cd $(IMAGES_ROOT) && $(images_env) $(IMAGES_PYTEST) -p no:cacheprovider tests/images -m images $(PYTEST_ARGS)
	@echo "sizes (bytes) and build seconds:"; cat $(IMAGES_ROOT)/build/images/report.tsv
	@echo "figures:"; cat $(IMAGES_ROOT)/build/images/smoke.json

images-gpu: ## the CUDA trainer image agnews-trainer:IMAGE_TAG (upstream CUDA base: CI)
	cd $(IMAGES_ROOT) && $$(bash scripts/images-engine.sh $(IMAGE_ENGINE)) build \
	  -f services/trainer/Dockerfile --target gpu -t $(IMAGE_PREFIX)agnews-trainer:$(IMAGE_TAG) .

images-push: ## push the images built by `make images images-gpu` (not the local Redis)
	engine=$$(bash $(IMAGES_ROOT)/scripts/images-engine.sh $(IMAGE_ENGINE)) && \
	for i in agnews-gateway:$(IMAGE_TAG) agnews-inference:$(IMAGE_TAG) agnews-frontend:$(IMAGE_TAG) \
	         agnews-trainer:$(IMAGE_TAG) agnews-trainer:$(IMAGE_TAG)-cpu; do \
	  $$engine push $(IMAGE_PREFIX)$$i || exit 1; done
