# Trunkline — two commands on a fresh machine: `make demo` and `make test`.
# The venv is created and filled here; nothing needs to be installed by hand.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed-dev

.PHONY: venv demo test verify-fast verify-pr verify-nightly verify-weekly bench lint schema clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python >= 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## The main job: the sandbox demo of the whole loop (no GitHub account needed).
demo: $(STAMP)
	$(VENV)/bin/trunkline demo

## The whole test suite (CI runs this through .ci/run).
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench

## Tier 0 (< 60 s): lint, unit tests, generated-file drift.
verify-fast: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/trunkline contracts generate --check
	$(PY) -m pytest -q -p no:cacheprovider tests/unit -x

## Tier 1 (PR gate): every test with branch coverage, coverage report.
verify-pr: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/coverage run -m pytest -q -p no:cacheprovider
	$(VENV)/bin/coverage json -q -o coverage.json
	$(VENV)/bin/coverage report --skip-covered --sort=cover | tail -n 25

## Tier 2 (nightly): the suite plus the benchmarks with their goals.
verify-nightly: verify-pr bench

## Tier 3 (weekly): nightly plus workflow/action security scan.
verify-weekly: verify-nightly
	@files=$$(find .github/workflows actions -name '*.yml' 2>/dev/null); \
	if [ -n "$$files" ]; then $(VENV)/bin/zizmor --offline --min-severity medium $$files; \
	else echo "zizmor: no workflows or actions yet"; fi

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

schema: $(STAMP)
	$(PY) -m trunkline.config.schema --write

clean:
	rm -rf $(VENV) .trunkline .pytest_cache .hypothesis coverage.json .coverage
