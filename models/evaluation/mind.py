"""MIND (behaviors.tsv + news.tsv) as an evaluation :class:`Dataset` with impression targets.

MIND ranks what was actually shown: each impression lists the news it displayed, clicked
(``-1``) or not (``-0``). A target here is one impression:

- positive: its first clicked news that has text in news.tsv;
- candidates: the positive plus its unclicked news that have text, at most ``n_negatives``
  of them (a seeded sample when there are more). Other clicked news are left out: they are
  neither the positive nor honest negatives. Impressions without a clicked and an unclicked
  news with text give no target.
- history: the user's clicks before the impression's time. The ``history`` column of
  behaviors.tsv holds clicks from before the dataset's time window and carries no
  timestamps, so those get ts 0 and keep their order; clicks inside impressions get the
  impression's time.

Per user, the latest impression with a target is the test target and the one before it the
validation target, mirroring the MovieLens protocol. Candidate counts vary with the
impression (pessimistic ranks still compare fairly).

Items are news: categories are (category, subcategory), the abstract is the description.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from models.evaluation.data import Dataset, Interaction, Target, natural_key
from models.evaluation.split import target_rng
from models.types import ItemText

__all__ = ["Impression", "load_mind", "parse_behaviors", "parse_news"]

_TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"  # "11/12/2019 2:14:46 PM"; no time zone, read as UTC


@dataclass(frozen=True)
class Impression:
    impression_id: str
    user_id: str
    ts: int  # epoch ms
    history: tuple[str, ...]
    shown: tuple[tuple[str, bool], ...]  # (news id, clicked)


def _rows(path: Path) -> list[list[str]]:
    csv.field_size_limit(sys.maxsize)  # abstracts and entity JSON can exceed the 128 KB default
    with open(path, newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]


def parse_news(path: Path) -> dict[str, ItemText]:
    """news.tsv: id, category, subcategory, title, abstract, url, title/abstract entities."""
    items: dict[str, ItemText] = {}
    for line, row in enumerate(_rows(path), start=1):
        if len(row) < 4:
            raise ValueError(f"{path}:{line}: expected at least 4 tab-separated columns, got {len(row)}")
        news_id, category, subcategory, title = row[:4]
        abstract = row[4].strip() if len(row) > 4 else ""
        if not title.strip():
            continue
        items[news_id] = ItemText(
            item_id=news_id,
            title=title.strip(),
            categories=tuple(c for c in (category.strip(), subcategory.strip()) if c),
            description=abstract or None,
        )
    return items


def parse_behaviors(path: Path) -> list[Impression]:
    """behaviors.tsv: impression id, user id, time, history, impressions (``N123-1``)."""
    impressions: list[Impression] = []
    for line, row in enumerate(_rows(path), start=1):
        if len(row) != 5:
            raise ValueError(f"{path}:{line}: expected 5 tab-separated columns, got {len(row)}")
        impression_id, user_id, time, history, shown = row
        try:
            ts = int(datetime.strptime(time.strip(), _TIME_FORMAT).replace(tzinfo=UTC).timestamp() * 1000)
            pairs = []
            for token in shown.split():
                news_id, _, label = token.rpartition("-")
                if not news_id or label not in ("0", "1"):
                    raise ValueError(f"bad impression entry {token!r}")
                pairs.append((news_id, label == "1"))
        except ValueError as exc:
            raise ValueError(f"{path}:{line}: {exc}") from None
        impressions.append(Impression(impression_id, user_id, ts, tuple(history.split()), tuple(pairs)))
    return impressions


def _histories(impressions: Sequence[Impression]) -> dict[str, tuple[Interaction, ...]]:
    per_user: dict[str, list[Impression]] = {}
    for imp in impressions:
        per_user.setdefault(imp.user_id, []).append(imp)
    histories: dict[str, tuple[Interaction, ...]] = {}
    for user in sorted(per_user, key=natural_key):
        own = sorted(per_user[user], key=lambda i: (i.ts, i.impression_id))
        before = list(dict.fromkeys(n for imp in own for n in imp.history))
        rows = [Interaction(item_id=n, ts=0, event_type="click") for n in before]
        rows += [
            Interaction(item_id=n, ts=imp.ts, event_type="click")
            for imp in own
            for n, clicked in imp.shown
            if clicked
        ]
        histories[user] = tuple(rows)
    return histories


def _target(
    imp: Impression,
    split: str,
    history: Sequence[Interaction],
    items: dict[str, ItemText],
    n_negatives: int,
    seed: int,
) -> Target:
    clicked = [n for n, c in imp.shown if c and n in items]
    unclicked = list(dict.fromkeys(n for n, c in imp.shown if not c and n in items and n not in clicked))
    if len(unclicked) > n_negatives:
        rng = target_rng(seed, imp.user_id, split)
        unclicked = [
            unclicked[k] for k in sorted(rng.choice(len(unclicked), size=n_negatives, replace=False))
        ]
    candidates = [clicked[0], *unclicked]
    order = target_rng(seed, imp.user_id, split, "order").permutation(len(candidates))
    return Target(
        user_id=imp.user_id,
        split=split,
        positive=clicked[0],
        candidates=tuple(candidates[k] for k in order),
        history=tuple(i for i in history if i.ts < imp.ts),
        cutoff_ts=imp.ts,
    )


def load_mind(path: Path, seed: int = 0, n_negatives: int = 20) -> Dataset:
    """Read ``path``/behaviors.tsv and ``path``/news.tsv; targets per the module docstring."""
    behaviors, news = path / "behaviors.tsv", path / "news.tsv"
    if not behaviors.is_file() or not news.is_file():
        raise FileNotFoundError(f"{path} does not look like MIND (needs behaviors.tsv and news.tsv)")
    items = parse_news(news)
    impressions = parse_behaviors(behaviors)
    histories = _histories(impressions)
    usable: dict[str, list[Impression]] = {}
    for imp in sorted(impressions, key=lambda i: (i.ts, i.impression_id)):
        has_positive = any(c and n in items for n, c in imp.shown)
        has_negative = any(not c and n in items for n, c in imp.shown)
        if has_positive and has_negative:
            usable.setdefault(imp.user_id, []).append(imp)
    targets: list[Target] = []
    for user in sorted(usable, key=natural_key):
        chosen = usable[user][-2:]
        splits = ("test",) if len(chosen) == 1 else ("validation", "test")
        targets += [
            _target(imp, s, histories[user], items, n_negatives, seed)
            for imp, s in zip(chosen, splits, strict=True)
        ]
    return Dataset(
        name="mind",
        items=items,
        histories=histories,
        sources=(behaviors, news),
        fixed_targets=tuple(targets),
        notes=(
            "MIND targets are impressions: the shown news with text are the candidates (at most "
            f"1 + {n_negatives}), so candidate counts vary.",
        ),
    )
