"""The trainer's decisions and its ticks, with the worker's endpoints answered from a real store.

The decisions are pure (marks and clocks in, an action out), so the debounce and the
crash-resume rule ("a published set that covers the marks is only reported") are tested
directly. The ticks run the production retrain and refresh on the tiny model; only the HTTP
hop to the worker is replaced by calls into the same store the worker would use.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from serving.adapters import read_current, read_manifest
from streams.store import ClickRow, DataCut, ShardsHolding, Store
from streams.training import read_data_cut, train_from_snapshot
from streams.training.scheduler import Trainer, refresh_due, unlearn_decision
from streams.training.trainer_config import TrainerConfig

from .factories import CONFIG

CFG = TrainerConfig(debounce_s=30, max_delay_s=600)


def mark(mark_id: int, at_ms: int) -> dict[str, Any]:
    return {"mark_id": mark_id, "marked_at": at_ms, "shard": 0}


def test_no_marks_is_idle_and_a_covered_mark_is_only_reported() -> None:
    assert unlearn_decision([], 0, 10**6, CFG) == "idle"
    # The current set was published from a snapshot after mark 2 (the trainer died before
    # telling the worker): no retrain, just the report.
    assert unlearn_decision([mark(1, 0), mark(2, 0)], 2, 10**6, CFG) == "notify"
    assert unlearn_decision([mark(1, 0), mark(3, 0)], 2, 10**9, CFG) == "retrain"


def test_the_debounce_waits_for_a_quiet_window_but_not_forever() -> None:
    now = 1_000_000_000
    burst = [mark(1, now - 20_000), mark(2, now - 5_000)]
    assert unlearn_decision(burst, 0, now, CFG) == "wait", "a mark 5 s ago: the burst may go on"
    assert unlearn_decision(burst, 0, now + 25_000, CFG) == "retrain", "30 s quiet"
    trickle = [mark(k, now - 600_000 + k * 10_000) for k in range(61)]  # one every 10 s
    assert unlearn_decision(trickle, 0, now + 1, CFG) == "retrain", "max_delay_s reached"


def test_refresh_is_due_on_growth_or_age_and_never_without_new_data() -> None:
    config = TrainerConfig(refresh_growth=0.5, refresh_age_s=3600)
    assert refresh_due(100, 100, 10**6, config) is None
    assert refresh_due(100, 149, 10, config) is None
    assert "grew by 50%" in str(refresh_due(100, 150, 10, config))
    assert "old" in str(refresh_due(100, 101, 3600, config))
    assert refresh_due(100, 200, 10**6, TrainerConfig(refresh_growth=0, refresh_age_s=0)) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"debounce_s": -1},
        {"poll_s": 0},
        {"max_delay_s": 1, "debounce_s": 5},
        {"refresh_growth": float("nan")},
    ],
)
def test_the_config_refuses_nonsense(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TrainerConfig(**changes)


def test_config_from_env_reads_the_variables() -> None:
    config = TrainerConfig.from_env({"STREAMREC_RETRAIN_DEBOUNCE_S": "2.5", "STREAMREC_REFRESH_GROWTH": "0"})
    assert config.debounce_s == 2.5 and config.refresh_growth == 0
    with pytest.raises(ValueError, match="STREAMREC_RETRAIN_POLL_S"):
        TrainerConfig.from_env({"STREAMREC_RETRAIN_POLL_S": "soon"})


class StoreWorker:
    """The worker's unlearning endpoints, answered from ``store`` in this process."""

    def __init__(self, store: Store, root: Path, tmp_path: Path) -> None:
        self.store, self.root, self.tmp_path = store, root, tmp_path
        self.reported: list[str] = []

    def __call__(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        if path == "/adapters/dirty/":
            return {
                "active": [asdict(m) for m in self.store.dirty.active()],
                "high_water": self.store.dirty.high_water(),
                "watermark": self.store.audit.watermark(),
                "purged": self.store.deletions.purged(),
            }
        if path == "/adapters/snapshot/":
            cut = None
            if payload and payload.get("watermark") is not None:
                cut = DataCut(int(payload["watermark"]), dict(payload["summary_versions"]))
            directory = self.tmp_path / f"snap-{len(list(self.tmp_path.glob('snap-*')))}"
            return asdict(self.store.snapshots.export(directory, cut))
        if path == "/adapters/retrained/":
            assert payload is not None
            version = payload["version"]
            through = int(read_manifest(self.root, version)["dirty_high_water"])
            done = self.store.dirty.retrained(version, through, payload["detail"])
            self.reported.append(version)
            return {"version": version, "cleared_through": through, "requests": done}
        raise AssertionError(path)


def make_trainer(
    store: Store, tmp_path: Path, model_dir: Path, **config: float
) -> tuple[Trainer, StoreWorker]:
    root = tmp_path / "adapters"
    worker = StoreWorker(store, root, tmp_path)
    trainer = Trainer(
        web_url="http://unused",
        adapters_root=root,
        model_dir=model_dir,
        config=TrainerConfig(**{"debounce_s": 0.0, **config}),
        state_path=tmp_path / "trainer" / "state.json",
    )
    trainer.call = worker  # type: ignore[method-assign]
    return trainer, worker


def test_an_unlearn_tick_retrains_reports_and_then_idles(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    trainer, worker = make_trainer(store, tmp_path, tiny_model_dir)
    root = trainer.adapters_root
    store.snapshots.export(tmp_path / "first")
    before = train_from_snapshot(tmp_path / "first", root, tiny_model_dir, CONFIG)
    assert trainer.unlearn_tick() == "idle"
    store.deletions.record("req-1", "person-3", None, 10**8)
    store.deletions.purge("req-1", "person-3", None, 10**8, ShardsHolding(before, (1,)))

    assert trainer.unlearn_tick() == "retrain"
    after = read_current(root)
    assert after is not None and after != before and worker.reported == [after]
    assert store.dirty.active() == [] and [e.stage for e in store.trail.entries("req-1")][-1] == "retrained"
    assert read_data_cut(root, after)[0] == read_data_cut(root, before)[0], "same cut"
    state = (tmp_path / "trainer" / "state.json").read_text()
    assert f'"version": "{after}"' in state and '"kind": "deletion"' in state
    # The superseded set still holds the user: once the grace is over, it is deleted.
    trainer.config = TrainerConfig(debounce_s=0.0, prune_grace_s=3600)
    assert trainer.unlearn_tick() == "idle" and (root / before).exists(), "within the grace"
    trainer.config = TrainerConfig(debounce_s=0.0, prune_grace_s=0)
    assert trainer.unlearn_tick() == "idle"
    assert not (root / before).exists() and (root / after).exists()
    assert trainer.pruned == [before]


def test_a_set_published_before_a_crash_is_reported_not_retrained(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """Killed between publishing and reporting: the restarted trainer only reports."""
    trainer, worker = make_trainer(store, tmp_path, tiny_model_dir)
    root = trainer.adapters_root
    store.snapshots.export(tmp_path / "first")
    before = train_from_snapshot(tmp_path / "first", root, tiny_model_dir, CONFIG)
    store.deletions.record("req-1", "person-3", None, 10**8)
    store.deletions.purge("req-1", "person-3", None, 10**8, ShardsHolding(before, (0,)))
    # A set trained after the purge is published, and the trainer dies before reporting it.
    store.snapshots.export(tmp_path / "later")
    published = train_from_snapshot(tmp_path / "later", root, tiny_model_dir, CONFIG)
    assert trainer.unlearn_tick() == "notify"
    assert read_current(root) == published, "nothing retrained"
    assert worker.reported == [published] and store.dirty.active() == []


def test_a_refresh_keeps_the_shards_whose_users_sent_nothing_new(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    trainer, _ = make_trainer(store, tmp_path, tiny_model_dir, refresh_growth=0.01)
    root = trainer.adapters_root
    store.snapshots.export(tmp_path / "first")
    before = train_from_snapshot(tmp_path / "first", root, tiny_model_dir, CONFIG)
    assert trainer.refresh_tick() is None, "no new data: nothing to refresh"
    # A user the set learned from (the salted keys, hence the selection, differ per store).
    members = {r["user_key"] for r in pq.read_table(root / before / "members.parquet").to_pylist()}
    user = next(f"person-{u}" for u in range(14) if store.user_key(f"person-{u}") in members)
    late = [ClickRow(f"late-{k}", user, str(k + 1), "rating", 5.0, 10**7 + k, 0, 10**5 + k) for k in range(6)]
    store.ingest.clicks("clicks", late, {0: 10**5 + 6})
    after = trainer.refresh_tick()
    assert after is not None and read_current(root) == after
    old, new = read_manifest(root, before), read_manifest(root, after)
    assert new["watermark"] > old["watermark"]
    kept = [s["shard"] for s in new["shards"] if s["reused"]]
    assert kept, "shards without new samples keep their files"
    for k in kept:
        assert new["shards"][k]["sha256"] == old["shards"][k]["sha256"]
    changed = [s["shard"] for s in new["shards"] if not s["reused"]]
    assert changed, "the shard of the user with new clicks retrained"


def test_a_burst_of_five_deletions_costs_one_retrain_per_shard(
    store: Store, tmp_path: Path, tiny_model_dir: Path
) -> None:
    trainer, worker = make_trainer(store, tmp_path, tiny_model_dir, debounce_s=30.0)
    root = trainer.adapters_root
    store.snapshots.export(tmp_path / "first")
    before = train_from_snapshot(tmp_path / "first", root, tiny_model_dir, CONFIG)
    held = {r["user_key"]: r["shard"] for r in pq.read_table(root / before / "members.parquet").to_pylist()}
    victims = [f"person-{u}" for u in range(14) if store.user_key(f"person-{u}") in held][:5]
    assert len(victims) == 5
    for n, user in enumerate(victims):
        store.deletions.record(f"req-{n}", user, None, 10**8)
        store.deletions.purge(
            f"req-{n}", user, None, 10**8, ShardsHolding(before, (held[store.user_key(user)],))
        )
        assert trainer.unlearn_tick() == "wait", "inside the debounce window"
    trainer.config = TrainerConfig(debounce_s=0.0)  # the window has passed
    assert trainer.unlearn_tick() == "retrain"
    after = read_current(root)
    assert after is not None and worker.reported == [after], "one retrain, one new set"
    dirty_shards = {held[store.user_key(u)] for u in victims}
    retrained = {s["shard"] for s in read_manifest(root, after)["shards"] if not s["reused"]}
    assert retrained == dirty_shards, "each dirty shard once, no other"
    for n in range(5):
        assert [e.stage for e in store.trail.entries(f"req-{n}")][-1] == "retrained"
    assert trainer.unlearn_tick() == "idle"


def test_a_run_that_raises_is_reported_to_the_worker_and_still_raises(tmp_path: Path) -> None:
    """The worker counts failed runs (``streamrec_retrains_total{outcome="failed"}``); the report
    is best effort, so a worker that refuses it does not hide the original error."""
    calls: list[tuple[str, dict[str, Any] | None]] = []

    def worker(path: str, payload: dict[str, Any] | None = None) -> Any:
        calls.append((path, payload))
        if path == "/adapters/retrain-failed/":
            raise RuntimeError("the report failed too")
        raise KeyError("a broken answer")

    trainer = Trainer(
        web_url="http://unused",
        adapters_root=tmp_path / "adapters",
        model_dir=tmp_path / "model",
        config=CFG,
        state_path=tmp_path / "trainer" / "state.json",
    )
    trainer.call = worker  # type: ignore[method-assign]
    with pytest.raises(KeyError, match="a broken answer"):
        trainer.unlearn_tick()
    assert calls[-1][0] == "/adapters/retrain-failed/"
    assert calls[-1][1] is not None and calls[-1][1]["kind"] == "deletion"
    assert "KeyError" in calls[-1][1]["error"]
