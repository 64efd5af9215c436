"""Offline evaluation: a leakage-free split, shared candidates, baselines and LLM rankers.

The protocol follows LLM-TRSR (WWW 2024): per user, the last interaction rated >= 4 is the
test target, the previous one the validation target, and every model ranks the same 21
candidates (the positive plus 20 seeded negatives). ``models.evaluation.runner`` ties the
pieces together; the ``streamrec eval`` command is a thin wrapper around it.

Kept light on purpose: importing this package loads neither torch nor the data.
"""
