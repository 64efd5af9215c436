"""Pure helpers of the recommend task (``rank``, ``popularity_scores``) and the output contract."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from models.types import ItemText
from streams.agents import popularity_scores, rank
from streams.contracts import Recommendation
from streams.store import Candidate


def cands(*item_ids: str, pop: list[float] | None = None, co: list[float] | None = None) -> list[Candidate]:
    pop = pop or [0.0] * len(item_ids)
    co = co or [0.0] * len(item_ids)
    return [
        Candidate(item=ItemText(item_id=i, title=f"T{i}"), cooccurrence=c, popularity=p)
        for i, p, c in zip(item_ids, pop, co, strict=True)
    ]


# -- rank ----------------------------------------------------------------------------------


def test_rank_sorts_by_score_descending_with_ranks_from_one() -> None:
    """The highest score is rank 1; scores are carried as floats."""
    ranked = rank(cands("a", "b", "c", "d"), np.array([0.1, 0.9, 0.5, 0.7], dtype=np.float32), k=4)
    assert [(r.item_id, r.rank) for r in ranked] == [("b", 1), ("d", 2), ("c", 3), ("a", 4)]
    assert ranked[0].score == pytest.approx(0.9)
    assert all(isinstance(r.score, float) for r in ranked)


def test_rank_ties_keep_retrieval_order() -> None:
    """Equal scores keep the candidates' order (a stable sort), so output is deterministic."""
    ranked = rank(cands("z", "a", "m", "b"), np.array([0.5, 0.5, 0.9, 0.5]), k=4)
    assert [r.item_id for r in ranked] == ["m", "z", "a", "b"]


@pytest.mark.parametrize(("k", "expected"), [(0, []), (1, ["b"]), (2, ["b", "c"]), (10, ["b", "c", "a"])])
def test_rank_k_bounds(k: int, expected: list[str]) -> None:
    """At most k items; k larger than the candidates returns all of them."""
    ranked = rank(cands("a", "b", "c"), np.array([0.1, 0.9, 0.5]), k=k)
    assert [r.item_id for r in ranked] == expected
    assert [r.rank for r in ranked] == list(range(1, len(expected) + 1))


def test_rank_output_is_a_valid_recommendation() -> None:
    """What rank returns passes the Recommendation contract's ordering checks."""
    items = rank(cands("a", "b", "c"), np.array([0.3, 0.3, 0.8]), k=3)
    rec = Recommendation(**recommendation_fields(items=[i.model_dump() for i in items]))
    assert [i.item_id for i in rec.items] == ["c", "a", "b"]


# -- popularity_scores -------------------------------------------------------------------------


def test_popularity_scores_are_in_unit_interval_and_float32() -> None:
    """Fallback scores look like probabilities: in [0, 1], the most popular item scores 1."""
    scores = popularity_scores(cands("a", "b", "c", pop=[3.0, 12.0, 0.0], co=[5.0, 5.0, 0.0]))
    assert scores.dtype == np.float32
    assert scores.shape == (3,)
    assert ((scores >= 0.0) & (scores <= 1.0)).all()
    assert scores[1] == pytest.approx(1.0)
    assert scores[2] == pytest.approx(0.0)


def test_popularity_scores_are_monotone_in_popularity() -> None:
    """With equal co-occurrence, more popular means a strictly higher score."""
    pops = [0.0, 1.0, 2.0, 5.0, 40.0]
    scores = popularity_scores(cands("a", "b", "c", "d", "e", pop=pops, co=[1.0] * 5))
    assert list(np.argsort(scores)) == [0, 1, 2, 3, 4]
    assert len(set(scores.tolist())) == 5


def test_popularity_scores_break_ties_with_cooccurrence() -> None:
    """Equal popularity: the item with more co-occurrence ranks higher."""
    scores = popularity_scores(cands("a", "b", pop=[4.0, 4.0], co=[1.0, 3.0]))
    assert scores[1] > scores[0]


def test_popularity_scores_without_signal_are_zero() -> None:
    """No popularity and no co-occurrence: all zeros, not NaN from a 0/0."""
    scores = popularity_scores(cands("a", "b"))
    assert scores.tolist() == [0.0, 0.0]


def test_cooccurrence_orders_equally_popular_items() -> None:
    """Among equally popular items, the one related to the user's history ranks first, while
    a clearly more popular item still beats a related but unpopular one."""
    tie = popularity_scores(cands("plain", "related", pop=[10.0, 10.0], co=[0.0, 5.0]))
    assert tie[1] > tie[0]
    gap = popularity_scores(cands("popular", "related", pop=[10.0, 2.0], co=[0.0, 5.0]))
    assert gap[0] > gap[1]


# -- Recommendation contract ---------------------------------------------------------------------


