# Two commands on a fresh machine (Python 3.11, pip, apt): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint eval bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	PYTHON=$(PY) bash scripts/install_parsing_deps.sh
	# promtool tests the alert rules; chromium drives the dashboard's browser tests.
	command -v promtool >/dev/null && command -v chromium >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq prometheus chromium; }
	touch $(STAMP)

run: install
	$(VENV)/bin/helpdeck up

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy helpdeck api workflows activities worker.py

eval: install
	$(PY) eval/retrieval.py
	$(PY) eval/answers.py
	$(PY) eval/safety/attacks.py

bench: install
	$(PY) bench/turn_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
