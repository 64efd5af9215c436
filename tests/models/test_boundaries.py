"""``models`` is a pure library: no Kafka, no Triton, no DuckDB, nothing from streams or serving."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[2] / "models"
FORBIDDEN = (
    "streams",
    "serving",
    "faust",
    "confluent_kafka",
    "aiokafka",
    "tritonclient",
    "pytriton",
    "duckdb",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(MODELS.rglob("*.py")), ids=lambda p: str(p.relative_to(MODELS)))
def test_models_imports_nothing_forbidden(path: Path) -> None:
    bad = sorted(n for n in _imports(path) if n.split(".")[0] in FORBIDDEN)
    assert not bad, f"{path} imports {bad}"


def test_the_check_sees_the_evaluation_package() -> None:
    assert (MODELS / "evaluation" / "runner.py") in set(MODELS.rglob("*.py"))
    assert "models.evaluation.data" in _imports(MODELS / "evaluation" / "runner.py")
