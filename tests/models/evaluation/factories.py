"""Small builders for synthetic evaluation datasets and targets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from models.evaluation.data import Dataset, Interaction, Target
from models.types import ItemText

# (item_id, ts in ms, rating)
Row = tuple[str, int, float]


def rating(item_id: str, ts: int, value: float = 5.0) -> Interaction:
    return Interaction(item_id=item_id, ts=ts, event_type="rating", rating=value)


def make_dataset(
    histories: Mapping[str, Sequence[Row]],
    extra_items: Iterable[str] = (),
    name: str = "synthetic",
) -> Dataset:
    """A dataset whose catalogue holds every item mentioned plus ``extra_items``."""
    item_ids = {item for rows in histories.values() for item, _, _ in rows} | set(extra_items)
    items = {i: ItemText(item_id=i, title=f"Item {i}", categories=("Drama",)) for i in sorted(item_ids)}
    return Dataset(
        name=name,
        items=items,
        histories={user: tuple(rating(i, ts, r) for i, ts, r in rows) for user, rows in histories.items()},
    )


def with_users(dataset: Dataset, extra: Mapping[str, Sequence[Row]]) -> Dataset:
    """``dataset`` plus the users in ``extra`` (same items, same everything else)."""
    histories = {user: tuple((i.item_id, i.ts, i.rating) for i in h) for user, h in dataset.histories.items()}
    histories.update({user: tuple(rows) for user, rows in extra.items()})
    return make_dataset(histories, extra_items=dataset.items, name=dataset.name)


def make_target(
    user_id: str,
    positive: str,
    candidates: Sequence[str],
    history: Sequence[Row],
    cutoff_ts: int,
    split: str = "test",
) -> Target:
    return Target(
        user_id=user_id,
        split=split,
        positive=positive,
        candidates=tuple(candidates),
        history=tuple(rating(i, ts, r) for i, ts, r in history),
        cutoff_ts=cutoff_ts,
    )


def filler_user(first: int, count: int, ts0: int = 10, value: float = 1.0) -> list[Row]:
    """Items ``str(first) .. str(first + count - 1)`` rated low (never a target): a negative pool."""
    return [(str(first + k), ts0 + k, value) for k in range(count)]
