# Two virtual environments: .venv (train + export + tests) and .venv-serve (the web app alone, no torch).
PYTHON ?= python3
VENV := .venv
SERVE_VENV := .venv-serve
MODEL ?= cvae
DATA_DIR ?= $(if $(wildcard ../shared/mnist/train-images-idx3-ubyte*),../shared/mnist,data)
TRAIN_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
HEAVY_WORKERS ?= 2

.PHONY: train export critic judge evaluate bench serve serve-prod lint test test-fast tables system-packages clean-venvs

$(VENV)/.installed: requirements-train.txt requirements-serve.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

$(SERVE_VENV)/.installed: requirements-serve.txt
	$(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install -q --upgrade pip
	$(SERVE_VENV)/bin/pip install -q -r requirements-serve.txt
	touch $@

train: $(VENV)/.installed
	$(VENV)/bin/python -m training --model $(MODEL) --data-dir $(DATA_DIR) $(TRAIN_ARGS)

export: $(VENV)/.installed
	$(VENV)/bin/python -m export --model $(MODEL)

# The critic the sampler chooses with (MODEL=cgan|cvae): trained against the committed generator, then exported beside it.
critic: $(VENV)/.installed
	$(VENV)/bin/python -m training.critic --model $(MODEL) --data-dir $(DATA_DIR)
	$(VENV)/bin/python -m export --model critic --checkpoint runs/$(MODEL)_critic/checkpoint.pt

judge: $(VENV)/.installed
	$(VENV)/bin/python -m training.train_judge --data-dir $(DATA_DIR)
	$(VENV)/bin/python -m export --model judge

# Evaluation runs in the serve venv on purpose: it needs onnxruntime and numpy, not torch.
evaluate: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/python -m evaluate --data-dir $(DATA_DIR)

# Synthetic MNIST in the serve venv (onnxruntime, no torch): make dataset DATASET_ARGS="--format png --out DIR".
DATASET_ARGS ?=
CAS_ARGS ?=
.PHONY: dataset cas

dataset: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/python -m generate --model $(MODEL) $(DATASET_ARGS)

# Classification Accuracy Score: 60,000 generated digits train the judge's recipe; merges artifacts/cas.json.
cas: $(VENV)/.installed
	$(VENV)/bin/python -m training.cas --model $(MODEL) --data-dir $(DATA_DIR) $(CAS_ARGS)

# Needs wrk and nginx (installed here); the torch baseline runs the committed ONNX file's weights, so no training run.
bench: $(VENV)/.installed $(SERVE_VENV)/.installed
	bash tools/system-packages.sh nginx wrk
	$(VENV)/bin/python -m bench --model $(MODEL)

serve: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/flask --app webapp run --host $(HOST) --port $(PORT)

# nginx (Debian's: make system-packages) in front of two gunicorn pools on private unix sockets; Ctrl-C stops all.
serve-prod: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/python -m deploy.serve --host $(HOST) --port $(PORT) --workers $(WORKERS) \
		--heavy-workers $(HEAVY_WORKERS)

# Chromium and nginx from Debian: installed when missing (root or passwordless sudo), else one line saying how.
system-packages:
	bash tools/system-packages.sh

# Every table of measured numbers in README.md and docs/ from the committed records (tests/test_tables.py checks them).
tables: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/python -m tools.tables

# ruff, configured in pyproject.toml: make test runs it first.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: lint system-packages $(VENV)/.installed $(SERVE_VENV)/.installed
	$(VENV)/bin/python -m pytest -q

# The edit loop: everything but real MNIST, training, Chromium, nginx and the slow server tests (markers in pyproject.toml).
FAST := not (mnist or training or browser or nginx or slow)
test-fast: $(VENV)/.installed $(SERVE_VENV)/.installed
	$(VENV)/bin/python -m pytest -q -m "$(FAST)"

clean-venvs:
	rm -rf $(VENV) $(SERVE_VENV)
