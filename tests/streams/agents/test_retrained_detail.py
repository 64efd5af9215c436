"""retrained_detail: the line a requester reads in the ``retrained`` deletion status.

It is the human evidence that the adapters were rebuilt without the data, so it must name each
retrained shard with its old and new file hashes, and say which shards were kept unchanged.
"""

from __future__ import annotations

from typing import Any

from streams.agents.unlearning import retrained_detail

OLD = "0123456789abcdef" + "0" * 48
NEW = "fedcba9876543210" + "f" * 48
KEPT = "aaaabbbbccccdddd" + "1" * 48


def shard(number: int, retrained: bool, old: str, new: str, seconds: float) -> dict[str, Any]:
    return {
        "shard": number,
        "retrained": retrained,
        "old_sha256": old,
        "new_sha256": new,
        "train_seconds": seconds,
    }


def detail(*shards: dict[str, Any], seconds: float | None = 42.4) -> dict[str, Any]:
    """Shaped like ``RetrainResult.as_dict()`` with the worker's ``version``."""
    out: dict[str, Any] = {
        "previous": "v0001",
        "version": "v0002",
        "dirty_high_water": 3,
        "shards": list(shards),
    }
    if seconds is not None:
        out["seconds"] = seconds
    return out


def test_names_the_retrained_shard_with_hash_prefixes() -> None:
    text = retrained_detail(detail(shard(2, True, OLD, NEW, 17.6), shard(0, False, KEPT, KEPT, 0.0)))
    assert "shard 2 0123456789ab -> fedcba987654 (18 s)" in text
    assert OLD not in text and NEW not in text, "prefixes only"
    assert "0123456789abc" not in text, "exactly 12 characters"


def test_names_the_sets() -> None:
    text = retrained_detail(detail(shard(1, True, OLD, NEW, 3.0)))
    assert text.startswith("adapter set v0001 retrained without the data as v0002: ")


def test_names_the_unchanged_shards() -> None:
    text = retrained_detail(
        detail(
            shard(0, False, KEPT, KEPT, 0.0), shard(1, True, OLD, NEW, 5.0), shard(3, False, KEPT, KEPT, 0.0)
        )
    )
    assert "shard(s) 0,3 unchanged (same sha256)" in text
    assert "shard 0 " not in text and "shard 3 " not in text, "kept shards are not listed as retrained"
    assert KEPT[:12] not in text


def test_several_retrained_shards_are_all_named() -> None:
    text = retrained_detail(detail(shard(0, True, OLD, NEW, 1.0), shard(4, True, NEW, OLD, 2.0)))
    assert "shard 0 0123456789ab -> fedcba987654 (1 s); shard 4 fedcba987654 -> 0123456789ab (2 s)" in text
    assert "unchanged" not in text


def test_says_every_file_was_kept_when_no_shard_retrained() -> None:
    text = retrained_detail(detail(shard(0, False, KEPT, KEPT, 0.0), shard(1, False, KEPT, KEPT, 0.0)))
    assert "no shard's training data had changed, every file kept" in text
    assert "->" not in text
    assert "unchanged (same sha256)" not in text


def test_gives_the_total_retrain_time_when_known() -> None:
    assert retrained_detail(detail(shard(1, True, OLD, NEW, 3.0))).endswith("; retrain 42 s")
    assert "retrain " not in retrained_detail(detail(shard(1, True, OLD, NEW, 3.0), seconds=None))


def test_an_empty_detail_still_reads() -> None:
    text = retrained_detail({})
    assert "every file kept" in text
