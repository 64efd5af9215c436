"""The ingest A/B runs each side's own code: exports, and where a worker started there imports from.

The broker-backed rounds are the benchmark itself (``python -m streams.bench.ingest_ab``); what
a unit test can pin down is the part that once went wrong: ``python -m`` puts the working
directory ahead of ``PYTHONPATH``, so a worker started from the checkout ran the checkout.
"""

from __future__ import annotations

from pathlib import Path

from streams.bench.ingest_ab import ROOT, WORKING_TREE, _markdown, export_revision, imported_from


def test_an_exported_revision_is_what_a_worker_started_beside_it_imports(tmp_path: Path) -> None:
    source = export_revision("HEAD", tmp_path / "src")
    assert (source / "streams" / "worker.py").is_file()
    outside = tmp_path / "run"
    outside.mkdir()
    assert imported_from(source, outside) == (source / "streams").resolve()


def test_started_from_the_checkout_a_worker_ignores_the_export(tmp_path: Path) -> None:
    """The pitfall itself: with the checkout as working directory, PYTHONPATH loses."""
    source = export_revision("HEAD", tmp_path / "src")
    assert imported_from(source, ROOT) == (ROOT / "streams").resolve()


def test_the_working_tree_is_the_checkout_itself(tmp_path: Path) -> None:
    assert export_revision(WORKING_TREE, tmp_path / "unused") == ROOT
    assert not (tmp_path / "unused").exists()


def test_the_report_names_both_sides_and_the_median_ratio() -> None:
    rounds = [
        {
            "bare_faust_per_s": 100.0,
            "baseline_per_s": 70.0,
            "candidate_per_s": 77.0,
            "candidate_over_baseline": 1.1,
        },
        {
            "bare_faust_per_s": 90.0,
            "baseline_per_s": 60.0,
            "candidate_per_s": 63.0,
            "candidate_over_baseline": 1.05,
        },
    ]
    text = _markdown(
        {
            "date": "2026-12-07",
            "baseline": "HEAD~1",
            "candidate": WORKING_TREE,
            "clicks": 1000,
            "rounds": rounds,
            "candidate_over_baseline": 1.075,
            "baseline_over_bare_faust": 0.68,
            "candidate_over_bare_faust": 0.74,
        }
    )
    assert "HEAD~1 against working tree" in text
    assert "| 1 | 100 | 70 | 77 | 1.100 |" in text
    assert "**1.075**" in text
