# `make run` and `make test` set everything up themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install run test lint services browser wrk screenshots bench simulate clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/python manage.py serve

lint: install
	$(BIN)/ruff check .

services:
	bash .ci/services

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used)
# and need a CJK font to draw the console's Chinese labels.
BROWSER_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e $(BROWSER_FONT) ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends chromium fonts-wqy-microhei; \
	fi

test: install services browser lint
	$(BIN)/pytest

# Thirty business days of seeded traffic and faults through the whole service on a simulated
# clock (docs/simulation.md): `make simulate SEED=42`, or DAYS=5 for a week, SCALE for the
# orders per department a day. Without SEED, one is drawn and printed; the same seed (and
# days and scale) replays the same days.
DAYS ?= 30
SCALE ?= 6
SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
simulate: install services
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//} \
		$(BIN)/python manage.py simulate --days $(DAYS) --seed $(SEED) --scale $(SCALE)

# Retakes the console screenshots that the README links, from the browser tests.
screenshots: install services browser
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/browser

# The HTTP benchmarks' load generator (bench/README.md), from Debian's packages.
wrk:
	@if ! command -v wrk >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends wrk; \
	fi

# Every row of the performance targets, each with its baseline from the same run; the
# table at the end (bench/results.py) says which are met. 16 connections, as the targets say.
bench: install services wrk
	$(BIN)/python bench/order_creation.py --clients 16
	$(BIN)/python bench/notifications.py --clients 16
	$(BIN)/python bench/attempt_creation.py --clients 16
	$(BIN)/python bench/courier_pushes.py --clients 16
	$(BIN)/python bench/reconciliation.py --sizes 1000000,10000000
	$(BIN)/python bench/console_pages.py
	$(BIN)/python bench/signatures.py
	$(BIN)/python bench/results.py

clean:
	rm -rf $(VENV) var
