# kopnet developer entry points.  Infrastructure logic lives in deploy/localinfra.py:
# `localinfra.py exec -- CMD` brings up RabbitMQ + FerretDB (reusing any already
# answering, skipping either when AMQP_URI / MONGODB_URI is set), runs CMD with those
# URIs exported, then stops only what it started and exits with CMD's status.

PYTHON ?= python3.11
VENV   := .venv
INFRA  := python3 deploy/localinfra.py
AMQP_DEFAULT  := amqp://guest:guest@127.0.0.1:5672/
MONGO_DEFAULT := mongodb://127.0.0.1:27017/

.PHONY: venv up down status test check lint bench bench-store run ops-tools

venv: $(VENV)/.stamp

$(VENV)/.stamp: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "[venv] $(PYTHON) not found; install Python 3.11 or pass PYTHON=..."; exit 1; }
	@test -x $(VENV)/bin/python || { echo "[venv] creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "[venv] installing kopnet[dev] (editable) into $(VENV)"
	$(VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -e '.[dev]'
	@touch $@
	@echo "[venv] ready"

up:
	$(INFRA) up

down:
	$(INFRA) down

status:
	$(INFRA) status

# ruff and mypy both run; fails if either does.
lint: venv
	@rc=0; \
	echo "[lint] ruff check shared services"; $(VENV)/bin/ruff check shared services || rc=$$?; \
	echo "[lint] mypy (shared services)"; $(VENV)/bin/mypy || rc=$$?; \
	exit $$rc

# Tools from outside PyPI: Debian's prometheus (prometheus + promtool) for tests/ops, and Debian's
# chromium for the dashboard's browser tests (playwright drives it; it never downloads a browser).
ops-tools:
	@$(INFRA) tools

# lint + tests against whatever AMQP_URI / MONGODB_URI point at; runs both, fails if either does.
check: venv ops-tools
	@rc=0; \
	$(MAKE) --no-print-directory lint || rc=$$?; \
	AMQP_URI=$${AMQP_URI:-$(AMQP_DEFAULT)} MONGODB_URI=$${MONGODB_URI:-$(MONGO_DEFAULT)} \
		$(VENV)/bin/pytest -q tests --ignore=tests/faults || rc=$$?; \
	exit $$rc

test: venv
	$(INFRA) exec -- $(MAKE) --no-print-directory check

bench: venv $(VENV)/.bench-stamp
	$(INFRA) exec -- $(VENV)/bin/python -m bench

# FerretDB on SQLite vs on PostgreSQL, side by side (bench/store_bench.py; docs/performance.md).
# Not part of `make bench`: it takes ~80 s, and it starts both stores itself (PostgreSQL from
# Debian's postgresql package, apt-installed if missing), so it needs no AMQP_URI/MONGODB_URI.
bench-store: venv
	$(VENV)/bin/python -m bench.store_bench

# locust (the `bench` extra) for the sustained-load figure of bench/sustained_bench.py
$(VENV)/.bench-stamp: pyproject.toml
	$(VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -e '.[dev,bench]'
	@touch $@

# `make run OBSERVE=1` also starts Prometheus (http://127.0.0.1:9090) with deploy/prometheus/.
run: venv
	$(INFRA) exec $(if $(OBSERVE),--observe) -- $(VENV)/bin/kopnet run-all

# Fault injection (tests/faults): kills services, RabbitMQ and the store under a steady stream of
# commands. It runs on a RabbitMQ and store of its own (own data dir, ports and epmd), so that
# restarting them disturbs no other test run or `make up` on this machine.
FAULTS_INFRA := --data .run/faults --amqp-port 5682 --mgmt-port 15682 --rabbit-metrics-port 15702 \
	--store-port 27027
FAULTS_EPMD  := 4379
.PHONY: test-faults
test-faults: venv
	@rc=0; env -u AMQP_URI -u MONGODB_URI ERL_EPMD_PORT=$(FAULTS_EPMD) RABBITMQ_MGMT_PORT=15682 \
		KOPNET_FAULTS_INFRA="$(FAULTS_INFRA)" $(INFRA) $(FAULTS_INFRA) exec -- \
		$(VENV)/bin/pytest -q -s -p no:cacheprovider tests/faults || rc=$$?; \
	epmd -port $(FAULTS_EPMD) -kill >/dev/null 2>&1 || true; \
	exit $$rc
