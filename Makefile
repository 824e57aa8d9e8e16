# The two commands a newcomer needs (README): `make run` and `make test`.
.PHONY: setup setup-test run test lint bench clean

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/heatwatch run

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

setup-test:
	@bash scripts/setup.sh --test

test: setup-test lint
	.venv/bin/pytest -q

bench: setup
	.venv/bin/python bench/run_all.py

clean:
	rm -rf run .pytest_cache .mypy_cache .ruff_cache
