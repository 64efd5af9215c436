"""The dataset shape every evaluation step works on: items with text, per-user histories.

Loaders (``movielens``, ``mind``) turn their files into a :class:`Dataset`; the split,
the rankers and the report only ever see this type. Histories are tuples in time order and
timestamps are epoch milliseconds, like the streaming side, so prompts rendered here match
the ones the worker renders for the same events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.types import EVENT_TYPES, HistoryEntry, ItemText

__all__ = ["Dataset", "Interaction", "Target", "file_digests", "natural_key", "to_history"]

SPLITS: tuple[str, ...] = ("validation", "test")


@dataclass(frozen=True)
class Interaction:
    """One thing a user did to an item. ``ts`` is epoch milliseconds."""

    item_id: str
    ts: int
    event_type: str = "rating"
    rating: float | None = None

    def __post_init__(self) -> None:
        if not self.item_id:
            raise ValueError(f"Interaction.item_id must be a non-empty string, got {self.item_id!r}")
        if self.event_type not in EVENT_TYPES:
            raise ValueError(
                f"Interaction.event_type must be one of {sorted(EVENT_TYPES)}, got {self.event_type!r}"
            )
        if self.event_type == "rating" and self.rating is None:
            raise ValueError("Interaction.rating must be set when event_type is 'rating', got None")


@dataclass(frozen=True)
class Target:
    """One ranking task: put ``positive`` first among ``candidates``, knowing only ``history``.

    ``cutoff_ts`` is the leakage boundary: the user's history and every statistic used for this
    target (popularity, co-occurrence) may only use interactions with ``ts < cutoff_ts``.
    ``candidates`` contains ``positive`` exactly once, in a seeded shuffled order, so that no
    tie-breaking by position can favour it.
    """

    user_id: str
    split: str
    positive: str
    candidates: tuple[str, ...]
    history: tuple[Interaction, ...]
    cutoff_ts: int

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"Target.split must be one of {SPLITS}, got {self.split!r}")
        if self.candidates.count(self.positive) != 1:
            raise ValueError(
                f"Target.candidates must contain the positive {self.positive!r} exactly once, "
                f"got {self.candidates.count(self.positive)} times"
            )
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError(f"Target.candidates must be distinct, got {self.candidates!r}")
        late = [i.item_id for i in self.history if i.ts >= self.cutoff_ts]
        if late:
            raise ValueError(f"Target.history must end before cutoff_ts={self.cutoff_ts}, got items {late!r}")

    @property
    def key(self) -> tuple[str, str]:
        return (self.user_id, self.split)

    @property
    def positive_index(self) -> int:
        return self.candidates.index(self.positive)


@dataclass(frozen=True)
class Dataset:
    """Items and time-ordered interactions of every user, plus where they came from.

    ``fixed_targets`` is set by datasets that define their own candidates (MIND impressions);
    None means targets are derived by :mod:`models.evaluation.split`.
    """

    name: str
    items: Mapping[str, ItemText]
    histories: Mapping[str, tuple[Interaction, ...]]
    sources: tuple[Path, ...] = ()
    fixed_targets: tuple[Target, ...] | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for user, history in self.histories.items():
            if any(b.ts < a.ts for a, b in zip(history, history[1:], strict=False)):
                raise ValueError(f"Dataset.histories[{user!r}] must be in time order")

    @property
    def n_interactions(self) -> int:
        return sum(len(h) for h in self.histories.values())

    def interacted_items(self) -> list[str]:
        """Every item that occurs in some history, sorted: the negative-sampling universe."""
        return sorted({i.item_id for history in self.histories.values() for i in history}, key=natural_key)


def natural_key(value: str) -> tuple[int, int, str]:
    """Sort numeric ids numerically and others as text, so orders are stable and readable.

    The text itself breaks ties, so "7" and "07" always sort the same way.
    """
    return (0, int(value), value) if value.isdigit() else (1, 0, value)


def to_history(interactions: Iterable[Interaction], items: Mapping[str, ItemText]) -> list[HistoryEntry]:
    """Prompt-ready history: the interactions whose item has text, as :class:`HistoryEntry`.

    Items without text are skipped, exactly as the worker only shows catalogued items.
    """
    return [
        HistoryEntry(item=items[i.item_id], event_type=i.event_type, rating=i.rating, ts=i.ts)
        for i in interactions
        if i.item_id in items
    ]


def file_digests(paths: Sequence[Path]) -> dict[str, str]:
    """sha256 of each source file, keyed by file name, plus ``"combined"`` over all of them.

    The combined digest hashes the (name, digest) pairs in name order, so it identifies the
    exact bytes evaluated regardless of where the files live. Names must be distinct (every
    loader reads one directory).
    """
    if len({p.name for p in paths}) != len(paths):
        raise ValueError(f"file_digests: file names must be distinct, got {[p.name for p in paths]}")
    digests: dict[str, str] = {}
    for path in sorted(paths, key=lambda p: p.name):
        sha = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                sha.update(chunk)
        digests[path.name] = sha.hexdigest()
    combined = hashlib.sha256("".join(f"{name}:{digest}\n" for name, digest in digests.items()).encode())
    digests["combined"] = combined.hexdigest()
    return digests
