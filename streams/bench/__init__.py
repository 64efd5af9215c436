"""Benchmarks of the streaming side, each a script that prints figures beside its baseline.

* ``python -m streams.bench.ingest``: clicks stored per second with live summaries against
  without them, on one broker and one Triton.
* ``python -m streams.bench.ingest_ceiling``: the worker's ingest against a bare Faust agent
  (``bare_faust``) and raw aiokafka, in alternating rounds, with a py-spy profile
  (``ingest_profile``).
* ``python -m streams.bench.latency``: click -> recommendation latency at an outside consumer,
  at sustained loads and a burst, with and without summaries, with peak memory.
* ``python -m streams.bench.unlearning``: forgetting one user against full retrains.
* ``python -m streams.bench.readme``: the README's benchmark block, regenerated from the reports.
* ``python -m streams.bench.dashboard``: a dashboard-like PNG of a running stack, drawn with
  matplotlib from its ``/metrics`` scrapes (``streams.bench.scrapes``: rates and quantiles).
* ``python -m streams.bench.suite``: the suite table of scoring, batching, training and
  unlearning, from those benchmarks' reports.
* ``streams.bench.probes``: peak RSS and the worker's stage timings, shared by the above.
"""

__all__ = [
    "bare_faust",
    "dashboard",
    "ingest",
    "ingest_ceiling",
    "ingest_profile",
    "latency",
    "probes",
    "readme",
    "scrapes",
    "suite",
    "unlearning",
]
