"""A shard's data is a function of its own users: budgets, isolation, digests, index and tuning.

No model is needed: the partition uses the salted hash (or synthetic vectors) and the
validation index is built from a fake ``predict``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

from models.training.aggregation import ValidationIndex, WeightRule
from models.training.embeddings import context_vector
from models.training.partition import Partitioner
from models.training.samples import SampleConfig, SampleGroup, UserData, build_user_groups
from models.training.shards import Shard, ShardingConfig, assign_users, build_index, build_shards, tune_rule

from .factories import make_catalog, random_users, unit_vectors

CATALOG = make_catalog(40)
ORDER = sorted(CATALOG)
K = 3
SAMPLES = SampleConfig(negatives_per_positive=3, max_targets_per_user=6)


def config(max_samples: int | None = 90) -> ShardingConfig:
    return ShardingConfig(shards=K, partition="random", max_samples=max_samples, samples=SAMPLES)


def setup(n: int = 60) -> tuple[list[UserData], dict[str, int]]:
    users = random_users(n, ORDER, seed=4)
    assignment = assign_users(users, Partitioner("random", K, "salt"), {}, SAMPLES)
    return users, assignment


def digests(shards: Sequence[Shard]) -> list[str]:
    return [s.sample_digest() for s in shards]


def test_sharding_config_budget_and_validation() -> None:
    assert ShardingConfig(shards=3, max_samples=100).budget_per_shard == 34  # ceil(100 / 3)
    assert ShardingConfig(shards=3, max_samples=None).budget_per_shard is None
    for kwargs, field in [
        ({"shards": 0}, "shards"),
        ({"shards": 4, "max_samples": 3}, "max_samples"),
        ({"neighbours_grid": ()}, "grids"),
        ({"tau_grid": ()}, "grids"),
    ]:
        with pytest.raises(ValueError, match=field):
            ShardingConfig(**kwargs)  # type: ignore[arg-type]


# Found by this test: a typo ("Random") used to train a semantic partition silently.
@pytest.mark.parametrize("partition", ["Random", "hash", ""])
def test_sharding_config_rejects_an_unknown_partition(partition: str) -> None:
    with pytest.raises(ValueError, match="partition"):
        ShardingConfig(partition=partition)


def test_the_per_shard_budget_is_never_exceeded_and_really_binds() -> None:
    users, assignment = setup()
    shards = build_shards(users, CATALOG, ORDER, assignment, config(90))
    sizes = {
        u.user_key: sum(len(g.samples) for g in build_user_groups(u, CATALOG, ORDER, SAMPLES)) for u in users
    }
    assert [s.shard for s in shards] == list(range(K))
    for shard in shards:
        assert 0 < shard.samples <= 30
        assert shard.samples == sum(sizes[k] for k in shard.user_keys)
        assert shard.assigned_users == list(assignment.values()).count(shard.shard)
        # A user left out would not have fitted even into the final (fullest) shard.
        skipped = [k for k, j in assignment.items() if j == shard.shard and k not in shard.user_keys]
        assert all(sizes[k] == 0 or shard.samples + sizes[k] > 30 for k in skipped)
    assert sum(len(s.user_keys) for s in shards) < len(users), "the budget must leave someone out"
    unbounded = build_shards(users, CATALOG, ORDER, assignment, config(None))
    assert sum(len(s.user_keys) for s in unbounded) == sum(1 for u in users if sizes[u.user_key])


def test_every_user_has_all_of_their_groups_in_their_own_shard() -> None:
    """And exactly the groups ``build_user_groups`` gives for the user alone: no cross-user influence."""
    users, assignment = setup()
    by_key = {u.user_key: u for u in users}
    shards = build_shards(users, CATALOG, ORDER, assignment, config(None))
    seen: dict[str, int] = {}
    for shard in shards:
        groups = [*shard.train, *shard.validation]
        assert {g.user_key for g in groups} == set(shard.user_keys)
        assert all(g.split == "train" for g in shard.train)
        assert all(g.split == "validation" for g in shard.validation)
        for key in shard.user_keys:
            assert assignment[key] == shard.shard
            alone = build_user_groups(by_key[key], CATALOG, ORDER, SAMPLES)
            assert [g for g in groups if g.user_key == key] == alone
        for sample_id in shard.sample_ids():
            assert sample_id not in seen
            seen[sample_id] = shard.shard


def test_removing_a_user_changes_only_their_shard() -> None:
    users, assignment = setup()
    before = build_shards(users, CATALOG, ORDER, assignment, config(90))
    for shard in before:
        victim = shard.user_keys[0]
        rest = [u for u in users if u.user_key != victim]
        after = build_shards(
            rest, CATALOG, ORDER, {u.user_key: assignment[u.user_key] for u in rest}, config(90)
        )
        for j in range(K):
            if j == shard.shard:
                assert after[j].sample_digest() != before[j].sample_digest()
                assert victim not in after[j].user_keys
            else:
                assert after[j] == before[j]
                assert after[j].sample_digest() == before[j].sample_digest()


def test_adding_users_changes_only_their_shard_and_order_does_not_matter() -> None:
    users, assignment = setup()
    before = digests(build_shards(users, CATALOG, ORDER, assignment, config(90)))
    newcomers = [u for u in random_users(30, ORDER, seed=9) if assignment.get(u.user_key) is None]
    target = 1
    more = {**assignment, **{u.user_key: target for u in newcomers}}
    after = digests(build_shards([*newcomers, *reversed(users)], CATALOG, ORDER, more, config(None)))
    unbounded = digests(build_shards(users, CATALOG, ORDER, assignment, config(None)))
    assert [a for j, a in enumerate(after) if j != target] == [
        b for j, b in enumerate(unbounded) if j != target
    ]
    assert after[target] != unbounded[target]
    # Input order is irrelevant.
    assert digests(build_shards(list(reversed(users)), CATALOG, ORDER, assignment, config(90))) == before


def test_the_sample_digest_is_the_identity_of_ids_and_splits() -> None:
    users, assignment = setup()
    shard = build_shards(users, CATALOG, ORDER, assignment, config(90))[0]
    digest = shard.sample_digest()
    assert len(digest) == 64
    # The order of the groups is not part of the identity.
    assert replace(shard, train=tuple(reversed(shard.train))).sample_digest() == digest
    # Moving a group between splits is.
    moved = replace(
        shard,
        train=shard.train[1:],
        validation=(*shard.validation, replace(shard.train[0], split="validation")),
    )
    assert moved.sample_digest() != digest
    # So is dropping a group.
    assert replace(shard, train=shard.train[1:]).sample_digest() != digest


def test_the_content_digest_sees_a_changed_context_that_the_ids_do_not() -> None:
    """An item-level deletion can shorten a context and keep every sample id: reuse must see it."""
    users, assignment = setup()
    shard = build_shards(users, CATALOG, ORDER, assignment, config(90))[0]
    content = shard.content_digest()
    assert replace(shard, train=tuple(reversed(shard.train))).content_digest() == content
    shorter = replace(shard.train[0], context=shard.train[0].context[:-10])
    changed = replace(shard, train=(shorter, *shard.train[1:]))
    assert changed.sample_digest() == shard.sample_digest()
    assert changed.content_digest() != content
    relabelled = replace(
        shard.train[0],
        samples=(replace(shard.train[0].samples[0], label=1 - shard.train[0].samples[0].label),),
    )
    assert replace(shard, train=(relabelled, *shard.train[1:])).content_digest() != content


# -- the validation index and the tuning ------------------------------------------------------


def fake_predict(k: int, group: SampleGroup) -> list[float]:
    """A deterministic pseudo-probability per (adapter, sample)."""
    return [
        (int(hashlib.sha256(f"{k}:{s.sample_id}".encode()).hexdigest()[:6], 16) + 0.5) / 2**24
        for s in group.samples
    ]


def test_build_index_holds_every_validation_sample_with_every_adapter_prediction() -> None:
    users, assignment = setup()
    shards = build_shards(users, CATALOG, ORDER, assignment, config(None))
    vectors = unit_vectors(ORDER, dim=6)
    index = build_index(shards, vectors, 6, fake_predict)
    rows = {sid: i for i, sid in enumerate(index.sample_ids)}
    expected = [(s, g) for s in shards for g in s.validation]
    assert len(index.sample_ids) == sum(len(g.samples) for _, g in expected) == len(rows)
    assert index.predictions.shape == (len(rows), K)
    for shard, group in expected:
        for j, sample in enumerate(group.samples):
            i = rows[sample.sample_id]
            assert index.user_keys[i] == group.user_key
            assert index.shards[i] == shard.shard
            assert index.labels[i] == sample.label
            assert index.predictions[i].tolist() == [fake_predict(k, group)[j] for k in range(K)]
            np.testing.assert_array_equal(
                index.vectors[i], context_vector(group.context_item_ids, vectors, 6)
            )


def pair_index() -> ValidationIndex:
    """Users in pairs with near-identical contexts but opposite good adapters.

    User ``i``'s own adapter ``i % 2`` predicts their rows well (0.9 / 0.1), the other badly. A
    user's most similar rows are (1) their own, then (2) their partner's, whose good adapter is
    the other one. Including a user's own rows makes any tau > 0 look perfect (AUC 1); without
    them, any tau > 0 is worse than equal weights (AUC 0 vs 0.5).
    """
    keys, vectors, labels, predictions = [], [], [], []
    for user in range(8):
        pair, member = divmod(user, 2)
        v = np.zeros(4)
        v[pair] = 1.0
        v[(pair + 1) % 4] = 0.05 * member
        v /= np.linalg.norm(v)
        good = user % 2
        for label in (1, 0):
            keys.append(f"u{user}")
            vectors.append(v)
            labels.append(label)
            row = [0.1 if label else 0.9] * 2
            row[good] = 0.9 if label else 0.1
            predictions.append(row)
    n = len(keys)
    return ValidationIndex(
        sample_ids=tuple(f"s{i}" for i in range(n)),
        user_keys=tuple(keys),
        shards=np.asarray([int(k[1:]) % 2 for k in keys], dtype=np.int64),
        vectors=np.stack(vectors),
        labels=np.asarray(labels, dtype=np.int64),
        predictions=np.asarray(predictions),
    )


TUNING = ShardingConfig(shards=2, neighbours_grid=(1, 2, 50), tau_grid=(0.0, 10.0, 1000.0))


def test_tune_rule_returns_a_grid_point_and_one_auc_per_grid_point() -> None:
    rule, table = tune_rule(pair_index(), TUNING)
    assert rule.neighbours in TUNING.neighbours_grid and rule.tau in TUNING.tau_grid
    assert len(table) == len(TUNING.neighbours_grid) * len(TUNING.tau_grid)
    assert all(0.0 <= v <= 1.0 for v in table.values())
    assert table[f"n={rule.neighbours},tau={rule.tau:g}"] == max(table.values())


def test_tune_rule_is_leave_one_user_out() -> None:
    """With a user's own rows, tau > 0 would score AUC 1; without them, equal weights win."""
    index = pair_index()
    # The trap is real: with own rows (no exclusion), a sharp rule is perfect.
    for i in range(len(index.user_keys)):
        w = index.weights(index.vectors[i], WeightRule(2, 1000.0), np.ones(2, dtype=bool))
        assert w[int(index.user_keys[i][1:]) % 2] > 0.99
    rule, table = tune_rule(index, TUNING)
    assert rule == WeightRule(neighbours=1, tau=0.0)  # ties keep the earliest grid point
    assert table["n=1,tau=0"] == 0.5
    assert all(table[f"n={n},tau={t:g}"] == 0.0 for n in (1, 2, 50) for t in (10.0, 1000.0))


