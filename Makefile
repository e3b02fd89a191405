# Trunkline — two commands on a fresh machine: `make demo` and `make test`.
# The venv is created and filled here; nothing needs to be installed by hand.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed-dev

.PHONY: venv demo test verify-fast verify-pr verify-nightly verify-weekly bench lint schema docs hooks clean

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
# Tests run on TEST_WORKERS processes (pytest-xdist): most of the end-to-end time is spent waiting on
# real subprocesses (bot, git, servers), so a few more workers than cores pays off.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench

## ---- Verify tiers (each is also a tier in .github/trunkline.yml). A step whose tool or command is not
## there yet is skipped with a line saying so; nothing is skipped silently.
TL       := $(VENV)/bin/trunkline
# Revision the PR tier compares with (patch coverage, contract changes, mutation on the diff).
BASE     ?= $(shell git rev-parse -q --verify origin/main >/dev/null 2>&1 && echo origin/main || echo main)
PATCH_COVERAGE_MIN ?= 0
MUTATION_SAMPLE    ?= 50
# Commands of the mutation / flaky / perf tools (issue 5); probed with --help before they run.
MUTATION_DIFF  ?= $(TL) mutation run --base "$(BASE)" --json mutation.json
MUTATION_NIGHT ?= $(TL) mutation run --sample $(MUTATION_SAMPLE) --json mutation.json
MUTATION_ALL   ?= $(TL) mutation run --all --json mutation.json
FLAKY          ?= $(TL) flaky run tests/unit
PERF_BASE      ?= .bench/perf-base.json
PERF_HEAD      ?= .bench/perf-head.json
# Unit tests on every core when pytest-xdist is installed (the dev extra has it).
XDIST    = $(shell $(PY) -c "import xdist" >/dev/null 2>&1 && echo "-n auto")
# verify-pr: the suite on PR_WORKERS processes, coverage per worker by pytest-cov ([tool.coverage.run]),
# combined; no coverage settings reach the tests' own subprocesses (some of them run coverage.py).
PR_WORKERS ?= $(or $(TEST_WORKERS),3)
# $(call when,PROBE,WHAT,COMMAND): run COMMAND when PROBE succeeds, else print why WHAT is skipped.
when = if $(1) >/dev/null 2>&1; then $(3); else echo "skipped: $(2)"; fi

## Tier 0 (< 60 s): lint, generated-file drift, unit tests. Tests marked `slow` (subprocesses, servers,
## node, full CLI round trips, PostgreSQL) wait for tier 1; property tests try at most 20 examples each
## (--hypothesis-profile=tier0, see tests/conftest.py) — `make test` / verify-pr run their full counts.
## Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (rewriting and compiling every test module
## again costs each process ~10 s); schemathesis' pytest plugin is not needed here.
verify-fast: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(TL) contracts generate --check
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -p no:cacheprovider -p no:schemathesis $(XDIST) -m 'not slow' \
	  --hypothesis-profile=tier0 --junitxml=.trunkline/verify/junit-fast.xml tests/unit -x

