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
    "DEAD_LETTER_RETENTION_MS",
    "TOPIC_CONFIGS",
]

CLICKS = "clicks"
ITEMS = "items"
RECOMMENDATIONS = "recommendations"
DELETIONS = "deletions"
DELETION_STATUS = "deletion-status"
DEAD_LETTERS = "dead-letters"
ALL_TOPICS: tuple[str, ...] = (CLICKS, ITEMS, RECOMMENDATIONS, DELETIONS, DELETION_STATUS, DEAD_LETTERS)

# Dead letters carry raw rejected values, and a value may contain a user id: personal data.
# They cannot be tombstoned per user (a compacted topic would also drop every earlier dead
# letter with the same key), so the topic deletes by age instead: 7 days to read and fix them.
DEAD_LETTER_RETENTION_MS = 7 * 24 * 3600 * 1000
# Topic-level configs set when streamrec creates a topic (existing topics are left as they are).
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    DEAD_LETTERS: {"retention.ms": str(DEAD_LETTER_RETENTION_MS), "cleanup.policy": "delete"},
}
