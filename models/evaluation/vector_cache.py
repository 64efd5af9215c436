"""The catalog's base-LLM item vectors, kept on disk between evaluation runs.

Why: the fine-tuned rows need a vector per catalog item (the semantic partition, the APA
weights), and embedding ml-latest-small's 9,742 items one by one costs about 14 minutes on
the 2-core CPU. A resumed run (``--resume``) that lost its process would pay that again
before it could train anything. The vectors depend only on the model's weights and the
items' rendered text, so the cache file is named after a hash of exactly those (plus the
torch version, whose kernels produce the bytes): any change makes a new file, and a hit
returns the same float64 arrays a fresh embedding would produce.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.fingerprint import model_fingerprint
from models.prompts import describe_item
from models.types import ItemText

__all__ = ["cache_path", "load_vectors", "save_vectors"]

Vector = npt.NDArray[np.float64]


def cache_path(
    cache_dir: Path, model_dir: Path, items: Sequence[ItemText], max_title_chars: int = 120
) -> Path:
    """``cache_dir/item-vectors-<hash>.npz`` for these weights, items and rendering."""
    import torch

    key = {
        **model_fingerprint(model_dir),
        "torch": torch.__version__,
        "items": [(item.item_id, describe_item(item, max_title_chars)) for item in items],
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir / f"item-vectors-{digest}.npz"


def load_vectors(path: Path) -> dict[str, Vector] | None:
    """The cached vectors, or None when there is no (readable) cache file."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, matrix = data["ids"], data["vectors"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a torn or foreign file: embed again and overwrite it
    return {str(item_id): matrix[row].copy() for row, item_id in enumerate(ids)}


def save_vectors(path: Path, vectors: Mapping[str, Vector]) -> None:
    """Write atomically (temporary file, then rename), so a killed run leaves no torn cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = sorted(vectors)
    matrix = np.stack([np.asarray(vectors[i], dtype=np.float64) for i in ids]) if ids else np.zeros((0, 0))
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        np.savez(handle, ids=np.array(ids, dtype=str), vectors=matrix)
    os.replace(temporary, path)
