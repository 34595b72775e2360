# The two set-up commands of the README: `make run` and `make test`. Both create (or reuse)
# .venv and install the project with the pinned versions of constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/monitor.toml

.PHONY: run test lint format constraints bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/monitor --config $(CONFIG) run

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix monitor tests bench
	$(BIN)/ruff format monitor tests bench

bench: $(VENV)/.installed-run
	$(BIN)/python bench/ingest.py

# Re-pin every dependency (all extras) after changing pyproject.toml.
constraints: $(VENV)/.installed-dev
	$(BIN)/pip-compile --quiet --strip-extras --all-extras --no-header --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file constraints.txt pyproject.toml

# Install as a system service (README.md, "Running as a service"); run as root. A venv in
# $(PREFIX)/venv, the unit in /etc/systemd/system, and a default config in /etc/monitor unless
# one is there already. DESTDIR stages everything under another root (for packaging): the venv
# is built there and its scripts' #! lines are rewritten to name $(PREFIX).
PREFIX ?= /opt/monitor
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
# Fixed: the unit finds its config through ConfigurationDirectory=monitor.
CONFDIR := /etc/monitor

install:
	$(PYTHON) -m venv $(DESTDIR)$(PREFIX)/venv
	$(DESTDIR)$(PREFIX)/venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt .
	if [ -n "$(DESTDIR)" ]; then \
		grep -lIF '$(DESTDIR)$(PREFIX)' $(DESTDIR)$(PREFIX)/venv/bin/* $(DESTDIR)$(PREFIX)/venv/pyvenv.cfg \
			| xargs -r sed -i 's#$(DESTDIR)$(PREFIX)#$(PREFIX)#g'; \
	fi
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	sed 's#/opt/monitor/venv/#$(PREFIX)/venv/#' systemd/monitor.service > $(DESTDIR)$(UNITDIR)/monitor.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/monitor.service
	[ -e $(DESTDIR)$(CONFDIR)/monitor.toml ] || install -m 0644 systemd/monitor.toml $(DESTDIR)$(CONFDIR)/monitor.toml
	[ -e $(DESTDIR)$(CONFDIR)/watchlist.toml ] || install -m 0644 config/watchlist.toml $(DESTDIR)$(CONFDIR)/watchlist.toml
	@echo "installed; next: systemctl daemon-reload && systemctl enable --now monitor"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
