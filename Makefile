# Two commands do all set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PG_ADMIN_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
PORT ?= 8000

.PHONY: install demo test test-sqlite test-postgres lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	rm -f instance/demo.db
	DATABASE_URL=$${DATABASE_URL:-sqlite:///$(CURDIR)/instance/demo.db} $(BIN)/ledger demo
	DATABASE_URL=$${DATABASE_URL:-sqlite:///$(CURDIR)/instance/demo.db} $(BIN)/gunicorn --bind 127.0.0.1:$(PORT) --worker-class gthread --workers 2 --threads 4 'ledger:create_app()'

lint: install
	$(BIN)/ruff check ledger tests bench migrations
	$(BIN)/lint-imports .importlinter
	# Security lint: no medium or high finding; each `# nosec` says why beside it.
	$(BIN)/bandit -q -r ledger -ll

test-sqlite: install
	TEST_ENGINE=sqlite $(BIN)/python -m pytest -q

test-postgres: install
	TEST_ENGINE=postgresql TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) $(BIN)/python -m pytest -q

# The two engines' suites run side by side (one Python process each, on a 2-core machine), each
# printing its whole output when it ends; the linters run beside them, so a finding still fails it.
test: install
	$(MAKE) --no-print-directory -j3 --output-sync=target lint test-sqlite test-postgres

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
