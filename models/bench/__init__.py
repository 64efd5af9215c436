"""Benchmarks of the pure library, each a script that prints figures beside its baseline.

* ``python -m models.bench.training``: LoRA training samples/s, shared prefixes against naive.

Light on purpose: the modules load torch, so this ``__init__`` imports none of them.
"""

__all__ = ["training"]
