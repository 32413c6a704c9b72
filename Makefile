# Two commands on a fresh machine: `make demo` runs the job on sample_data, `make test` runs the tests.
# The demo installs linkage alone; the tests add the test tools and the Spark extra (~1 GB).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.created
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test model clean

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $(VENV_STAMP)

$(DEMO_STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/pip install --quiet -e .
	touch $(DEMO_STAMP)

$(TEST_STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/pip install --quiet -e '.[test,spark]'
	touch $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/linkage run --config configs/sample.yaml
	$(BIN)/linkage crosswalk export --config configs/sample.yaml --out out/crosswalk.csv
	$(BIN)/linkage evaluate --config configs/sample.yaml --truth sample_data/truth.csv

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

# Retrain the default model on a synthetic population larger than the sample.
model: $(DEMO_STAMP)
	$(BIN)/linkage synth --people 20000 --seed 20261121 --out build/train_population
	$(BIN)/linkage train --config configs/train.yaml --out models/default.json

clean:
	rm -rf $(VENV) out build
