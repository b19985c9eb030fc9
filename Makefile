# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# checkov pins its own versions of boto3 and friends, so it lives in a venv of its own
CHECKOV_VENV ?= .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export SAM_CLI_TELEMETRY ?= 0

.PHONY: venv test lint demo bench bench-quick bench-report build validate deploy-local clean

venv: $(STAMP)

$(STAMP): pyproject.toml layers/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2,<4'

test: $(STAMP) $(CHECKOV)
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests

lint: $(STAMP) $(CHECKOV)
	$(BIN)/ruff check layers functions tests bench
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml
	$(CHECKOV) --skip-download --quiet --compact --framework cloudformation -f template.yaml

# sam build needs a python3.12 for the layer (BuildMethod python3.12); pyenv's is used when present.
PYTHON312_DIR ?= $(wildcard /root/.pyenv/versions/3.12*/bin)
build: $(STAMP)
	PATH="$(firstword $(PYTHON312_DIR)):$$PATH" $(BIN)/sam build --template template.yaml

validate: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml

# the same template, translated and created on a local emulator, with the local Lambda runtime
deploy-local: $(STAMP)
	$(BIN)/meshplane local up

demo: $(STAMP)
	$(BIN)/meshplane demo $(DEMO_ARGS)

# each run is recorded in bench/results/; bench/RESULTS.md and bench/plots/ are then rebuilt from the recorded runs
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/report.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick
	$(BIN)/python bench/report.py

bench-report: $(STAMP)
	$(BIN)/python bench/report.py

clean:
	rm -rf .aws-sam .pytest_cache