def test_tune_rule_without_any_auc_falls_back_to_equal_weights() -> None:
    """All labels alike: no grid point has an AUC, so nothing justifies sharper weights."""
    index = pair_index()
    alike = ValidationIndex(
        index.sample_ids,
        index.user_keys,
        index.shards,
        index.vectors,
        np.ones_like(index.labels),
        index.predictions,
    )
    rule, table = tune_rule(alike, TUNING)
    assert rule == WeightRule(neighbours=TUNING.neighbours_grid[0], tau=0.0)
    assert all(np.isnan(v) for v in table.values())


def test_tune_rule_excludes_exactly_the_samples_own_user(monkeypatch: pytest.MonkeyPatch) -> None:
    index = pair_index()
    calls: list[npt.NDArray[np.bool_] | None] = []
    original = ValidationIndex.weights

    def recording(self: ValidationIndex, vector, rule, usable, exclude=None):  # type: ignore[no-untyped-def]
        calls.append(exclude)
        return original(self, vector, rule, usable, exclude)

    monkeypatch.setattr(ValidationIndex, "weights", recording)
    tune_rule(index, ShardingConfig(shards=2, neighbours_grid=(2,), tau_grid=(10.0,)))
    users = np.asarray(index.user_keys)
    assert len(calls) == len(users)
    for i, exclude in enumerate(calls):
        assert exclude is not None
        np.testing.assert_array_equal(exclude, users == users[i])
