"""User-level partitions into K shards that a deletion cannot disturb.

Every sample of a user lands in that user's shard, so forgetting a user touches exactly one
shard. And a user's shard depends only on the user's own retained data and on parameters no
user data shaped (a seed, centroids fitted on catalog items alone). That is the difference
from APA and RecEraser, whose K-means and capacity balancing are fitted on all training data:
there, deleting one user would move others, and a retrain from scratch would not reproduce
the unlearned model. There is no balancing step here, so shards can be unequal; the adapter
manifest reports their sizes.

* ``random``: a salted hash of the user key.
* ``semantic`` (default): K-means over the catalog's item vectors (``embeddings``), seeded;
  a user goes to the centroid nearest (cosine) the mean vector of the items they liked. A user
  with no liked catalogued item falls back to the hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.training.embeddings import Vector, normalize

__all__ = ["Partitioner", "PARTITIONS", "fit_centroids", "hash_shard"]

PARTITIONS: tuple[str, ...] = ("semantic", "random")


def hash_shard(user_key: str, shards: int, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}\x1f{user_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def fit_centroids(
    item_vectors: Mapping[str, Vector], shards: int, seed: int, iterations: int = 50
) -> npt.NDArray[np.float64]:
    """Spherical K-means (k-means++ init, seeded) over item vectors in id order: [K, dim].

    Only catalog items enter, so no user's data shapes the centroids.
    """
    ids = sorted(item_vectors)
    if len(ids) < shards:
        raise ValueError(f"fit_centroids: need at least {shards} items, got {len(ids)}")
    x = np.stack([item_vectors[i] for i in ids]).astype(np.float64)
    rng = np.random.default_rng([seed, 0xC3A7])
    centres = [x[int(rng.integers(len(x)))]]
    for _ in range(1, shards):  # k-means++ on cosine distance
        distance = np.min(1.0 - x @ np.stack(centres).T, axis=1).clip(min=0.0)
        total = float(distance.sum())
        pick = int(rng.choice(len(x), p=distance / total)) if total > 0 else int(rng.integers(len(x)))
        centres.append(x[pick])
    c = np.stack(centres)
    for _ in range(iterations):
        assign = np.argmax(x @ c.T, axis=1)
        updated = np.stack(
            [normalize(x[assign == k].mean(axis=0)) if np.any(assign == k) else c[k] for k in range(shards)]
        )
        if np.array_equal(updated, c):
            break
        c = updated
    return c


@dataclass(frozen=True)
class Partitioner:
    """Maps a user to a shard from the user's own liked items; see the module docstring."""

    kind: str
    shards: int
    salt: str
    centroids: npt.NDArray[np.float64] | None = None  # [K, dim], semantic only

    def __post_init__(self) -> None:
        if self.kind not in PARTITIONS:
            raise ValueError(f"Partitioner.kind must be one of {PARTITIONS}, got {self.kind!r}")
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or self.shards < 1:
            raise ValueError(f"Partitioner.shards must be a positive integer, got {self.shards!r}")
        if self.kind == "semantic" and (self.centroids is None or self.centroids.shape[0] != self.shards):
            raise ValueError("Partitioner: a semantic partition needs one centroid per shard")

    def shard(self, user_key: str, liked_items: Iterable[str], item_vectors: Mapping[str, Vector]) -> int:
        if self.kind == "random" or self.centroids is None:
            return hash_shard(user_key, self.shards, self.salt)
        known = [item_vectors[i] for i in liked_items if i in item_vectors]
        if not known:
            return hash_shard(user_key, self.shards, self.salt)
        user = normalize(np.mean(np.stack(known), axis=0))
        return int(np.argmax(self.centroids @ user))

    def sizes(self, assignment: Mapping[str, int]) -> list[int]:
        counts = [0] * self.shards
        for shard in assignment.values():
            counts[shard] += 1
        return counts
