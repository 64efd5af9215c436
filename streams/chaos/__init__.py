"""Fault injection: kill and cut off the real processes mid-run, then verify every record.

``python -m streams.chaos [--scenarios 1,2,5] [--quick] --out reports/chaos`` (``make chaos``,
``make chaos-quick``) runs the scenarios against the embedded Tansu broker, a real tritonserver
with the tiny model and the real worker and trainer processes, and writes ``chaos.json`` and
``chaos.md``. One module per scenario: ``worker_kills`` (1), ``triton_outage`` (2),
``broker_outage`` (3), ``disk_full`` (4), ``trainer_kills`` (5); ``harness`` is what they share,
``served_set`` is scenario 5's oracle and ``report`` writes the verdicts. A script with a
report, not a test: ``tests/e2e/test_chaos.py`` runs small versions of 1, 2 and 5 in CI.
Modules load lazily (``from streams.chaos import harness``), so importing the package starts
nothing.
"""

__all__ = [
    "broker_outage",
    "disk_full",
    "harness",
    "report",
    "served_set",
    "trainer_kills",
    "triton_outage",
    "worker_kills",
]
