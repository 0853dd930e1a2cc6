# The two set-up commands are `make demo` and `make test`; both work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Debian packages the tests use for real services (installed only when running as root).
DEB_PACKAGES := gnome-keyring dbus dbus-x11 libsecret-tools softhsm2 opensc pass gnupg strace jq tinyproxy time

.PHONY: demo test lint bench docs system-deps venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,pkcs11,router]'
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh $(DEB_PACKAGES)

demo: venv
	@bash scripts/demo.sh $(VENV)/bin/mcp-router

# Regenerate docs/cli.md (from every command's --help) and the exit-code table in
# docs/exit-codes.md (from errors.py); a test fails when they are out of date.
docs: venv
	$(PY) scripts/gen_cli_docs.py

lint: venv
	$(VENV)/bin/ruff check src tests scripts

test: system-deps venv lint
	$(PY) -m pytest

# Figures are medians of whole-process runs, compared as ratios within one run.
bench: system-deps venv
	$(PY) scripts/bench.py
	$(PY) scripts/bench_router.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
