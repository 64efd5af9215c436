"""Value types reject what prompt building could not render faithfully."""

import pytest

from models.types import HistoryEntry, ItemText

ITEM = ItemText("m1", "Heat (1995)", ("Action", "Crime"))


def test_item_requires_id_and_tuple_categories() -> None:
    with pytest.raises(ValueError, match="item_id.*''"):
        ItemText("", "Heat")
    with pytest.raises(ValueError, match="categories"):
        ItemText("m1", "Heat", ["Action"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event_type", "rating", "ts", "message"),
    [
        ("purchase", None, 0, "event_type.*'purchase'"),
        ("rating", None, 0, "rating must be set"),
        ("rating", float("nan"), 0, "rating must be finite"),
        ("click", None, -1, "ts.*-1"),
    ],
)
def test_history_entry_validation(event_type: str, rating: float | None, ts: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HistoryEntry(ITEM, event_type, rating, ts)


def test_history_entry_accepts_every_event_type() -> None:
    for event_type in ("click", "view", "like", "dislike"):
        assert HistoryEntry(ITEM, event_type, None, 1).event_type == event_type
    assert HistoryEntry(ITEM, "rating", 4.5, 1).rating == 4.5
