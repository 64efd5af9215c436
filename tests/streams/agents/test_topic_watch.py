"""The running watch's decision: which adopted topics the broker now names differently."""

from __future__ import annotations

from streams.agents.topic_watch import changed_topics


def test_same_ids_are_no_change() -> None:
    assert changed_topics({"clicks": "A", "items": "B"}, {"clicks": "A", "items": "B"}) == []


def test_a_new_id_is_a_change() -> None:
    assert changed_topics({"clicks": "A", "items": "B"}, {"clicks": "A2", "items": "B"}) == ["clicks"]


def test_missing_or_unknown_ids_are_not_a_change_yet() -> None:
    """Deleted and not yet recreated, or a broker without ids: wait for the next tick."""
    assert changed_topics({"clicks": "A", "items": "B"}, {"items": None}) == []


def test_topics_not_adopted_are_ignored() -> None:
    assert changed_topics({"clicks": "A"}, {"clicks": "A", "items": "Z"}) == []
