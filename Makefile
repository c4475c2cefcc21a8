# `make run` and `make test` set everything up themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install run test lint services bench clean

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

test: install services lint
	$(BIN)/pytest

bench: install services
	$(BIN)/python bench/order_creation.py
	$(BIN)/python bench/notifications.py
	$(BIN)/python bench/attempt_creation.py
	$(BIN)/python bench/courier_pushes.py
	$(BIN)/python bench/reconciliation.py

clean:
	rm -rf $(VENV) var db.sqlite3 db.sqlite3-*
