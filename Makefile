# tradeops — every target installs what it needs (Debian packages, .venv, the host image).
#   make demo   provision a local sandbox host over SSH and print where to look
#   make test   lint + unit tests + every Molecule scenario (what CI runs)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT        := $(CURDIR)
VENV        := $(ROOT)/.venv
BIN         := $(VENV)/bin
CACHE       := $(ROOT)/.cache
HOSTS       ?= 1
PORT_BASE   ?= 2200
SCENARIOS   ?= $(sort $(filter-out _shared default,$(notdir $(wildcard molecule/*))))
SANDBOX_INV := inventories/sandbox/hosts.yml
MOLECULE_JOBS ?= 2
BENCH_ARGS ?=
APT_PACKAGES := podman runc debootstrap uidmap nftables openssh-client git curl testssl.sh

# Podman runs with the project's containers.conf (runc, modest ulimits); /etc is untouched.
export CONTAINERS_CONF := $(ROOT)/test-infra/containers.conf
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PY_COLORS := 0

.PHONY: help deps venv image sandbox sandbox-down demo site lint unit molecule test bench-site bench-deploy audit clean

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

deps: $(CACHE)/deps.stamp ## Install Debian packages (podman, runc, debootstrap, ...)
$(CACHE)/deps.stamp: Makefile
	@mkdir -p $(CACHE)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "[deps] installing Debian packages:" $$missing; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	  echo "[deps] done"; \
	else echo "[deps] Debian packages present"; fi
	@touch $@

venv: $(VENV)/.stamp ## Create .venv with the pinned toolchain (requirements-dev.txt)
$(VENV)/.stamp: requirements-dev.txt
	@echo "[venv] installing the pinned toolchain into .venv (first time: about a minute)"
	@python3 -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

image: deps ## Build the sandbox host image from Debian packages (cached)
	@python3 scripts/sandbox.py image >/dev/null

sandbox: deps venv ## Start HOSTS sandbox hosts (default 1) and write inventories/sandbox/hosts.yml
	@python3 scripts/sandbox.py up --prefix tradeops-sandbox --hosts $(HOSTS) --port-base $(PORT_BASE) --inventory $(SANDBOX_INV)
	@python3 scripts/demo_repo.py .sandbox/demo-repo

sandbox-down: ## Remove the sandbox hosts
	@python3 scripts/sandbox.py down --prefix tradeops-sandbox

# MITOGEN=1: run site.yml and the demo with Mitogen's strategy (opt-in, see scripts/mitogen.sh).
WITH_MITOGEN := $(if $(filter 1,$(MITOGEN)),. scripts/mitogen.sh &&,)
site: venv ## Run site.yml against the sandbox (MITOGEN=1: with Mitogen)
	@$(WITH_MITOGEN) $(BIN)/ansible-playbook -i $(SANDBOX_INV) site.yml

# One-line JSON results, so the demo can show each deploy's outcome.
DEMO_PLAY := ANSIBLE_CALLBACK_RESULT_FORMAT=json $(BIN)/ansible-playbook -i $(SANDBOX_INV)
demo: sandbox ## Provision a sandbox host, deploy the sample service, back it up and restore it, print where to look
	@echo "[demo] 1/7 site.yml, first run (connects as root on the fresh host)"
	@$(WITH_MITOGEN) $(BIN)/ansible-playbook -i $(SANDBOX_INV) site.yml
	@echo "[demo] 2/7 site.yml, second run (as the deploy user; expect changed=0)"
	@$(WITH_MITOGEN) $(BIN)/ansible-playbook -i $(SANDBOX_INV) site.yml | grep -A3 'PLAY RECAP'
	@echo "[demo] 3/7 deploy.yml -e ref=a (the demo repo .sandbox/demo-repo: a, b on main; c fails health)"
	@$(DEMO_PLAY) deploy.yml -e ref=a | grep -o '"msg": "[^"]*' | sed 's/"msg": "/  /'
	@echo "[demo] 4/7 deploy.yml -e ref=b (blue/green: b starts beside a, passes the health gate, takes the traffic)"
	@$(DEMO_PLAY) deploy.yml -e ref=b | grep -o '"msg": "[^"]*' | sed 's/"msg": "/  /'
	@echo "[demo] 5/7 deploy.yml -e ref=c (its /api/health answers 503: the gate refuses it, traffic stays on b; a failure is expected here)"
	@$(DEMO_PLAY) deploy.yml -e ref=c -e release_health_timeout=5 \
	  | grep -o 'health gate failed[^"]*' | head -1 | sed 's/^/  refused: /' || true
	@echo "[demo] 6/7 rollback.yml (back to the release live before b: a)"
	@$(DEMO_PLAY) rollback.yml | grep -o '"msg": "[^"]*' | sed 's/"msg": "/  /'
	@echo "[demo] 7/7 a backup (tradeops-backup run), then a restore drill from it (restore.yml -e backup=latest); the list of backups is in the summary"
	@$(BIN)/ansible -i $(SANDBOX_INV) web -b -m ansible.builtin.command -a "tradeops-backup run trader --reason demo" 2>/dev/null \
	  | grep -o 'trader-[0-9TZ]*-demo.tar.gz' | head -1 | sed 's/^/  backed up: /'
	@$(DEMO_PLAY) restore.yml -e backup=latest | grep -o '"msg": "[^"]*restored from[^"]*' | sed 's/"msg": "/  /'
	@python3 scripts/demo_summary.py $(SANDBOX_INV)

lint: venv ## yamllint, ruff (pyflakes rules), ansible-lint (production profile), syntax check of every playbook
	@echo "[lint] yamllint"; $(BIN)/yamllint -s .
	@echo "[lint] ruff (pyflakes rules)"; $(BIN)/ruff check -q --no-cache --select F --output-format concise \
	  $$(git ls-files '*.py') $$(grep -l '^#!.*python' roles/*/files/*)
	@echo "[lint] ansible-lint (production profile)"; $(BIN)/ansible-lint --profile production -q
	@echo "[lint] syntax check"; for p in site.yml deploy.yml rollback.yml playbooks/*.yml; do \
	  [ -f $$p ] || continue; $(BIN)/ansible-playbook -i localhost, --syntax-check $$p >/dev/null || exit 1; done; echo "[lint] ok"

unit: venv ## Unit tests (controller side, no hosts)
	@rc=0; $(BIN)/pytest -q -p no:cacheprovider tests/unit || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "[unit] no unit tests collected"; rc=0; fi; exit $$rc

molecule: deps venv image ## Every Molecule scenario, two at a time (SCENARIOS="a b" for some; MOLECULE_JOBS=1 for one at a time with full output)
	@python3 scripts/molecule_lanes.py --jobs $(MOLECULE_JOBS) $(SCENARIOS)

test: venv ## lint + unit + Molecule (CI runs exactly this)
	@echo "[test] lint and the unit tests side by side (each one's output shows when it ends), then Molecule"
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint unit
	@$(MAKE) --no-print-directory molecule

bench-site: deps venv image ## Time a first converge and idempotent re-runs of site.yml (also with Mitogen)
	@python3 bench/site.py

bench-deploy: deps venv image ## Deploy + rollback, quiet and under HTTP load, on a fresh host (BENCH_ARGS="--help")
	@python3 bench/deploy.py $(BENCH_ARGS)

audit: deps venv image ## Lynis before/after site.yml, gixy, testssl.sh, unit exposure (one fresh host, 8-15 min)
	@python3 bench/audit.py

clean: sandbox-down ## Remove hosts, venv and caches (the image stays in podman)
	rm -rf $(VENV) $(CACHE) .sandbox
