"""The chaos run's verdicts as ``chaos.json`` (everything) and ``chaos.md`` (for people).

Figures are written as measured; nothing is rounded into a PASS. A scenario that did not run
appears as SKIP with its reason, one that raised as FAIL with the error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams.chaos.harness import ScenarioResult

__all__ = ["console_lines", "write_reports"]


def console_lines(result: ScenarioResult) -> list[str]:
    """``SCENARIO n name: PASS`` and one line per check, for the terminal."""
    head = f"scenario {result.number} ({result.name}): {result.status} in {result.seconds:.0f} s"
    lines = [head]
    if result.skipped:
        lines.append(f"  SKIP: {result.skipped}")
    if result.error:
        lines.append(f"  ERROR: {result.error}")
    lines += [f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in result.checks]
    return lines


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value, separators=(',', ':'))}`"
    return str(value)


def _rows(value: Any) -> bool:
    """A list of records with the same keys (the kills, the worker exits): shown as a table."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) for v in value)
        and all(list(v) == list(value[0]) for v in value)
    )


def write_reports(out: Path, results: Sequence[ScenarioResult], run: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``chaos.json`` and ``chaos.md`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    body = {**run, "scenarios": [r.as_dict() for r in results]}
    json_path = out / "chaos.json"
    json_path.write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")

    lines = [
        "# Chaos run",
        "",
        f"Started {run.get('started')}, {run.get('seconds', 0):.0f} s in all; "
        f"command `{run.get('command')}`; seed {run.get('seed')}.",
        "Every scenario runs the real Tansu broker, a real tritonserver with the tiny random-weight "
        "model and the real worker (and trainer) processes.",
        "",
        "| scenario | status | seconds | checks passed |",
        "|---|---|---|---|",
    ]
    for r in results:
        passed = sum(c.passed for c in r.checks)
        lines.append(
            f"| {r.number}. {r.name} | **{r.status}** | {r.seconds:.0f} | {passed}/{len(r.checks)} |"
        )
    for r in results:
        lines += ["", f"## {r.number}. {r.name}: {r.status}", ""]
        if r.skipped:
            lines += [f"Skipped: {r.skipped}", ""]
        if r.error:
            lines += ["Error:", "", "```", r.error, "```", ""]
        for c in r.checks:
            lines.append(f"- {'PASS' if c.passed else 'FAIL'}: **{c.name}**. {c.detail}")
        tables = {name: value for name, value in r.figures.items() if _rows(value)}
        if r.figures:
            lines += ["", "| figure | value |", "|---|---|"]
            lines += [
                f"| {name} | {'table below' if name in tables else _figure(value)} |"
                for name, value in r.figures.items()
            ]
        for name, rows in tables.items():
            columns = list(rows[0])
            lines += ["", f"{name}:", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(_figure(row.get(c)) for c in columns) + " |" for row in rows]
    md_path = out / "chaos.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return json_path, md_path
