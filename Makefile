# Two commands on a fresh clone with Python >= 3.10:
#   make demo    producers, a worker and a live view of states and throughput (SECONDS=20; Ctrl-C stops it)
#   make test    the whole suite in JOBS processes (pytest-xdist; it starts its own Redis servers)
#   make matrix  the quick tests on Python 3.10-3.13 x redis-py floor/newest x Redis 6.2/7
#                (scripts/matrix.sh; MATRIX="3.10:floor:7 3.13:newest:6.2" picks combinations)
# Both set up .venv first; that is quick once done (.venv/.installed is newer
# than pyproject.toml). PYTHON=python3.12 picks another interpreter.

PYTHON ?= python3
VENV := .venv
SECONDS ?= 20
PYTEST_ARGS ?=
# The suite mostly waits (leases, restarts, processes): three processes take a third of
# the time on two cores. JOBS=0 runs it in this process alone.
JOBS ?= 3

MATRIX ?=

.PHONY: demo test matrix

demo: $(VENV)/.installed
	$(VENV)/bin/python -m arque demo --seconds $(SECONDS)

# pytest exits 5 when it collected no tests: a suite that ran nothing has not passed.
test: $(VENV)/.installed
	@status=0; $(VENV)/bin/pytest -n $(JOBS) $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo "make test: FAILED: pytest collected no tests (exit status 5)" >&2; exit 1; \
	fi; \
	exit $$status

matrix:
	scripts/matrix.sh $(MATRIX)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e '.[cli,test]'
	@touch $@

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0)' 2>/dev/null || \
		{ echo "make: '$(PYTHON)' not found: install Python >= 3.10, or pass PYTHON=..." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 10) else \
		"make: arque needs Python >= 3.10, but $(PYTHON) is %d.%d: pass PYTHON=python3.X" % v[:2])'
	@echo "$(PYTHON) -m venv $(VENV)"
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "make: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; \
		exit 1; }
