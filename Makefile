# Two commands set everything up on a fresh machine:
#   make run    installs into .venv, builds the demo corpus and demo model if missing, starts the app
#   make test   installs the test tools (and Debian's chromium for browser tests), runs the tests
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
	$(BIN)/streamlit run app/main.py --server.port $(PORT)

# Browser tests drive Debian's chromium; install it when it is missing (root, as on CI).
system-test-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

test: $(VENV)/.installed-dev system-test-deps
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

clean-demo:
	rm -rf data/demo models/demo
