"""The benchmark harness (`make bench`): runs each scenario's measure() several times, keeps the
median of every figure and of every ratio to the ceiling measured in the same run, and writes
bench/results/<scenario>.json plus one markdown table with the machine and the date,
bench/results/README.md (the only place the figures are published).

  python -m bench.run [--quick] [--scenario NAME ...] [--repeats N] [--out DIR]
  python -m bench.run --report-only      # the table again from bench/results/*.json

--quick runs every scenario smaller (same repeats): a smoke run, not figures to publish. A
scenario whose module is not there yet is skipped with a message; one that fails is reported and
the others still run (exit code 1)."""
from __future__ import annotations

import argparse
import importlib
import inspect
import shlex
import signal
import sys
import time
import traceback
from pathlib import Path

from bench import machine, report
from bench.scenarios import SCENARIOS, Scenario, by_name

RESULTS = Path(__file__).resolve().parent / "results"


class Skipped(Exception):
    """The scenario cannot run here (its module is missing); not a failure."""


def load(scenario: Scenario):
    try:
        module = importlib.import_module(scenario.module)
    except ModuleNotFoundError as exc:
        if exc.name != scenario.module:
            raise  # the module is there but one of its imports is not: a real failure
        raise Skipped(f"{scenario.module.replace('.', '/')}.py is not there yet") from None
    if not callable(getattr(module, "measure", None)):
        raise TypeError(f"{scenario.module} has no measure(**params) -> dict function")
    return module.measure


def run_scenario(scenario: Scenario, *, quick: bool, repeats: int | None, command: str, out: Path) -> dict:
    measure = load(scenario)
    params = dict(scenario.quick if quick else scenario.params)
    # A scenario that saves more than figures (profiles) is told where the results go.
    extra = {"out": out} if "out" in inspect.signature(measure).parameters else {}
    count = repeats or scenario.repeats
    description = machine.describe()
    started, runs = time.monotonic(), []
    for i in range(count):
        print(f"  {scenario.name}: run {i + 1}/{count} {params}", file=sys.stderr, flush=True)
        figures = measure(**params, **extra)
        if not isinstance(figures, dict):
            raise TypeError(f"{scenario.module}.measure returned {type(figures).__name__}, not a dict")
        runs.append(figures)
    return report.summarize(scenario, runs, params=params, quick=quick, machine=description,
                            elapsed_s=time.monotonic() - started, command=command)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run")
    parser.add_argument("--scenario", action="append", metavar="NAME",
                        help=f"run only this scenario (repeatable): {', '.join(s.name for s in SCENARIOS)}")
    parser.add_argument("--repeats", type=int, help="runs per scenario (default: the scenario's, 3 for most)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON files and the table go")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: rewrite the table from the JSON files already in --out")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    try:
        args.scenarios = by_name(args.scenario)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _exit_on_sigterm() -> None:
    """A run that is stopped (kill, a timeout) unwinds as on Ctrl-C: each scenario's testbed then
    stops the services and the broker it started. Killed outright, it left its routers running,
    retrying the broker that was gone, at a few percent of a core each, under the next runs."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> int:
    _exit_on_sigterm()
    args = parse(argv)
    command = "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    failed, skipped = [], []
    for scenario in [] if args.report_only else args.scenarios:
        print(f"{scenario.name}: {scenario.summary}", file=sys.stderr, flush=True)
        try:
            result = run_scenario(scenario, quick=args.quick, repeats=args.repeats, command=command.strip(),
                                  out=args.out)
        except Skipped as exc:
            print(f"{scenario.name}: skipped: {exc}", file=sys.stderr)
            skipped.append(scenario.name)
            continue
        except Exception:
            traceback.print_exc()
            print(f"{scenario.name}: FAILED (no result written; the others still run)", file=sys.stderr)
            failed.append(scenario.name)
            continue
        path = report.write_result(args.out, result)
        print(f"{scenario.name}: {path}", file=sys.stderr)
    results = report.load_results(args.out, [s.name for s in SCENARIOS]) if args.out.exists() else []
    if results:
        table_path = report.write_table(args.out, results)
        print(report.render_table(results))
        print(f"table: {table_path}", file=sys.stderr)
    if skipped:
        print(f"skipped: {', '.join(skipped)}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
