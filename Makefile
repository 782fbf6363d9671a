# Two commands set everything up on a fresh machine:
#   make run    installs into .venv, builds the demo corpus and demo model if missing, starts the app
#   make test   installs the test tools (and Debian's chromium and postgresql for the browser and
#               storage tests), runs the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501

.PHONY: run test install install-dev system-test-deps demo-data demo-model bench lint clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

data/demo/train.jsonl: | $(VENV)/.installed
	$(BIN)/python -m plant_core synth --config demo --out data/demo

models/demo/config.json: | data/demo/train.jsonl
	@echo "Training the demo model (PLANT, CPU-sized; a few minutes)..."
	$(BIN)/python -m plant_core train --system plant --data data/demo --out models/demo --config demo

demo-data: data/demo/train.jsonl
demo-model: models/demo/config.json

run: $(VENV)/.installed models/demo/config.json
	$(BIN)/python -m app.admin ensure-admin
	$(BIN)/python -m app.serve --port $(PORT)  # the app and its retraining worker, stopped together

# Browser tests drive Debian's chromium; the storage tests start a throw-away PostgreSQL cluster from
# Debian's postgresql (tests/app/postgres_cluster.py). Each is installed when missing (root, as on CI).
system-test-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then \
		echo "Installing Debian's postgresql for the storage tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

test: $(VENV)/.installed-dev system-test-deps
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

clean-demo:
	rm -rf data/demo models/demo
