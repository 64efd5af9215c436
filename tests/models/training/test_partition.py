"""User-level partitions: a user's shard is a function of their own data, a salt and item vectors.

The key property for exact unlearning is purity: adding or removing *other* users never moves
anyone, so a retrain from scratch without a deleted user reproduces every other shard.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.training.embeddings import Vector
from models.training.partition import Partitioner, fit_centroids, hash_shard
from models.training.samples import SampleConfig, UserData
from models.training.shards import assign_users

from .factories import Row, make_catalog, random_users, unit_vectors, user_from_rows

CATALOG = make_catalog(40)
ORDER = sorted(CATALOG)
KEYS = [f"user-{k}" for k in range(200)]


def test_hash_shard_depends_only_on_key_shard_count_and_salt() -> None:
    shards = [hash_shard(key, 5, "salt") for key in KEYS]
    assert shards == [hash_shard(key, 5, "salt") for key in KEYS]
    assert set(shards) == set(range(5))
    assert shards != [hash_shard(key, 5, "other-salt") for key in KEYS]
    assert all(0 <= hash_shard(key, 3, "salt") < 3 for key in KEYS)


def test_the_random_partition_ignores_liked_items_and_vectors() -> None:
    vectors = unit_vectors(ORDER)
    partitioner = Partitioner("random", 4, "salt")
    for key in KEYS[:30]:
        expected = hash_shard(key, 4, "salt")
        assert partitioner.shard(key, [], {}) == expected
        assert partitioner.shard(key, ORDER[:5], vectors) == expected


def test_fit_centroids_is_a_deterministic_function_of_vectors_and_seed() -> None:
    vectors = unit_vectors(ORDER, dim=8, seed=3)
    centroids = fit_centroids(vectors, 4, seed=0)
    assert centroids.shape == (4, 8)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-12)
    # Insertion order of the mapping does not matter: only the ids and their vectors do.
    reversed_vectors = {k: vectors[k] for k in reversed(ORDER)}
    assert fit_centroids(reversed_vectors, 4, seed=0).tobytes() == centroids.tobytes()
    assert fit_centroids(vectors, 4, seed=0).tobytes() == centroids.tobytes()
    assert not np.array_equal(fit_centroids(vectors, 4, seed=1), centroids)


def test_fit_centroids_needs_at_least_one_item_per_shard() -> None:
    vectors = unit_vectors(ORDER[:3])
    with pytest.raises(ValueError, match="at least 4"):
        fit_centroids(vectors, 4, seed=0)
    assert fit_centroids(vectors, 3, seed=0).shape == (3, 8)


AXES = np.eye(3)
SEMANTIC_VECTORS: dict[str, Vector] = {
    "a": np.array([0.6, 0.8, 0.0]),  # nearest axis 1
    "b": np.array([0.6, 0.0, 0.8]),  # nearest axis 2
    "c": np.array([0.0, 0.0, 1.0]),
}


def test_the_semantic_shard_is_the_centroid_nearest_the_mean_liked_vector() -> None:
    partitioner = Partitioner("semantic", 3, "salt", centroids=AXES)
    assert partitioner.shard("u", ["a"], SEMANTIC_VECTORS) == 1
    assert partitioner.shard("u", ["b"], SEMANTIC_VECTORS) == 2
    # The mean (0.6, 0.4, 0.4) is nearest axis 0, although neither item is: a mean, not a vote.
    assert partitioner.shard("u", ["a", "b"], SEMANTIC_VECTORS) == 0
    # Unknown items are ignored.
    assert partitioner.shard("u", ["a", "unknown"], SEMANTIC_VECTORS) == 1


def test_a_user_without_a_known_liked_item_falls_back_to_the_hash() -> None:
    partitioner = Partitioner("semantic", 3, "salt", centroids=AXES)
    for key in KEYS[:30]:
        assert partitioner.shard(key, [], SEMANTIC_VECTORS) == hash_shard(key, 3, "salt")
        assert partitioner.shard(key, ["unknown"], SEMANTIC_VECTORS) == hash_shard(key, 3, "salt")


def test_assign_users_uses_the_liked_items_rule_of_the_sample_config() -> None:
    """Only likes count: a user who rated "a" 3 and liked "b" goes with "b"."""
    vectors = SEMANTIC_VECTORS
    rows: list[Row] = [("a", "rating", 3.0, 100), ("b", "rating", 5.0, 200)]
    user = user_from_rows("u", rows)
    partitioner = Partitioner("semantic", 3, "salt", centroids=AXES)
    assert assign_users([user], partitioner, vectors, SampleConfig()) == {"u": 2}
    # With a lower like threshold "a" is a like too, and the mean moves to axis 0.
    loose = SampleConfig(like_rating=3.0, dislike_rating=1.0)
    assert assign_users([user], partitioner, vectors, loose) == {"u": 0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "kmeans", "shards": 2, "salt": "s"}, "kind"),
        ({"kind": "random", "shards": 0, "salt": "s"}, "shards"),
        ({"kind": "random", "shards": True, "salt": "s"}, "shards"),
        ({"kind": "semantic", "shards": 3, "salt": "s"}, "centroid"),
        ({"kind": "semantic", "shards": 2, "salt": "s", "centroids": AXES}, "centroid"),
    ],
)
def test_partitioner_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Partitioner(**kwargs)  # type: ignore[arg-type]


def population() -> tuple[list[UserData], list[UserData], dict[str, Vector]]:
    vectors = unit_vectors(ORDER, dim=8, seed=11)
    users = random_users(60, ORDER, seed=1)
    newcomers = random_users(30, ORDER, seed=2)
    # Also users with no like at all (all ratings <= 3): they take the hash fallback.
    newcomers += [user_from_rows(f"neutral-{k}", [(ORDER[k], "rating", 3.0, 100)]) for k in range(5)]
    users += [user_from_rows(f"cold-{k}", [(ORDER[k], "rating", 2.0, 100)]) for k in range(5)]
    return users, newcomers, vectors


@pytest.mark.parametrize("kind", ["semantic", "random"])
def test_other_users_never_move_a_user(kind: str) -> None:
    """Partition purity: the remaining users' shards survive removals, additions and reordering."""
    users, newcomers, vectors = population()
    centroids = fit_centroids(vectors, 4, seed=0) if kind == "semantic" else None
    partitioner = Partitioner(kind, 4, "salt", centroids=centroids)
    config = SampleConfig()
    full = assign_users(users, partitioner, vectors, config)
    assert len(set(full.values())) > 1, "a one-shard partition would make this test vacuous"
    rng = np.random.default_rng(0)
    for _ in range(5):
        kept = [users[int(i)] for i in rng.permutation(len(users))[: len(users) // 2]]
        added = [newcomers[int(i)] for i in rng.permutation(len(newcomers))[:20]]
        mixed = kept + added
        rng.shuffle(mixed)  # type: ignore[arg-type]
        changed = assign_users(mixed, partitioner, vectors, config)
        assert {u.user_key: changed[u.user_key] for u in kept} == {u.user_key: full[u.user_key] for u in kept}
        assert {u.user_key: changed[u.user_key] for u in added} == assign_users(
            added, partitioner, vectors, config
        )
    assert partitioner.sizes(full) == [list(full.values()).count(k) for k in range(4)]


def test_the_semantic_partition_is_not_the_hash() -> None:
    """The semantic assignment really comes from the liked vectors (otherwise purity is trivial)."""
    users, _, vectors = population()
    semantic = Partitioner("semantic", 4, "salt", centroids=fit_centroids(vectors, 4, seed=0))
    random_ = Partitioner("random", 4, "salt")
    a = assign_users(users, semantic, vectors, SampleConfig())
    b = assign_users(users, random_, vectors, SampleConfig())
    assert a != b
    # The users without a like agree: they fall back to the same hash.
    assert all(a[u.user_key] == b[u.user_key] for u in users if u.user_key.startswith("cold-"))
