"""Candidate retrieval: co-occurrence first, recent popularity fills, with a hand-computed answer.

The world (all ts relative to NOW, the newest event; catalog = items 1..9, "x" is uncatalogued):

* alice (the target) likes 1 and 2 and dislikes 9.
* bob likes 1, 2, 3 and x, and dislikes 8.   -> neighbour of alice, overlap 2
* carol likes 1, 2, 3, 4.                     -> neighbour, overlap 2
* erin likes 1 and 5.                         -> neighbour, overlap 1
* frank *dislikes* 1 and 2 and likes 6.       -> not a neighbour (dislikes are not evidence)
* gina rates 1 and 2 with 2.0, and 7 with 5.0 -> not a neighbour (ratings < 3 are not evidence)
* dave clicks 6 five times and 9 ten times recently, and 7 eight times long ago.

So for alice: co(3) = bob + carol = 4, co(4) = carol = 2, co(5) = erin = 1, co(6|7|8) = 0.
Recent popularity (window 100 s): 6 -> 6, 3 -> 2, 4/5/7/8 -> 1. With an all-time window 7 -> 9.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.store import Candidate, ClickRow, Store
from tests.streams.factories import add_items, click, ingest, item

NOW = 10_000_000
RECENT = NOW - 50_000
OLD = 1_000
WINDOW = 100_000
ALL_TIME = 10**12


def like(user: str, item_id: str) -> list[ClickRow]:
    return [click(user, item_id, RECENT, event_type="like")]


@pytest.fixture(scope="module")
def world() -> Iterator[Store]:
    """Built once per module: every test here only reads it."""
    store = Store(":memory:")
    add_items(store, *[str(i) for i in range(1, 10)])
    rows: list[ClickRow] = []
    for i in ("1", "2"):
        rows += like("alice", i)
    rows.append(click("alice", "9", RECENT + 1, event_type="dislike"))
    for i in ("1", "2", "3", "x"):
        rows += like("bob", i)
    rows.append(click("bob", "8", RECENT, event_type="dislike"))
    for i in ("1", "2", "3", "4"):
        rows += like("carol", i)
    for i in ("1", "5"):
        rows += like("erin", i)
    rows += [click("frank", i, RECENT, event_type="dislike") for i in ("1", "2")]
    rows += like("frank", "6")
    rows += [click("gina", i, RECENT, event_type="rating", rating=2.0) for i in ("1", "2")]
    rows.append(click("gina", "7", RECENT, event_type="rating", rating=5.0))
    rows += [click("dave", "6", RECENT + k, event_id=f"dave-6-{k}") for k in range(5)]
    rows += [click("dave", "9", RECENT + k, event_id=f"dave-9-{k}") for k in range(10)]
    rows += [click("dave", "7", OLD + k, event_id=f"dave-7-{k}") for k in range(8)]
    rows.append(click("zed", "1", NOW, event_id="newest"))  # pins "now" for the window
    ingest(store, rows)
    yield store
    store.close()


def ids(candidates: list[Candidate]) -> list[str]:
    return [c.item.item_id for c in candidates]


def by_id(candidates: list[Candidate]) -> dict[str, Candidate]:
    return {c.item.item_id: c for c in candidates}


def test_cooccurrence_first_then_popularity(world: Store) -> None:
    """n=4 -> 3 co-occurrence slots (3, 4, 5 by score), then the most popular remaining item."""
    assert ids(world.retrieval.candidates("alice", 4, popularity_window_ms=WINDOW)) == ["3", "4", "5", "6"]


def test_cooccurrence_scores_are_the_hand_computed_ones(world: Store) -> None:
    """co(c) = sum over seeds of #users who liked both; dislikes and low ratings add nothing."""
    found = by_id(world.retrieval.candidates("alice", 10, popularity_window_ms=WINDOW))
    assert {i: c.cooccurrence for i, c in found.items()} == {
        "3": 4.0,
        "4": 2.0,
        "5": 1.0,
        "6": 0.0,  # frank disliked the seeds
        "7": 0.0,  # gina rated the seeds 2.0
        "8": 0.0,  # bob only disliked 8
    }