## Tier 1 (PR gate): every test with branch coverage, patch coverage against $(BASE), contract changes
## against $(BASE), mutation on the diff, ratchets.
verify-pr: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/coverage erase
	@if $(PY) -c "import xdist, pytest_cov" >/dev/null 2>&1; then \
	  set -x; $(PY) -m pytest -q -p no:cacheprovider -n $(PR_WORKERS) --cov --cov-report= \
	    --junitxml=.trunkline/verify/junit-pr.xml; \
	else echo "pytest-xdist/pytest-cov not installed: the suite runs on one core under coverage"; set -x; \
	  $(VENV)/bin/coverage run -m pytest -q -p no:cacheprovider --junitxml=.trunkline/verify/junit-pr.xml; fi
	$(VENV)/bin/coverage json -q -o coverage.json
	$(VENV)/bin/coverage xml -q -o coverage.xml
	$(VENV)/bin/coverage report --skip-covered --sort=cover | tail -n 25
	@$(call when,git rev-parse -q --verify "$(BASE)^{commit}",patch coverage: base revision '$(BASE)' not found (set BASE=),\
	  $(VENV)/bin/diff-cover coverage.xml --compare-branch="$(BASE)" --format json:diff-cover.json,markdown:diff-cover.md \
	    --fail-under=$(PATCH_COVERAGE_MIN))
	@$(call when,$(TL) contracts check --help,contract changes: 'trunkline contracts check' is not available,\
	  $(TL) contracts check --base "$(BASE)")
	@$(call when,$(TL) mutation --help,mutation on the diff: 'trunkline mutation' is not available yet,\
	  $(MUTATION_DIFF))
	@$(call when,test -f .github/trunkline-ratchets.yml -a -x $(TL),ratchets: no .github/trunkline-ratchets.yml,\
	  $(call when,$(TL) ratchet check --help,ratchets: 'trunkline ratchet' is not available,$(TL) ratchet check))

## Tier 2 (nightly): the sandbox end-to-end scenarios (demo + slow tests), benchmarks against their
## goals, a mutation sample, perf regression against the last baseline, flaky-test detection.
verify-nightly: $(STAMP)
	$(TL) demo
	$(PY) -m pytest -q -p no:cacheprovider -m slow tests/e2e
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
	@$(call when,$(TL) mutation --help,mutation sample: 'trunkline mutation' is not available yet,$(MUTATION_NIGHT))
	@$(call when,$(TL) perf compare --help,perf regression: 'trunkline perf compare' is not available yet,\
	  $(call when,test -f $(PERF_BASE) -a -f $(PERF_HEAD),perf regression: no $(PERF_BASE) / $(PERF_HEAD) \
	    (pytest-benchmark JSON) to compare,$(TL) perf compare $(PERF_BASE) $(PERF_HEAD) --json perf.json))
	@$(call when,$(TL) flaky --help,flaky detection: 'trunkline flaky' is not available yet,$(FLAKY))

## Tier 3 (weekly): load benchmarks, workflow/action security scan, dependency audit, full mutation.
verify-weekly: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
	@files=$$(find .github/workflows actions -name '*.yml' 2>/dev/null); \
	if [ -n "$$files" ]; then $(VENV)/bin/zizmor --offline --format json $$files > zizmor.json || true; \
	  $(VENV)/bin/zizmor --offline --min-severity medium $$files; \
	else echo "zizmor: no workflows or actions yet"; fi
	@if [ -x $(VENV)/bin/pip-audit ]; then $(VENV)/bin/pip-audit --strict -f json -o pip-audit.json; \
	else echo "dependency audit: pip-audit is not installed (it needs the network for vulnerability data);" \
	  "ran 'pip check' instead: dependency consistency only, no vulnerability check"; $(PIP) check; fi
	@$(call when,$(TL) mutation --help,full mutation: 'trunkline mutation' is not available yet,$(MUTATION_ALL))

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

schema: $(STAMP)
	$(PY) -m trunkline.config.schema --write

## docs/config.md: every configuration key, generated from contracts/trunkline.schema.json (run after `make schema`).
docs: $(STAMP)
	$(PY) -m trunkline.config.docs --write

## Our own git hooks for this clone: pre-commit runs tier 0 (verify-fast), pre-push runs tier 1 (verify-pr).
hooks:
	@for hook in pre-commit pre-push; do \
	  target=$$(git rev-parse --git-path hooks)/$$hook; \
	  if [ -e "$$target" ] && ! grep -q 'trunkline-hook' "$$target"; then echo "keeping your own $$target"; continue; fi; \
	  cp .githooks/$$hook "$$target" && chmod +x "$$target" && echo "installed $$target"; \
	done

clean:
	rm -rf $(VENV) .trunkline .pytest_cache .hypothesis coverage.json .coverage
