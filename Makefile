# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EVENTS ?= 1000
# e.g. make bench BENCH_ARGS=--quick, or BENCH_ARGS='--scenario router'
BENCH_ARGS ?=

.PHONY: demo test install browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the project metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/tidings demo --events $(EVENTS)

# Three workers: the tests mostly wait on brokers, servers and child processes, not on the CPU.
TEST_WORKERS ?= 3

test: install browser
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS)

# The inbox bell's tests drive Debian's Chromium through Playwright (TESTING.md): installed here
# when missing (CI runs as root; elsewhere with sudo). `playwright install` is never used.
browser:
	@test -x /usr/bin/chromium || { $$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo) apt-get update -qq && \
		$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Every scenario in bench/scenarios.py; writes bench/results/: a JSON file per scenario and the
# table, bench/results/README.md (the one place the figures live; docs/performance.md links there).
bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