def test_popularity_counts_recent_events_only(world: Store) -> None:
    """The window is in event time relative to the newest event: dave's old clicks on 7 drop out."""
    recent = by_id(world.retrieval.candidates("alice", 10, popularity_window_ms=WINDOW))
    assert recent["6"].popularity == 6.0
    assert recent["7"].popularity == 1.0
    assert recent["3"].popularity == 2.0
    all_time = by_id(world.retrieval.candidates("alice", 10, popularity_window_ms=ALL_TIME))
    assert all_time["7"].popularity == 9.0


def test_window_changes_which_popular_item_fills_the_slot(world: Store) -> None:
    """With an all-time window, 7 (9 events) beats 6 (6 events) for the popularity slot."""
    assert ids(world.retrieval.candidates("alice", 4, popularity_window_ms=ALL_TIME)) == ["3", "4", "5", "7"]


def test_excludes_seen_items_including_dislikes(world: Store) -> None:
    """alice's liked 1, 2 and disliked 9 (the most popular item) are never candidates."""
    found = ids(world.retrieval.candidates("alice", 100, popularity_window_ms=WINDOW))
    assert not {"1", "2", "9"} & set(found)


def test_only_catalogued_items(world: Store) -> None:
    """'x' co-occurs with alice's seeds (bob liked it) but has no catalog entry."""
    assert "x" not in ids(world.retrieval.candidates("alice", 100, popularity_window_ms=WINDOW))


def test_returns_every_unseen_catalogued_item_when_n_is_large(world: Store) -> None:
    """Zero-signal items still fill slots; the order is co-occurrence, then popularity, then id."""
    assert ids(world.retrieval.candidates("alice", 100, popularity_window_ms=WINDOW)) == [
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_never_more_than_n(world: Store, n: int) -> None:
    """Exactly min(n, #unseen catalogued items) candidates, without duplicates."""
    found = ids(world.retrieval.candidates("alice", n, popularity_window_ms=WINDOW))
    assert len(found) == min(n, 6)
    assert len(set(found)) == len(found)


def test_small_n_prefers_cooccurrence(world: Store) -> None:
    """n=1 gives the single best co-occurring item."""
    assert ids(world.retrieval.candidates("alice", 1, popularity_window_ms=WINDOW)) == ["3"]


def test_is_deterministic(world: Store) -> None:
    """The same state gives the same list (ties broken by item id)."""
    first = world.retrieval.candidates("alice", 5, popularity_window_ms=WINDOW)
    assert all(world.retrieval.candidates("alice", 5, popularity_window_ms=WINDOW) == first for _ in range(3))


def test_cold_user_gets_pure_popularity(world: Store) -> None:
    """A user without history gets the catalog by recent popularity, ties by item id."""
    found = world.retrieval.candidates("newcomer", 4, popularity_window_ms=WINDOW)
    # Recent counts: 9 -> 11 (dave 10 + alice), 1 -> 7 (6 users + zed), 2 -> 5, 6 -> 6.
    assert ids(found) == ["9", "1", "6", "2"]
    assert all(c.cooccurrence == 0.0 for c in found)
    assert [c.popularity for c in found] == [11.0, 7.0, 6.0, 5.0]


def test_candidate_carries_item_text(store: Store) -> None:
    """Candidates carry the catalog text the prompt needs."""
    store.ingest.items("items", [item("m1", "Heat (1995)", ["Action", "Crime"])], {})
    (candidate,) = store.retrieval.candidates("anyone", 3, popularity_window_ms=WINDOW)
    assert candidate.item.item_id == "m1"
    assert candidate.item.title == "Heat (1995)"
    assert candidate.item.categories == ("Action", "Crime")


def test_empty_catalog_gives_no_candidates(store: Store) -> None:
    """No items, nothing to retrieve (even with interactions)."""
    ingest(store, [click("u", "a", 1)])
    assert store.retrieval.candidates("u", 5, popularity_window_ms=WINDOW) == []


def test_seen_everything_gives_no_candidates(store: Store) -> None:
    """A user who interacted with the whole catalog gets nothing."""
    add_items(store, "a", "b")
    ingest(store, [click("u", "a", 1), click("u", "b", 2, event_type="dislike")])
    assert store.retrieval.candidates("u", 5, popularity_window_ms=WINDOW) == []
