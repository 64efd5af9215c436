"""The topic names of streamrec: part of the contract with producers and consumers.

Renaming a topic is a breaking change for every client, so the names live here, next to the
event contracts, and need a CHANGELOG entry.
"""

from __future__ import annotations

__all__ = [
    "CLICKS",
    "ITEMS",
    "RECOMMENDATIONS",
    "DELETIONS",
    "DELETION_STATUS",
    "DEAD_LETTERS",
    "ALL_TOPICS",
]

CLICKS = "clicks"
ITEMS = "items"
RECOMMENDATIONS = "recommendations"
DELETIONS = "deletions"
DELETION_STATUS = "deletion-status"
DEAD_LETTERS = "dead-letters"
ALL_TOPICS: tuple[str, ...] = (CLICKS, ITEMS, RECOMMENDATIONS, DELETIONS, DELETION_STATUS, DEAD_LETTERS)