def recommendation_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "schema_version": 1,
        "user_id": "u1",
        "items": [
            {"item_id": "a", "score": 0.9, "rank": 1},
            {"item_id": "b", "score": 0.5, "rank": 2},
            {"item_id": "c", "score": 0.5, "rank": 3},
        ],
        "model": {"name": "smollm2-lora", "version": "3"},
        "trigger_event_id": "e1",
        "generated_at": 1_700_000_000_000,
        "latency_ms": 12.5,
        "fallback": False,
    }
    return {**fields, **changes}


def test_valid_recommendation_is_accepted() -> None:
    """Sorted items with ranks 1..K (ties allowed) pass; an empty list is a valid top-0."""
    rec = Recommendation(**recommendation_fields())
    assert [i.rank for i in rec.items] == [1, 2, 3]
    assert Recommendation(**recommendation_fields(items=[])).items == []


@pytest.mark.parametrize(
    ("items", "match"),
    [
        (
            [{"item_id": "a", "score": 0.2, "rank": 1}, {"item_id": "b", "score": 0.8, "rank": 2}],
            "sorted by score descending",
        ),
        (
            [{"item_id": "a", "score": 0.9, "rank": 2}, {"item_id": "b", "score": 0.8, "rank": 3}],
            "ranks must be 1..K",
        ),
        (
            [{"item_id": "a", "score": 0.9, "rank": 1}, {"item_id": "b", "score": 0.8, "rank": 1}],
            "ranks must be 1..K",
        ),
        (
            [{"item_id": "a", "score": 0.9, "rank": 1}, {"item_id": "b", "score": 0.8, "rank": 3}],
            "ranks must be 1..K",
        ),
        ([{"item_id": "a", "score": 0.9, "rank": 0}], "greater than or equal to 1"),
    ],
)
def test_recommendation_rejects_unsorted_items_or_bad_ranks(items: list[dict[str, Any]], match: str) -> None:
    """Consumers can trust the order: the contract refuses anything else."""
    with pytest.raises(ValidationError, match=match):
        Recommendation(**recommendation_fields(items=items))


# -- scoring never uses a dirty shard ----------------------------------------------------------


class MarkingClient:
    """A Triton stand-in: weights every non-excluded shard; the first call lands a purge mid-flight."""

    def __init__(self, store: Any, shards: int = 4) -> None:
        self.store = store
        self.shards = shards
        self.excluded_seen: list[list[int]] = []

    async def score_many(self, requests: Any, excluded_shards: Any = ()) -> Any:
        from serving.client import ScoreResult

        self.excluded_seen.append(list(excluded_shards))
        if len(self.excluded_seen) == 1:  # a deletion's purge commits while this request scores
            await self.store.run(lambda s: s.dirty.mark([2], "v0001", "req-1"))
        usable = [k for k in range(self.shards) if k not in excluded_shards]
        weights = tuple(1.0 / len(usable) if k in usable else 0.0 for k in range(self.shards))
        return [
            ScoreResult(np.full(len(r.candidates), 0.5, np.float32), "m", "1", 1.0, "v0001", weights)
            for r in requests
        ]


def test_an_answer_that_used_a_shard_marked_meanwhile_is_scored_again(tmp_path: Any) -> None:
    import asyncio

    from models.prompts import PromptConfig
    from serving.client import ScoreRequest
    from streams.agents import Runtime
    from streams.agents.recommend import Recommender
    from streams.settings import Settings
    from streams.store import AsyncStore

    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path)
        (settings.adapters_dir / "v0001").mkdir(parents=True)
        manifest = {"format": 1, "shards": [{} for _ in range(4)]}
        (settings.adapters_dir / "v0001" / "manifest.json").write_text(json.dumps(manifest))
        (settings.adapters_dir / "v0001" / "data_cut.json").write_text(json.dumps({"purged_requests": []}))
        runtime = Runtime(settings=settings, store=AsyncStore(str(tmp_path / "db.duckdb")))
        await runtime.store.run(lambda s: s.dirty.mark([0], "v0001", "req-0"))  # dirty before the request
        client = MarkingClient(runtime.store)
        recommender = Recommender(runtime, None, client, PromptConfig())  # type: ignore[arg-type]
        requests = [ScoreRequest("ctx", ("a", "b"), ("i",)), ScoreRequest("ctx2", ("c",), ())]
        results = await recommender.score_clean(requests)
        assert results is not None and len(results) == 2
        assert client.excluded_seen == [[0], [0, 2]], "the second call excludes the shard marked meanwhile"
        for result in results:
            assert result.shard_weights[0] == 0.0 and result.shard_weights[2] == 0.0
        runtime.store.close()

    asyncio.run(scenario())
