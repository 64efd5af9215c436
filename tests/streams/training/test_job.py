"""From the live store to a served adapter set: snapshot, train, publish, list, show.

The tiny random Llama stands in for SmolLM2 (quality does not matter here); everything else is
the production path: the DuckDB store's snapshot export, the training job, the atomic writer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from serving.adapters import file_sha256, list_versions, read_current, read_manifest
from streams.cli import app
from streams.store import ClickRow, Store
from streams.training import read_snapshot, train_from_snapshot

from .factories import CONFIG


def test_snapshot_is_consistent_and_holds_no_raw_user_id(store: Store, tmp_path: Path) -> None:
    info = store.snapshots.export(tmp_path / "snap")
    assert info.watermark == info.interactions == 14 * 12
    # A click ingested after the export is not in it.
    store.ingest.clicks(
        "clicks", [ClickRow("late", "person-0", "1", "click", None, 10**9, 0, 10**6)], {0: 10**6 + 1}
    )
    rows = pq.read_table(tmp_path / "snap" / "interactions.parquet").to_pylist()
    assert len(rows) == info.interactions and "late" not in {r["event_id"] for r in rows}
    assert {r["user_key"] for r in rows} == {store.user_key(f"person-{u}") for u in range(14)}
    for name in ("interactions.parquet", "items.parquet", "summaries.parquet", "snapshot.json"):
        assert b"person-" not in (tmp_path / "snap" / name).read_bytes(), name


def test_summary_versions_carry_the_events_they_cover(store: Store, tmp_path: Path) -> None:
    work = store.summaries.work("person-3", 5, 1)
    assert work is not None
    saved = store.summaries.save(
        work, "likes dramas", mode="recurrent", model_name="m", model_version="1", latency_ms=1.0, prompt="p"
    )
    assert saved is not None
    store.snapshots.export(tmp_path / "snap")
    data = read_snapshot(tmp_path / "snap")
    user = next(u for u in data.users if u.user_key == store.user_key("person-3"))
    (summary,) = user.summaries
    covered = {e.event_id for e in user.events if e.seq <= work.through_seq}
    assert set(summary.covered_event_ids) == covered and len(covered) == 5
    assert summary.text == "likes dramas"


def test_train_publishes_a_complete_set_and_deletes_the_snapshot(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    info = store.snapshots.export(tmp_path / "snap")
    (root / ".tmp-v0001-deadbeef").mkdir(parents=True)  # a crashed writer's leftovers
    version = train_from_snapshot(tmp_path / "snap", root, tiny_model_dir, CONFIG)
    assert version == "v0001" and read_current(root) == "v0001" and list_versions(root) == ["v0001"]
    assert not (tmp_path / "snap").exists(), "the snapshot is personal data: deleted after training"
    assert not (root / ".tmp-v0001-deadbeef").exists()
    manifest = read_manifest(root, version)
    assert manifest["watermark"] == info.watermark
    assert manifest["base_model"]["name"] == tiny_model_dir.name
    assert len(manifest["shards"]) == 3
    for shard in manifest["shards"]:
        assert shard["sha256"] == file_sha256(root / version / shard["file"])
        assert len(shard["sample_ids_sha256"]) == 64
    assert set(manifest["conditions"]) >= {"threads", "torch", "transformers", "peft", "device"}
    assert sum(s["users"] for s in manifest["shards"]) > 0
    assert b"person-" not in (root / version / "validation.npz").read_bytes()
    assert (root / version / "training.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_retraining_the_same_data_reproduces_every_shard_file(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    store.snapshots.export(tmp_path / "a")
    first = train_from_snapshot(tmp_path / "a", root, tiny_model_dir, CONFIG)
    store.snapshots.export(tmp_path / "b")
    second = train_from_snapshot(tmp_path / "b", root, tiny_model_dir, CONFIG)
    one, two = read_manifest(root, first), read_manifest(root, second)
    assert two["previous"] == first
    assert [s["sha256"] for s in one["shards"]] == [s["sha256"] for s in two["shards"]]
    assert one["partition"] == two["partition"]
    # Not only the adapters: the validation index, item vectors, centroids and the curves are
    # the same bytes too (np.savez would stamp the time into every zip entry).
    names = sorted(p.name for p in (root / first).iterdir() if p.name != "manifest.json")
    assert {"validation.npz", "items.npz", "training.png"} <= set(names)
    assert names == sorted(p.name for p in (root / second).iterdir() if p.name != "manifest.json")
    for name in names:
        assert file_sha256(root / first / name) == file_sha256(root / second / name), name


def test_adapters_list_and_show(
    store: Store, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("STREAMREC_DATA_DIR", str(data_dir))
    runner = CliRunner()
    empty = runner.invoke(app, ["adapters", "list"])
    assert empty.exit_code == 0 and "zero-shot" in empty.output
    store.snapshots.export(tmp_path / "snap")
    version = train_from_snapshot(tmp_path / "snap", data_dir / "adapters", tiny_model_dir, CONFIG)
    listed = runner.invoke(app, ["adapters", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert version in listed.output and "semantic" in listed.output
    shown = runner.invoke(app, ["adapters", "show", version], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    manifest = read_manifest(data_dir / "adapters", version)
    assert manifest["shards"][0]["sha256"][:16] in shown.output
    as_json = runner.invoke(app, ["adapters", "show", version, "--json"])
    assert json.loads(as_json.output)["version"] == version
    missing = runner.invoke(app, ["adapters", "show", "v9999"])
    assert missing.exit_code == 1


def test_snapshot_and_set_record_the_deletions_already_purged(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """What a set cannot hold (purged before its export) is written down; later purges are not."""
    store.deletions.record("req-early", "person-1", None, 10**8)
    store.deletions.purge("req-early", "person-1", None, 10**8)
    store.snapshots.export(tmp_path / "snap")
    assert json.loads((tmp_path / "snap" / "snapshot.json").read_text())["purged_requests"] == ["req-early"]
    root = tmp_path / "adapters"
    version = train_from_snapshot(tmp_path / "snap", root, tiny_model_dir, CONFIG)
    store.deletions.record("req-late", "person-2", None, 10**8)
    store.deletions.purge("req-late", "person-2", None, 10**8)
    cut = json.loads((root / version / "data_cut.json").read_text())
    assert cut["purged_requests"] == ["req-early"] and cut["watermark"] == 14 * 12  # seq is global
