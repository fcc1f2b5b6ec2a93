# Newsroom page (services/frontend): nginx serves it and proxies /api/ to the gateway.
# Included by the main Makefile (-include mk/*.mk); every variable here can be overridden.

FRONTEND_HOST ?= 127.0.0.1
FRONTEND_PORT ?= 8080
FRONTEND_MAX_BODY ?= 100m
FRONTEND_PREFIX ?= $(CURDIR)/.run/frontend
GATEWAY_URL ?= http://127.0.0.1:8000
FRONTEND_PYTHON ?= $(CURDIR)/.venv/bin/python
FRONTEND_NGINX ?= $(or $(shell command -v nginx 2>/dev/null),/usr/sbin/nginx)

frontend_env = FRONTEND_LISTEN=$(FRONTEND_HOST):$(FRONTEND_PORT) GATEWAY_URL=$(GATEWAY_URL) \
	FRONTEND_PREFIX=$(FRONTEND_PREFIX) FRONTEND_MAX_BODY=$(FRONTEND_MAX_BODY)

.PHONY: frontend-deps frontend-config frontend-run frontend-start frontend-stop test-frontend

frontend-deps: ## install nginx, chromium, fonts (apt) and playwright (pip) where missing
	PYTHON=$(FRONTEND_PYTHON) scripts/frontend-deps.sh

frontend-config: ## render the nginx config into $(FRONTEND_PREFIX) and check it
	$(frontend_env) scripts/frontend-render.sh $(FRONTEND_PREFIX)/nginx.conf
	$(FRONTEND_NGINX) -e stderr -t -q -c $(FRONTEND_PREFIX)/nginx.conf -p $(FRONTEND_PREFIX)

frontend-run: ## serve the page in the foreground on $(FRONTEND_HOST):$(FRONTEND_PORT)
	$(frontend_env) NGINX=$(FRONTEND_NGINX) scripts/frontend-run.sh

frontend-start: ## serve the page in the background (log and pid under $(FRONTEND_PREFIX))
	@mkdir -p $(FRONTEND_PREFIX)
	@$(frontend_env) NGINX=$(FRONTEND_NGINX) nohup scripts/frontend-run.sh >$(FRONTEND_PREFIX)/nginx.log 2>&1 &
	@for i in 1 2 3 4 5 6 7 8 9 10; do [ -s $(FRONTEND_PREFIX)/nginx.pid ] && break; sleep 0.3; done
	@head -n 1 $(FRONTEND_PREFIX)/nginx.log

frontend-stop: ## stop the background nginx started by frontend-start
	@if [ -s $(FRONTEND_PREFIX)/nginx.pid ]; then kill $$(cat $(FRONTEND_PREFIX)/nginx.pid) && echo "frontend stopped"; fi

test-frontend: ## browser tests of the page (real nginx, real stack, headless Debian chromium)
	$(FRONTEND_PYTHON) -m pytest tests/e2e/test_frontend_nginx.py tests/e2e/test_frontend.py -v
