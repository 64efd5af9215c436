"""The README's benchmark block is a copy of the reports, replaced whole on every run."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.bench.readme import BEGIN, END, main, render

README = f"# streamrec\n\n## Measured\n\n{BEGIN}\nold figures\n{END}\n\n## Next\n"


def test_the_block_is_replaced_by_the_reports_in_order(tmp_path: Path) -> None:
    (tmp_path / "latency.md").write_text("# Latency (2026-12-03)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    (tmp_path / "latency.png").write_bytes(b"png")
    (tmp_path / "scoring_steps.md").write_text("# Steps (2026-12-03)\n\nsteps table\n")
    out = render(README, tmp_path)
    assert "old figures" not in out
    assert out.startswith("# streamrec\n\n## Measured\n") and out.endswith(f"{END}\n\n## Next\n")
    assert out.index("**Steps (2026-12-03)**") < out.index("**Latency (2026-12-03)**")
    assert "![latency.png](reports/bench/latency.png)" in out
    assert "scoring_steps.png" not in out  # no picture, no link
    assert render(out, tmp_path) == out  # idempotent


def test_a_missing_report_says_so(tmp_path: Path) -> None:
    out = render(README, tmp_path)
    assert "latency.md: not measured yet" in out and "scoring_steps.md: not measured yet" in out


def test_a_readme_without_the_block_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bench:begin"):
        render("# no block\n", tmp_path)


def test_main_rewrites_the_file(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README)
    (tmp_path / "latency.md").write_text("# Latency\n")
    assert main(["--reports", str(tmp_path), "--readme", str(readme)]) == 0
    assert "**Latency**" in readme.read_text()
