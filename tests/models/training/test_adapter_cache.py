"""The on-disk shard adapter cache: exact round trips, misses on anything torn or foreign, and
``train_set`` reusing finished shards after a "killed" run, byte for byte."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from models.training.adapter_cache import ShardAdapterCache
from models.training.lora import LoraSettings, TrainedAdapter
from models.training.shards import ShardingConfig
from models.training.trainer import conditions, train_set
from tests.models.training.factories import make_catalog, random_users

LORA = replace(LoraSettings(), max_epochs=1)


def _adapter(seed: int = 0) -> TrainedAdapter:
    generator = torch.Generator().manual_seed(seed)
    tensors = {
        "layers.0.q_proj.lora_A": torch.randn(8, 16, generator=generator),
        "layers.0.q_proj.lora_B": torch.randn(16, 8, generator=generator),
    }
    return TrainedAdapter(
        tensors, LORA, 3, 12, 0.625, 1, 4.5, 2.75, losses=[0.7, 0.6], validation_curve=[0.5, 0.625]
    )


def _cache(root: Path, model_dir: Path, lora: LoraSettings = LORA) -> ShardAdapterCache:
    return ShardAdapterCache(root, model_dir, lora, conditions(lora.threads))


def test_round_trip_is_exact(tiny_model_dir: Path, tmp_path: Path) -> None:
    cache = _cache(tmp_path, tiny_model_dir)
    assert cache.get("ab12") is None
    original = _adapter()
    cache.put("ab12", original)
    loaded = cache.get("ab12")
    assert loaded is not None
    assert loaded.tensors.keys() == original.tensors.keys()
    for name, tensor in original.tensors.items():
        assert torch.equal(loaded.tensors[name], tensor), name
    assert replace(loaded, tensors={}) == replace(original, tensors={})


def test_torn_or_corrupt_entries_are_misses(tiny_model_dir: Path, tmp_path: Path) -> None:
    cache = _cache(tmp_path, tiny_model_dir)
    cache.put("aa", _adapter())
    (cache.directory / "aa.safetensors").unlink()  # killed between the two renames
    assert cache.get("aa") is None
    cache.put("bb", _adapter())
    (cache.directory / "bb.safetensors").write_bytes(b"\x00garbage")
    assert cache.get("bb") is None
    cache.put("cc", _adapter())
    (cache.directory / "cc.json").write_text("{not json")
    assert cache.get("cc") is None
    assert not list(cache.directory.glob("*.tmp"))


def test_digest_must_be_hex(tiny_model_dir: Path, tmp_path: Path) -> None:
    cache = _cache(tmp_path, tiny_model_dir)
    for bad in ("", "../escape", "AB", "g1"):
        with pytest.raises(ValueError):
            cache.get(bad)


def test_recipe_model_and_conditions_each_change_the_directory(tiny_model_dir: Path, tmp_path: Path) -> None:
    base = _cache(tmp_path, tiny_model_dir).directory
    assert _cache(tmp_path, tiny_model_dir).directory == base
    assert _cache(tmp_path, tiny_model_dir, replace(LORA, seed=1)).directory != base
    assert ShardAdapterCache(tmp_path, tiny_model_dir, LORA, {"torch": "other"}).directory != base
    other_model = tmp_path / "other-model"
    other_model.mkdir()
    for path in tiny_model_dir.iterdir():
        if path.is_file():
            (other_model / path.name).write_bytes(path.read_bytes())
    assert _cache(tmp_path, other_model).directory == base  # a copy of the same bytes
    (other_model / "config.json").write_text((tiny_model_dir / "config.json").read_text() + "\n")
    assert _cache(tmp_path, other_model).directory != base


def test_train_set_reuses_finished_shards_exactly(
    tiny_model_dir: Path, tmp_path: Path, restore_torch_globals: None
) -> None:
    catalog = make_catalog(30)
    order = sorted(catalog)
    users = random_users(12, order, seed=3)
    config = ShardingConfig(shards=3, max_samples=120, seed=0, lora=LORA)

    reference = train_set(tiny_model_dir, users, catalog, order, config)
    cache = _cache(tmp_path, tiny_model_dir)
    first = train_set(tiny_model_dir, users, catalog, order, config, cache=cache)
    trained_shards = [s.shard for s in first.shards if s.train]
    assert first.cached == ()
    assert len(list(cache.directory.glob("*.safetensors"))) == len(trained_shards) > 1

    # A new process: every trained shard comes from disk, and the set equals a fresh training.
    second = train_set(tiny_model_dir, users, catalog, order, config, cache=cache)
    assert list(second.cached) == trained_shards
    assert second.seconds["train"] == 0.0
    for a, b, c in zip(reference.adapters, first.adapters, second.adapters, strict=True):
        for name in a.tensors:
            assert torch.equal(a.tensors[name], b.tensors[name]), name
            assert torch.equal(a.tensors[name], c.tensors[name]), name
    assert second.rule == reference.rule
    assert (second.index.predictions == reference.index.predictions).all()

    # One user fewer: only that user's shard trains again; the others come from the cache.
    shard_of_gone = trained_shards[0]
    gone = first.shards[shard_of_gone].user_keys[0]
    kept_users = [u for u in users if u.user_key != gone]
    assert len(kept_users) == len(users) - 1
    third = train_set(tiny_model_dir, kept_users, catalog, order, config, cache=cache)
    assert shard_of_gone not in third.cached
    assert set(third.cached) == set(trained_shards) - {shard_of_gone}
