"""The adapter set through a real tritonserver: same scores as in-process, atomic switching.

One tritonserver (tiny random Llama) reads an adapters directory of its own. Two real sets are
trained on synthetic users (a few seconds on the tiny model) and published with the production
writer; the tests then flip ``CURRENT`` while a client scores without pause.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models.loading import load_causal_lm
from models.scoring import Scorer
from models.training.lora import LoraSettings, save_adapter_file
from models.training.samples import SampleGroup, TrainingEvent, UserData
from models.training.shards import ShardingConfig
from models.training.trainer import TrainedSet, index_arrays, set_manifest, train_set
from models.types import ItemText
from serving.adapter_scorer import ZERO_SHOT, AdapterScorer
from serving.adapters import AdapterSetFiles, read_current, set_current, write_adapter_set
from serving.client import RecommenderClient, ScoreRequest, ScoreResult
from serving.launcher import TritonServer
from tests.fixtures.triton import start_triton

CATALOG = {str(i): ItemText(str(i), f"Movie {i}", ("Drama",) if i % 2 else ("Comedy",)) for i in range(1, 60)}


def users() -> list[UserData]:
    return [
        UserData(
            f"key{u}",
            tuple(
                TrainingEvent(
                    f"u{u}-{k}", str((u * 7 + k * 3) % 59 + 1), "rating", float((u + k) % 5 + 1), 1000 * k, k
                )
                for k in range(12)
            ),
        )
        for u in range(12)
    ]


def publish(root: Path, trained: TrainedSet, model_name: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        for k, adapter in enumerate(trained.adapters):
            sources.append(Path(tmp) / f"s{k}.safetensors")
            save_adapter_file(adapter.tensors, sources[-1], {"shard": str(k)})
        ids = sorted(trained.item_vectors)
        files = AdapterSetFiles(
            sources,
            index_arrays(trained.index),
            ids,
            np.stack([trained.item_vectors[i] for i in ids]).astype(np.float32),
            trained.partitioner.centroids,
        )
        return write_adapter_set(root, files, set_manifest(trained, model_name, None, "test"))


@pytest.fixture(scope="module")
def adapter_root(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str], list[SampleGroup]]:
    """Two published sets (different seeds) under a fresh root; the first one is current."""
    root = tmp_path_factory.mktemp("adapters")
    order = sorted(CATALOG, key=int)
    versions = []
    groups: list[SampleGroup] = []
    for seed in (0, 1):
        config = ShardingConfig(
            shards=3, max_samples=300, seed=seed, lora=replace(LoraSettings(), max_epochs=1, seed=seed)
        )
        trained = train_set(tiny_model_dir, users(), CATALOG, order, config)
        # Large LoRA updates make the two sets (and the base model) clearly distinguishable.
        for adapter in trained.adapters:
            for name in adapter.tensors:
                if name.endswith("lora_B"):
                    adapter.tensors[name] = adapter.tensors[name] + 0.05 * (seed + 1)
        versions.append(publish(root, trained, tiny_model_dir.name))
        # Two groups of each shard: users of different shards get different APA weights.
        groups = [g for shard in trained.shards for g in (*shard.train, *shard.validation)[:2]]
    set_current(root, versions[0])
    return root, versions, groups[:6]


@pytest.fixture(scope="module")
def adapter_triton(
    tiny_model_dir: Path,
    adapter_root: tuple[Path, list[str], list[SampleGroup]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TritonServer]:
    root = adapter_root[0]
    server = start_triton(
        tmp_path_factory.mktemp("triton-adapters"),
        model_path=tiny_model_dir,
        extra_env={"STREAMREC_ADAPTERS_DIR": str(root)},
        models=("recommender",),
    )
    yield server
    server.stop()


async def _score(url: str, group: SampleGroup, excluded: tuple[int, ...] = ()) -> ScoreResult:
    client = RecommenderClient(url)
    try:
        return await client.score(
            group.context, [s.candidate for s in group.samples], list(group.context_item_ids), list(excluded)
        )
    finally:
        await client.close()


def _in_process(tiny_model_dir: Path, root: Path) -> AdapterScorer:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    return AdapterScorer(Scorer(model, tokenizer, name=tiny_model_dir.name), root)


def test_triton_scores_equal_in_process_scoring_with_the_same_set(
    adapter_triton: TritonServer,
    adapter_root: tuple[Path, list[str], list[SampleGroup]],
    tiny_model_dir: Path,
) -> None:
    root, versions, groups = adapter_root
    set_current(root, versions[0])
    local = _in_process(tiny_model_dir, root)
    base = Scorer.from_pretrained(tiny_model_dir)
    for group in groups:
        remote = asyncio.run(_score(adapter_triton.grpc_url, group))
        expected = local.score(
            group.context, [s.candidate for s in group.samples], list(group.context_item_ids)
        )
        assert remote.adapter_set == expected.version == versions[0]
        np.testing.assert_allclose(remote.probabilities, expected.probabilities, atol=1e-5, rtol=0)
        np.testing.assert_allclose(remote.shard_weights, expected.weights, atol=1e-6, rtol=0)
        assert abs(sum(remote.shard_weights) - 1.0) < 1e-5
        # The adapters really change the answer: it is not the base model's.
        plain = base.score(group.context, [s.candidate for s in group.samples])
        assert np.max(np.abs(plain - remote.probabilities)) > 1e-3


def test_excluded_shards_get_no_weight_and_the_rest_are_renormalized(
    adapter_triton: TritonServer,
    adapter_root: tuple[Path, list[str], list[SampleGroup]],
    tiny_model_dir: Path,
) -> None:
    root, versions, groups = adapter_root
    set_current(root, versions[0])
    group = groups[0]
    remote = asyncio.run(_score(adapter_triton.grpc_url, group, excluded=(1,)))
    assert remote.shard_weights[1] == 0.0
    assert abs(sum(remote.shard_weights) - 1.0) < 1e-5
    local = _in_process(tiny_model_dir, root)
    expected = local.score(
        group.context, [s.candidate for s in group.samples], list(group.context_item_ids), {1}
    )
    np.testing.assert_allclose(remote.probabilities, expected.probabilities, atol=1e-5, rtol=0)
    # Every shard excluded: the base model alone.
    none_left = asyncio.run(_score(adapter_triton.grpc_url, group, excluded=(0, 1, 2)))
    assert list(none_left.shard_weights) == [0.0, 0.0, 0.0]
    plain = Scorer.from_pretrained(tiny_model_dir).score(group.context, [s.candidate for s in group.samples])
    np.testing.assert_allclose(none_left.probabilities, plain, atol=1e-5, rtol=0)


async def _score_many(
    url: str, groups: list[SampleGroup], excluded: tuple[int, ...] = ()
) -> list[ScoreResult]:
    client = RecommenderClient(url)
    try:
        requests = [
            ScoreRequest(g.context, tuple(s.candidate for s in g.samples), tuple(g.context_item_ids))
            for g in groups
        ]
        return await client.score_many(requests, list(excluded))
    finally:
        await client.close()


def test_one_cross_user_call_equals_each_user_scored_alone(
    adapter_triton: TritonServer,
    adapter_root: tuple[Path, list[str], list[SampleGroup]],
    tiny_model_dir: Path,
) -> None:
    """Several users in one Triton request: each gets their own weights and their own scores."""
    root, versions, groups = adapter_root
    set_current(root, versions[0])
    batch = groups[:5]
    remote = asyncio.run(_score_many(adapter_triton.grpc_url, batch, excluded=(2,)))
    assert len(remote) == len(batch)
    local = _in_process(tiny_model_dir, root)
    distinct_weights = set()
    for group, got in zip(batch, remote, strict=True):
        expected = local.score(
            group.context, [s.candidate for s in group.samples], list(group.context_item_ids), {2}
        )
        assert got.adapter_set == versions[0]
        assert len(got.probabilities) == len(group.samples)
        np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-5, rtol=0)
        np.testing.assert_allclose(got.shard_weights, expected.weights, atol=1e-6, rtol=0)
        assert got.shard_weights[2] == 0.0
        distinct_weights.add(tuple(round(w, 6) for w in got.shard_weights))
    assert len(distinct_weights) > 1, "the users must differ in weights, or the test shows nothing"


def test_switching_sets_under_load_fails_no_request_and_every_answer_names_its_set(
    adapter_triton: TritonServer,
    adapter_root: tuple[Path, list[str], list[SampleGroup]],
    tiny_model_dir: Path,
) -> None:
    """A client scores back to back while CURRENT flips between the two sets 8 times."""
    root, versions, groups = adapter_root
    group = groups[1]
    candidates = [s.candidate for s in group.samples]
    local = _in_process(tiny_model_dir, root)
    expected = {}
    for version in versions:
        set_current(root, version)
        expected[version] = local.score(group.context, candidates, list(group.context_item_ids)).probabilities
    assert np.max(np.abs(expected[versions[0]] - expected[versions[1]])) > 1e-3, "the sets must differ"
    set_current(root, versions[0])

    async def load() -> list[ScoreResult]:
        client = RecommenderClient(adapter_triton.grpc_url)
        answers: list[ScoreResult] = []
        stop = asyncio.Event()

        async def flip() -> None:
            for n in range(8):
                await asyncio.sleep(0.15)
                set_current(root, versions[(n + 1) % 2])
            await asyncio.sleep(0.3)
            stop.set()

        async def score_forever() -> None:
            while not stop.is_set():
                answers.append(await client.score(group.context, candidates, list(group.context_item_ids)))

        try:
            await asyncio.gather(flip(), score_forever())
        finally:
            await client.close()
        return answers

    answers = asyncio.run(load())
    assert len(answers) >= 10
    seen = {a.adapter_set for a in answers}
    assert seen == set(versions), f"both sets must have served, saw {seen}"
    for answer in answers:
        np.testing.assert_allclose(answer.probabilities, expected[answer.adapter_set], atol=1e-5, rtol=0)
    assert read_current(root) == versions[0]


def test_without_a_set_the_base_model_serves_as_zero_shot(tiny_model_dir: Path, tmp_path: Path) -> None:
    scorer = _in_process(tiny_model_dir, tmp_path / "adapters")
    result = scorer.score("### Instruction:\nx\n", ["Target item: y\n\n### Response:\n"])
    assert result.version == ZERO_SHOT and result.weights.size == 0
