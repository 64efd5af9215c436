"""Benchmarks of the streaming side, each a script that prints figures beside its baseline.

* ``python -m streams.bench.ingest``: clicks stored per second with live summaries against
  without them, on one broker and one Triton.
"""

__all__ = ["ingest"]
