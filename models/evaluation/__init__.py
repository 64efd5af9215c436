"""Offline evaluation: a leakage-free split, shared candidates, baselines and LLM rankers.

The protocol follows LLM-TRSR (WWW 2024): per user, the last interaction rated >= 4 is the
test target, the previous one the validation target, and every model ranks the same 21
candidates (the positive plus 20 seeded negatives). ``runner.run_evaluation`` ties the pieces
together with a ``config.EvalConfig``; the ``streamrec eval`` command is a thin wrapper
around it.

Kept light on purpose: importing this package loads neither torch nor the data, so
``__all__`` lists its modules and callers import from the defining module
(``from models.evaluation.runner import run_evaluation``). The import order, bottom up:
``data`` -> ``split``/``metrics``/``timeline`` -> ``ranker`` -> the rankers -> ``config``/``result``
-> ``report`` -> ``runner``.
"""

__all__ = [
    "config",
    "data",
    "itemknn",
    "llm",
    "metrics",
    "mind",
    "movielens",
    "popularity",
    "random_ranker",
    "ranker",
    "report",
    "result",
    "runner",
    "sasrec",
    "split",
    "summaries",
    "timeline",
    "vector_cache",
]
