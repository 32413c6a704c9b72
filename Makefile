# Two commands on a fresh machine: `make demo` runs the job on sample_data, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test model clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/linkage run --config configs/sample.yaml
	$(BIN)/linkage crosswalk export --config configs/sample.yaml --out out/crosswalk.csv
	$(BIN)/linkage evaluate --config configs/sample.yaml --truth sample_data/truth.csv

test: $(STAMP)
	$(BIN)/python -m pytest

# Retrain the default model on a synthetic population larger than the sample.
model: $(STAMP)
	$(BIN)/linkage synth --people 20000 --seed 20261121 --out build/train_population
	$(BIN)/linkage train --config configs/train.yaml --out models/default.json

clean:
	rm -rf $(VENV) out build
