# Digits: `make run` serves the app on http://127.0.0.1:$(PORT); `make test` runs every test.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: venv run test train evaluate learning-curve bench lint vendor clean lock smoke-images

# Every extra, at the versions constraints.txt pins (the images install from it too).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[train,test,bench,dev,monitor]'
	touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) scripts/run.py

# Lint and types first (seconds): a style or type error fails the run before the tests.
test: venv lint
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest

train: venv
	$(PY) -m worker.trainer.tools.make_models train --model all $(if $(MNIST_PATH),--mnist $(MNIST_PATH))

evaluate: venv
	$(PY) -m worker.trainer.tools.evaluate $(if $(MNIST_PATH),--mnist $(MNIST_PATH)) $(if $(UNIPEN_PATH),--unipen $(UNIPEN_PATH))

# Simulated writers collect 0-3,000 digits; the served models are measured after each round.
learning-curve: venv
	$(PY) -m worker.trainer.tools.learning_curve curve $(if $(MNIST_PATH),--mnist $(MNIST_PATH))

bench: venv
	$(PY) -m bench.run

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/check_docs.py
	$(PY) scripts/check_house.py

# Re-pin every package to what the venv has now (after changing pyproject.toml's ranges).
lock: venv
	{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^digits=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# Both images built, the compose topology driven end to end, then torn down (podman, root).
smoke-images:
	bash scripts/smoke_images.sh

vendor:
	bash scripts/vendor_frontend.sh

clean:
	rm -rf var bench/results tests/artifacts .pytest_cache
