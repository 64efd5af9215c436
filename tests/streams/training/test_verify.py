"""``adapters verify``: a published set rebuilt from scratch on the retained data, byte for byte.

The tiny random Llama stands in for SmolLM2; the store, the snapshot export at a recorded cut,
the trainer and the file writer are the production path. The tests show that verification
passes for an untouched set even after the store moved on (new clicks, users, items and
summaries after training stay outside the cut), and that it fails, on exactly the right
artefacts, for a tampered file and for a set that still holds a deleted user.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from serving.adapters import read_manifest
from streams.cli import app
from streams.store import ClickRow, DataCut, ItemRow, Store
from streams.training import verify_set

from .factories import CONFIG, export_cut, publish


def add_summary(store: Store, user_id: str, text: str) -> None:
    work = store.summaries.work(user_id, 5, 1)
    assert work is not None
    saved = store.summaries.save(
        work, text, mode="recurrent", model_name="m", model_version="1", latency_ms=1.0, prompt=text
    )
    assert saved is not None


def shard_of(store: Store, root: Path, version: str, user_id: str) -> int:
    """The shard whose samples include ``user_id`` (the set's members file)."""
    rows = pq.read_table(root / version / "members.parquet").to_pylist()
    found = [r["shard"] for r in rows if r["user_key"] == store.user_key(user_id)]
    assert len(found) == 1, found
    return int(found[0])


def a_member(store: Store, root: Path, version: str) -> str:
    members = {r["user_key"] for r in pq.read_table(root / version / "members.parquet").to_pylist()}
    return next(f"person-{u}" for u in range(14) if store.user_key(f"person-{u}") in members)


def test_an_untouched_set_verifies_even_after_the_store_moved_on(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    add_summary(store, "person-2", "likes comedies")
    version = publish(store, root, tmp_path, tiny_model_dir)
    # After training: more clicks (old and new users), a new movie, a second summary version.
    store.ingest.items("items", [ItemRow("999", "A New Movie", None, ("Drama",), {})], {0: 2})
    late = [
        ClickRow(f"late-{k}", f"person-{k % 16}", "999", "rating", 5.0, 10**7 + k, 0, 10**5 + k)
        for k in range(20)
    ]
    store.ingest.clicks("clicks", late, {0: 10**5 + 20})
    add_summary(store, "person-2", "likes comedies and new movies")
    result = verify_set(export_cut(store, root, version, tmp_path / "cut"), root, version, tiny_model_dir)
    assert result.exact, [c for c in result.checks if not c.matches]
    names = {c.name for c in result.checks}
    assert {
        "shard-0.safetensors",
        "shard-2.safetensors",
        "shard-1 samples",
        "validation.npz",
        "weight rule",
    } <= names
    assert result.watermark == read_manifest(root, version)["watermark"]
    assert result.changed_conditions == {}
    assert not (tmp_path / "cut").exists(), "the exported snapshot is personal data: deleted"


def test_a_tampered_shard_file_fails_on_that_file_only(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    version = publish(store, root, tmp_path, tiny_model_dir)
    target = root / version / "shard-1.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    target.write_bytes(bytes(data))
    result = verify_set(export_cut(store, root, version, tmp_path / "cut"), root, version, tiny_model_dir)
    assert not result.exact
    failed = [c.name for c in result.checks if not c.matches]
    assert failed == ["shard-1.safetensors", "manifest sha256 = served files"]


def test_a_set_still_holding_a_deleted_user_fails_on_that_users_shard(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """The gap that retraining dirty shards closes: after a purge, the old set is not a rebuild."""
    root = tmp_path / "adapters"
    version = publish(store, root, tmp_path, tiny_model_dir)
    user = a_member(store, root, version)
    victim = shard_of(store, root, version, user)
    store.deletions.record("req-1", user, None, 10**8)
    store.deletions.purge("req-1", user, None, 10**8)
    result = verify_set(export_cut(store, root, version, tmp_path / "cut"), root, version, tiny_model_dir)
    failed = {c.name for c in result.checks if not c.matches}
    assert f"shard-{victim} samples" in failed and f"shard-{victim}.safetensors" in failed
    others = [k for k in range(CONFIG.shards) if k != victim]
    untouched = {f"shard-{k} samples" for k in others} | {f"shard-{k}.safetensors" for k in others}
    assert not failed & untouched, "a deletion must not change any other shard"


def test_verify_refuses_a_snapshot_outside_the_cut(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    root = tmp_path / "adapters"
    version = publish(store, root, tmp_path, tiny_model_dir)
    store.ingest.clicks(
        "clicks", [ClickRow("x", "person-1", "3", "click", None, 10**8, 0, 10**6)], {0: 10**6 + 1}
    )
    store.snapshots.export(tmp_path / "now")  # the current watermark, not the set's
    with pytest.raises(ValueError, match="watermark"):
        verify_set(tmp_path / "now", root, version, tiny_model_dir)


def test_verify_command_exits_0_when_exact_and_1_when_not(
    store: Store, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI path, with the worker's snapshot endpoint answered from the same store."""
    import streams.cli.adapters as adapters_cli

    data_dir = tmp_path / "data"
    monkeypatch.setenv("STREAMREC_DATA_DIR", str(data_dir))
    monkeypatch.setenv("STREAMREC_MODEL_PATH", str(tiny_model_dir))
    root = data_dir / "adapters"
    version = publish(store, root, tmp_path, tiny_model_dir)

    def worker_json(settings: object, path: str, payload: dict[str, object]) -> dict[str, object]:
        assert path == "/adapters/snapshot/"
        cut = DataCut(int(payload["watermark"]), dict(payload["summary_versions"]))  # type: ignore[call-overload,arg-type]
        info = store.snapshots.export(tmp_path / "cli-snap", cut)
        return {"path": info.path, "interactions": info.interactions, "summaries": info.summaries}

    monkeypatch.setattr(adapters_cli, "worker_json", worker_json)
    runner = CliRunner()
    ok = runner.invoke(app, ["adapters", "verify", version], env={"COLUMNS": "200"})
    assert ok.exit_code == 0, ok.output
    assert "verified" in ok.output and "NO" not in ok.output
    (root / version / "shard-0.safetensors").write_bytes(b"not the adapter")
    bad = runner.invoke(app, ["adapters", "verify", version], env={"COLUMNS": "200"})
    assert bad.exit_code == 1, bad.output
    assert "NOT what its recorded procedure gives" in bad.output
    missing = runner.invoke(app, ["adapters", "verify", "v9999"])
    assert missing.exit_code == 1
