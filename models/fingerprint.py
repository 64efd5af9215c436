"""What a causal LM directory's outputs are a function of: its weight files and its config.

Why a fingerprint of the bytes rather than the directory's name: on-disk caches (the catalog's
item vectors, trained shard adapters) must miss when someone swaps the weights under the same
path, and hit for a copy of the same weights elsewhere.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

__all__ = ["file_sha256", "model_fingerprint"]

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_fingerprint(model_dir: Path) -> dict[str, Any]:
    """``{"weights": [(file name, sha256), ...], "config": sha256 of config.json or ""}``."""
    weights = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    config = model_dir / "config.json"
    return {
        "weights": [(p.name, file_sha256(p)) for p in weights],
        "config": file_sha256(config) if config.is_file() else "",
    }
