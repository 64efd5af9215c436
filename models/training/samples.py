"""TALLRec-style yes/no training samples, built from one user's own data, with provenance.

A **group** is one user context (the prompt prefix exactly as serving renders it) and the
candidates that share it: a liked target with its sampled negatives, or an explicit dislike on
its own. A **sample** is one (context, candidate, label) triple of a group. Groups are the unit
of shared-prefix training: the context runs once for all of its candidates.

Why every rule below is a function of the user's own events (plus the catalog and a seed):
exact unlearning retrains a shard from scratch on the retained data and must reproduce the
served adapter byte for byte. If building one user's samples looked at other users, deleting
someone would change everyone's samples.

* **Positives**: a rating >= ``like_rating``, a ``like``, or a ``click`` when the user has no
  ratings at all (click-only feedback). **Explicit negatives**: a rating <= ``dislike_rating``
  or a ``dislike``. Other events only appear as context.
* **Context**: the user's events strictly before the target's timestamp (same-second events
  are excluded, as in the offline split), catalogued items only, newest ``max_recent`` shown;
  plus the newest summary whose coverage ends before the target, when one is given.
* **Sampled negatives**: ``negatives_per_positive`` catalog items the user never touched,
  drawn uniformly by a generator seeded with (seed, user key, target event id).
* **Cap**: at most ``max_targets_per_user`` targets per user, chosen by a generator seeded
  with (seed, user key), so heavy users do not dominate a shard.
* **Validation**: each user's newest selected target goes to validation (if the user has at
  least two), the rest to training, so a shard early-stops on its own users only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.prompts import PromptConfig, build_candidate, build_context
from models.types import HistoryEntry, ItemText

__all__ = [
    "SampleConfig",
    "TrainingEvent",
    "SummaryVersion",
    "UserData",
    "Sample",
    "SampleGroup",
    "build_user_groups",
    "liked_items",
    "seeded_rng",
]


def seeded_rng(*parts: object) -> np.random.Generator:
    """A numpy generator that depends only on ``parts`` (stable across runs and platforms)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng([int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)])


@dataclass(frozen=True)
class SampleConfig:
    """How samples are drawn from a user's history; every field goes into the adapter manifest."""

    negatives_per_positive: int = 3  # cheap with shared prefixes; 1 positive vs 20 at serving
    max_targets_per_user: int = 8  # heavy users would otherwise dominate a shard
    like_rating: float = 4.0  # LLM-TRSR and the offline split: rating >= 4 is a like
    dislike_rating: float = 2.0  # rating <= 2 is an explicit dislike
    max_recent: int = 5  # the worker's STREAMREC_RECENT_ITEMS: the context serving builds
    max_title_chars: int = 120  # PromptConfig's default
    validation: bool = True  # hold out each user's newest target
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("negatives_per_positive", "max_targets_per_user", "max_recent", "max_title_chars"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < (0 if "negatives" in name else 1)
            ):
                lowest = 0 if "negatives" in name else 1
                raise ValueError(f"SampleConfig.{name} must be an integer >= {lowest}, got {value!r}")
        if not self.dislike_rating < self.like_rating:
            raise ValueError(
                f"SampleConfig.dislike_rating ({self.dislike_rating!r}) must be below like_rating "
                f"({self.like_rating!r})"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"SampleConfig.seed must be an integer >= 0, got {self.seed!r}")

    @property
    def prompt(self) -> PromptConfig:
        return PromptConfig(max_recent=self.max_recent, max_title_chars=self.max_title_chars)


@dataclass(frozen=True)
class TrainingEvent:
    """One stored interaction, as the snapshot exports it (``event_id`` is its provenance)."""

    event_id: str
    item_id: str
    event_type: str
    rating: float | None
    ts: int
    seq: int  # ingestion order; summaries cover a prefix of it


@dataclass(frozen=True)
class SummaryVersion:
    """One stored summary version and the events its chain covers (all of them derive it)."""

    version: int
    text: str
    covered_event_ids: tuple[str, ...]
    through_ts: int  # the newest ts among the covered events


@dataclass(frozen=True)
class UserData:
    """Everything a user's samples may depend on, keyed by the salted user key, never the id."""

    user_key: str
    events: tuple[TrainingEvent, ...]  # any order; sorted by (ts, seq) here
    summaries: tuple[SummaryVersion, ...] = ()


@dataclass(frozen=True)
class Sample:
    sample_id: str  # sha256 of (user key, target event, candidate item)
    candidate: str  # the prompt suffix, exactly as serving builds it
    item_id: str
    label: int  # 1 = Yes, 0 = No


