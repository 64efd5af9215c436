"""Benchmarks of the serving side, each a script that prints figures beside its baseline.

* ``python -m serving.bench.scoring``: naive against prefix-cached yes/no scoring;
* ``python -m serving.bench.summarizer``: summary throughput through Triton by batch size;
* ``python -m serving.bench.adapters``: scoring with K aggregated adapters against the base.

The modules load torch and tritonclient, so this ``__init__`` imports none of them.
"""

__all__ = ["adapters", "scoring", "summarizer"]
