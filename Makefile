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

.PHONY: venv test lint demo bench bench-quick bench-report build validate deploy-local clean images images-test console

venv: $(STAMP)

$(STAMP): pyproject.toml layers/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' --constraint layers/requirements.txt
	touch $(STAMP)

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2,<4'

# sovereign, the peer control plane the benchmarks compare against, in a venv of its own: made here so the bench
# smoke test does not wait on pip (bench/peer_sovereign.py makes it, and remakes it when bench/requirements.txt changes)
BENCH_STAMP := .venv-bench/.bench-installed
$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(BIN)/python bench/peer_sovereign.py
	touch $@

# tests/console drive Debian's Chromium with Playwright (no browser download); apt-get installs it when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "no apt-get here: tests/console skip without $(CHROMIUM)"; exit 0; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

# The console's page, committed in layers/meshplane/console/static/, rebuilt from web/ (TypeScript, esbuild) with npm.
CONSOLE_WEB := layers/meshplane/console/web
console:
	cd $(CONSOLE_WEB) && npm ci && npm run typecheck && npm run build

test: $(STAMP) $(CHECKOV) $(CHROMIUM) $(BENCH_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=25 tests

lint: $(STAMP) $(CHECKOV)
	$(BIN)/ruff check layers functions tests bench
	$(BIN)/mypy  # strict types over layers/meshplane and functions: [tool.mypy] in pyproject.toml
	$(BIN)/lint-imports --no-cache  # the product boundaries: [tool.importlinter] in pyproject.toml
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml
	$(CHECKOV) --skip-download --quiet --compact --framework cloudformation -f template.yaml
	$(BIN)/hadolint envoy_bootstrap/image/Dockerfile

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

# The ADS and sidecar images (envoy_bootstrap/image/Dockerfile) with podman or docker, whichever is installed.
# IMAGE_REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com/ names them for a push; IMAGE_PLATFORM=linux/arm64
# builds for Graviton (the stack's ADS runs ARM64); README "Container images" shows the buildx push to ECR.
CONTAINER ?= $(notdir $(firstword $(shell command -v podman docker 2>/dev/null)))
IMAGE_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_REGISTRY ?=
IMAGE_BASE ?= docker.io/library/debian:bookworm-slim
IMAGE_PLATFORM ?=
IMAGE_BUILD_FLAGS ?=
# podman: Docker's image format keeps HEALTHCHECK (OCI drops it), and the Dockerfile's own ignore file
IMAGE_TOOL_FLAGS = $(if $(filter podman,$(CONTAINER)),--format docker --ignorefile envoy_bootstrap/image/Dockerfile.dockerignore)
images:
	@test -n "$(CONTAINER)" || { echo "make images needs podman or docker on PATH" >&2; exit 1; }
	for pair in ads:meshplane-ads sidecar:meshplane-envoy; do \
		$(CONTAINER) build $(IMAGE_TOOL_FLAGS) $(if $(IMAGE_PLATFORM),--platform $(IMAGE_PLATFORM)) $(IMAGE_BUILD_FLAGS) \
			--build-arg BASE_IMAGE=$(IMAGE_BASE) --target $${pair%%:*} -f envoy_bootstrap/image/Dockerfile \
			-t $(IMAGE_REGISTRY)$${pair#*:}:$(IMAGE_VERSION) . || exit 1; \
	done

# Builds both images from a Debian root filesystem made here (mmdebstrap, no registry) and runs them: minutes,
# needs podman, mmdebstrap and the Debian and PyPI mirrors, so it is not part of `make test`.
images-test: $(STAMP)
	$(BIN)/python -m pytest -n 0 tests/images/container_images.py

clean:
	rm -rf .aws-sam .pytest_cache
