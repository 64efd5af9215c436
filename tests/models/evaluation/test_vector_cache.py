"""The on-disk item-vector cache: exact round trip, and a new file whenever an input changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from models.evaluation.vector_cache import cache_path, load_vectors, save_vectors
from models.training.trainer import embed_catalog
from models.types import ItemText

ITEMS = [ItemText("1", "Heat (1995)", ("Action",)), ItemText("2", "Babe (1995)", ("Children", "Drama"))]


def test_cached_vectors_are_the_bytes_a_fresh_embedding_gives(tiny_model_dir: Path, tmp_path: Path) -> None:
    fresh = embed_catalog(tiny_model_dir, ITEMS)
    path = cache_path(tmp_path, tiny_model_dir, ITEMS)
    save_vectors(path, fresh)
    loaded = load_vectors(path)
    assert loaded is not None and set(loaded) == {"1", "2"}
    for item_id, vector in fresh.items():
        assert loaded[item_id].dtype == np.float64
        assert loaded[item_id].tobytes() == vector.tobytes()
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


def test_the_path_changes_with_the_items_and_the_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    base = cache_path(tmp_path, tiny_model_dir, ITEMS)
    assert cache_path(tmp_path, tiny_model_dir, list(ITEMS)) == base
    renamed = [ITEMS[0], ItemText("2", "Babe: Pig in the City (1998)", ("Children",))]
    assert cache_path(tmp_path, tiny_model_dir, renamed) != base
    assert cache_path(tmp_path, tiny_model_dir, ITEMS, max_title_chars=10) != base
    other = tmp_path / "other-model"
    shutil.copytree(tiny_model_dir, other)
    weights = next(other.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one flipped bit of the weights
    weights.write_bytes(bytes(data))
    assert cache_path(tmp_path, other, ITEMS) != base


def test_a_missing_or_torn_file_is_a_miss(tmp_path: Path) -> None:
    assert load_vectors(tmp_path / "absent.npz") is None
    torn = tmp_path / "torn.npz"
    torn.write_bytes(b"PK\x03\x04 not really a zip")
    assert load_vectors(torn) is None
