"""Turns the runs of a scenario into its result (medians, ratios to the ceilings measured in the
same runs, targets met or missed), writes bench/results/<scenario>.json, and renders one markdown
table for every result on disk: bench/results/README.md, the one place the figures are published
(docs/performance.md says what each scenario measures and links there)."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from bench.scenarios import Scenario

UNITS = ("_per_s", "_s", "_mb")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _median(values: list) -> float | None:
    numbers = [v for v in values if _number(v)]
    return round(statistics.median(numbers), 3) if numbers else None


def summarize(scenario: Scenario, runs: list[dict], *, params: dict, quick: bool, machine: dict,
              elapsed_s: float, command: str) -> dict:
    """Medians over the runs; each ratio is computed within a run, then its median taken."""
    figures = {}
    for key in runs[0]:
        values = [run.get(key) for run in runs]
        figures[key] = _median(values) if any(_number(v) for v in values) else values[0]
    ratios = []
    for ratio in scenario.ratios:
        per_run = [run[ratio.figure] / run[ratio.ceiling] for run in runs
                   if _number(run.get(ratio.figure)) and _number(run.get(ratio.ceiling)) and run[ratio.ceiling] > 0]
        value = _median(per_run)
        ratios.append({"name": ratio.name, "figure": ratio.figure, "ceiling": ratio.ceiling, "ratio": value,
                       "target_at_least": ratio.target,
                       "met": None if ratio.target is None or value is None else value >= ratio.target})
    limits = [{"figure": limit.figure, "value": figures.get(limit.figure), "at_most": limit.at_most,
               "met": figures.get(limit.figure) <= limit.at_most if _number(figures.get(limit.figure)) else None}
              for limit in scenario.limits]
    return {"scenario": scenario.name, "summary": scenario.summary, "date": machine["date"], "quick": quick,
            "command": command, "params": params, "repeats": len(runs), "elapsed_s": round(elapsed_s, 1),
            "figures": figures, "ratios": ratios, "limits": limits, "machine": machine, "runs": runs}


def write_result(out_dir: Path, result: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{result['scenario']}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def load_results(out_dir: Path, order: list[str]) -> list[dict]:
    """Every <scenario>.json in the directory, in registry order."""
    found = {p.stem: json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))}
    return [found[name] for name in order if name in found]


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if _number(value):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def _verdict(met) -> str:
    return {True: "met", False: "**missed**", None: ""}[met]


def render_table(results: list[dict]) -> str:
    """One markdown table of every figure beside its ceiling and target, plus where and when."""
    lines = ["| scenario | figure | value | compared with | its value | ratio | target | |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        shown = set()
        for ratio in r["ratios"]:
            figure, ceiling = ratio["figure"], ratio["ceiling"]
            target = f"≥ {ratio['target_at_least']:g}" if ratio["target_at_least"] is not None else ""
            lines.append(f"| {r['scenario']} | `{figure}` | {_fmt(r['figures'].get(figure))} | `{ceiling}` | "
                         f"{_fmt(r['figures'].get(ceiling))} | {_fmt(ratio['ratio'])} | {target} | {_verdict(ratio['met'])} |")
            shown |= {figure, ceiling}
        for limit in r["limits"]:
            lines.append(f"| {r['scenario']} | `{limit['figure']}` | {_fmt(limit['value'])} | | | | "
                         f"≤ {limit['at_most']:g} | {_verdict(limit['met'])} |")
            shown.add(limit["figure"])
        for key, value in r["figures"].items():
            if key not in shown and key.endswith(UNITS):
                lines.append(f"| {r['scenario']} | `{key}` | {_fmt(value)} | | | | | |")
    runs = ["| scenario | date (UTC) | mode | repeats (median of) | parameters | took (s) | load average at start |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        load = " / ".join(str(x) for x in r["machine"].get("load_average_at_start") or []) or "n/a"
        runs.append(f"| {r['scenario']} | {r['date']} | {'quick' if r['quick'] else 'full'} | {r['repeats']} | "
                    f"{params} | {r['elapsed_s']} | {load} |")
    return "\n".join(lines + [""] + runs + [""] + _machines(results))


def _machines(results: list[dict]) -> list[str]:
    seen = []
    for r in results:
        m = dict(r["machine"])
        key = (m.get("cores"), m.get("memory_mb"), m.get("cpu"), m.get("python"), json.dumps(m.get("libraries")))
        if key not in [k for k, _ in seen]:
            seen.append((key, m))
    lines = []
    for _, m in seen:
        libraries = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
        lines.append(f"Machine: {m['cores']} cores, {m['memory_mb']:,} MB, {m['cpu']}, {m['os']}, Python "
                     f"{m['python']}; {libraries}.")
    return lines


def write_table(out_dir: Path, results: list[dict]) -> Path:
    path = out_dir / "README.md"
    commands = ", ".join(f"`{c}`" for c in dict.fromkeys(r["command"] for r in results))
    path.write_text("# Benchmark results\n\nWritten by `python -m bench.run` (these results came from "
                    f"{commands}); one JSON file per scenario beside this table. Ratios are computed "
                    "within each run against the ceiling measured in that run, then the median taken; "
                    "targets are reported, never asserted. What each scenario measures, and how to run "
                    "them: [docs/performance.md](../../docs/performance.md).\n\n" + render_table(results) + "\n")
    return path
