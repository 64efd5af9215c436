"""Summary chains in DuckDB: contiguous versions, no interaction skipped or covered twice,
optimistic saves, and deletion invalidating every version derived from deleted data."""

from __future__ import annotations

from streams.store import Store, SummaryWork
from tests.streams.factories import add_items, click, ingest

B = 5


def _clicks(store: Store, user: str, n: int, start: int = 0) -> None:
    ingest(store, [click(user, f"i{k}", 1000 + k) for k in range(start, start + n)])


def _save(store: Store, work: SummaryWork, text: str = "") -> int | None:
    row = store.summaries.save(
        work,
        text or f"summary {work.next_version}",
        mode="recurrent",
        model_name="m",
        model_version="1",
        latency_ms=1.0,
        prompt=f"prompt for {work.user_id} v{work.next_version}",
    )
    return None if row is None else row.version


def test_work_is_whole_blocks_in_ingestion_order(store: Store) -> None:
    add_items(store, *(f"i{k}" for k in range(12)))
    _clicks(store, "u", 12)
    assert store.summaries.users_with_pending_blocks(B, 10) == [("u", 12)]
    assert store.summaries.backlog_blocks(B) == 2
    work = store.summaries.work("u", B, max_blocks=1)
    assert work is not None and work.previous is None and work.blocks == 1
    assert [e.item.item_id for e in work.entries] == ["i0", "i1", "i2", "i3", "i4"]
    assert list(work.seqs) == sorted(work.seqs)
    folded = store.summaries.work("u", B, max_blocks=8)
    assert folded is not None and folded.blocks == 2 and len(folded.entries) == 10  # 2 left over


def test_chain_is_contiguous_and_covers_each_interaction_once(store: Store) -> None:
    _clicks(store, "u", 12)  # uncatalogued items are still part of the chain
    first = store.summaries.work("u", B, 1)
    assert first is not None and first.entries[0].item.title == "item i0"
    assert _save(store, first) == 1
    second = store.summaries.work("u", B, 1)
    assert second is not None and second.previous is not None and second.previous.version == 1
    assert second.first_seq > first.through_seq
    assert _save(store, second) == 2
    assert store.summaries.work("u", B, 1) is None  # 2 interactions left: no complete block
    chain = store.summaries.chain("u")
    assert [r.version for r in chain] == [1, 2]
    assert [r.interactions_covered for r in chain] == [5, 10]
    assert chain[1].first_seq == chain[0].through_seq + 1
    assert store.summaries.backlog_blocks(B) == 0
    assert store.pending.due(10)[0].user_id == "u"  # re-rank with the new summary


def test_a_stale_update_is_discarded(store: Store) -> None:
    _clicks(store, "u", 10)
    work = store.summaries.work("u", B, 1)
    assert work is not None
    assert _save(store, work) == 1
    assert _save(store, work) is None, "the same update saved twice would cover a block twice"


def test_update_is_discarded_when_its_interactions_were_deleted_meanwhile(store: Store) -> None:
    _clicks(store, "u", 5)
    work = store.summaries.work("u", B, 1)
    assert work is not None
    store.deletions.record("r1", "u", ["i2"], 10**12)
    store.deletions.purge("r1", "u", ["i2"], 10**12)
    assert _save(store, work) is None


def test_partial_deletion_drops_versions_derived_from_deleted_data(store: Store) -> None:
    _clicks(store, "u", 15)
    for _ in range(3):
        work = store.summaries.work("u", B, 1)
        assert work is not None
        _save(store, work)
    # i7 is in block 2: versions 2 and 3 derive from it, version 1 does not.
    store.deletions.record("r1", "u", ["i7"], 10**12)
    result = store.deletions.purge("r1", "u", ["i7"], 10**12)
    assert result.summaries_invalidated == 2
    # The whole chain goes, to be rebuilt from scratch from the retained interactions.
    assert store.summaries.chain("u") == []
    work = store.summaries.work("u", B, 8)
    assert work is not None and work.previous is None
    assert "i7" not in [e.item.item_id for e in work.entries]
    assert [e.item.item_id for e in work.entries] == [f"i{k}" for k in range(15) if k != 7][:10]


def test_full_deletion_removes_every_summary(store: Store) -> None:
    _clicks(store, "u", 5)
    _clicks(store, "v", 5)
    for user in ("u", "v"):
        work = store.summaries.work(user, B, 1)
        assert work is not None
        _save(store, work, text=f"{user} likes dramas")
    store.deletions.record("r1", "u", None, 10**12)
    assert store.deletions.purge("r1", "u", None, 10**12).summaries_invalidated == 1
    assert store.summaries.chain("u") == [] and store.audit.rows_mentioning("u") == {}
    assert [r.summary for r in store.summaries.chain("v")] == ["v likes dramas"]


def test_deleting_unsummarized_interactions_keeps_the_chain(store: Store) -> None:
    _clicks(store, "u", 8)
    work = store.summaries.work("u", B, 1)
    assert work is not None
    _save(store, work)
    store.deletions.record("r1", "u", ["i6"], 10**12)  # i6 is not covered by version 1
    assert store.deletions.purge("r1", "u", ["i6"], 10**12).summaries_invalidated == 0
    assert [r.version for r in store.summaries.chain("u")] == [1]


def test_versions_record_the_hash_of_their_prompt(store: Store) -> None:
    import hashlib

    _clicks(store, "u", 5)
    work = store.summaries.work("u", B, 1)
    assert work is not None
    _save(store, work)
    expected = hashlib.sha256(b"prompt for u v1").hexdigest()
    assert store.summaries.chain("u")[0].prompt_sha256 == expected
