"""Which shards of the served set hold a user: what a deletion marks dirty."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from serving.adapters import MANIFEST, set_current, shards_holding


def make_set(root: Path, version: str, members: dict[str, int] | None, shards: int = 4) -> None:
    (root / version).mkdir(parents=True)
    (root / version / MANIFEST).write_text(json.dumps({"format": 1, "shards": [{} for _ in range(shards)]}))
    if members is not None:
        table = pa.table(
            {
                "user_key": pa.array(list(members), pa.string()),
                "shard": pa.array(list(members.values()), pa.int32()),
                "samples": pa.array([4] * len(members), pa.int32()),
            }
        )
        pq.write_table(table, root / version / "members.parquet")
    set_current(root, version)


def test_no_served_set_holds_nobody(tmp_path: Path) -> None:
    assert shards_holding(tmp_path, "k1") is None


def test_the_current_sets_members_decide(tmp_path: Path) -> None:
    make_set(tmp_path, "v0001", {"k1": 2, "k2": 0})
    make_set(tmp_path, "v0002", {"k1": 3})
    assert shards_holding(tmp_path, "k1") == ("v0002", (3,))
    assert shards_holding(tmp_path, "k2") == ("v0002", ()), "k2 has no samples in the served set"


def test_a_set_without_a_members_file_counts_every_shard(tmp_path: Path) -> None:
    """Excluding too much is safe; serving deleted data is not."""
    make_set(tmp_path, "v0001", None, shards=3)
    assert shards_holding(tmp_path, "anyone") == ("v0001", (0, 1, 2))