@dataclass(frozen=True)
class SampleGroup:
    """One context and its candidates, with every interaction the group derives from."""

    user_key: str
    target_event_id: str
    context: str
    samples: tuple[Sample, ...]
    context_event_ids: tuple[str, ...]  # the history shown in the context
    summary_event_ids: tuple[str, ...]  # the events the summary in the context covers
    summary_version: int | None
    split: str  # train | validation
    context_item_ids: tuple[str, ...]  # for the context embedding (sample-adaptive weights)

    @property
    def derived_from(self) -> frozenset[str]:
        """Every event id this group's samples derive from: target, context, summary."""
        return frozenset((self.target_event_id, *self.context_event_ids, *self.summary_event_ids))


def _label(event: TrainingEvent, config: SampleConfig, has_ratings: bool) -> int | None:
    """1 for a like, 0 for an explicit dislike, None for an event that is only context."""
    if event.event_type == "rating" and event.rating is not None:
        if event.rating >= config.like_rating:
            return 1
        if event.rating <= config.dislike_rating:
            return 0
        return None
    if event.event_type == "like" or (event.event_type == "click" and not has_ratings):
        return 1
    if event.event_type == "dislike":
        return 0
    return None


def liked_items(user: UserData, config: SampleConfig) -> list[str]:
    """The items the user liked (the positives' rule), oldest first: the semantic partition's input."""
    has_ratings = any(e.event_type == "rating" for e in user.events)
    events = sorted(user.events, key=lambda e: (e.ts, e.seq))
    return [e.item_id for e in events if _label(e, config, has_ratings) == 1]


def _sample_id(user_key: str, event_id: str, item_id: str) -> str:
    return hashlib.sha256(f"{user_key}\x1f{event_id}\x1f{item_id}".encode()).hexdigest()


def build_user_groups(
    user: UserData, catalog: Mapping[str, ItemText], catalog_order: Sequence[str], config: SampleConfig
) -> list[SampleGroup]:
    """Every sample group of one user, in target time order.

    ``catalog_order`` is the catalog's item ids in a fixed order (the negative-sampling
    universe); ``catalog`` gives their text. Targets whose item is not catalogued, or with no
    catalogued history before them, yield no group.
    """
    events = sorted(user.events, key=lambda e: (e.ts, e.seq))
    has_ratings = any(e.event_type == "rating" for e in events)
    touched = {e.item_id for e in events}
    prompt = config.prompt
    catalogued_ts = [e.ts for e in events if e.item_id in catalog]
    first_ts = min(catalogued_ts) if catalogued_ts else None
    eligible: list[tuple[int, int]] = []  # (index into events, label)
    for index, event in enumerate(events):
        label = _label(event, config, has_ratings)
        if label is None or event.item_id not in catalog:
            continue
        if first_ts is None or first_ts >= event.ts:  # nothing catalogued strictly before it
            continue
        eligible.append((index, label))
    if len(eligible) > config.max_targets_per_user:
        rng = seeded_rng("targets", config.seed, user.user_key)
        keep = sorted(rng.choice(len(eligible), size=config.max_targets_per_user, replace=False).tolist())
        eligible = [eligible[k] for k in keep]
    pool = [item for item in catalog_order if item not in touched]
    groups: list[SampleGroup] = []
    for position, (index, label) in enumerate(eligible):
        target = events[index]
        before = [e for e in events if e.ts < target.ts and e.item_id in catalog]
        shown = before[-config.max_recent :]
        history = [
            HistoryEntry(item=catalog[e.item_id], event_type=e.event_type, rating=e.rating, ts=e.ts)
            for e in shown
        ]
        summary = max(
            (s for s in user.summaries if s.through_ts < target.ts), key=lambda s: s.version, default=None
        )
        context = build_context(history, prompt, summary=summary.text if summary else None)
        items = [target.item_id]
        if label == 1 and config.negatives_per_positive and pool:
            rng = seeded_rng("negatives", config.seed, user.user_key, target.event_id)
            size = min(config.negatives_per_positive, len(pool))
            items += [pool[j] for j in sorted(rng.choice(len(pool), size=size, replace=False).tolist())]
        samples = tuple(
            Sample(
                sample_id=_sample_id(user.user_key, target.event_id, item),
                candidate=build_candidate(catalog[item], prompt),
                item_id=item,
                label=label if item == target.item_id else 0,
            )
            for item in items
        )
        is_validation = config.validation and len(eligible) > 1 and position == len(eligible) - 1
        groups.append(
            SampleGroup(
                user_key=user.user_key,
                target_event_id=target.event_id,
                context=context,
                samples=samples,
                context_event_ids=tuple(e.event_id for e in shown),
                summary_event_ids=summary.covered_event_ids if summary else (),
                summary_version=summary.version if summary else None,
                split="validation" if is_validation else "train",
                context_item_ids=tuple(e.item_id for e in shown),
            )
        )
    return groups
