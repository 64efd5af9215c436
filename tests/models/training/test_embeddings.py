"""Item vectors from the base model: normalized, deterministic, and blind to the other items.

A user's semantic shard depends on these vectors, so an item's vector must not move when the
catalog around it changes (different batch-mates, different embedding order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.loading import load_causal_lm
from models.training.embeddings import ItemEmbedder, context_vector, normalize
from models.types import ItemText

A = ItemText("a", "Heat (1995)", ("Action", "Crime"))
B = ItemText("b", "A much longer title that tokenizes into many more pieces than the first one", ("Drama",))
C = ItemText("c", "Babe", ())


@pytest.fixture(scope="module")
def embedder(tiny_model_dir: Path) -> ItemEmbedder:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    return ItemEmbedder(model, tokenizer)


def test_an_item_vector_is_l2_normalized(embedder: ItemEmbedder) -> None:
    for item in (A, B, C):
        vector = embedder.embed(item)
        assert vector.dtype == np.float64 and vector.shape == (embedder.dim,) == (32,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-12)
    assert not np.allclose(embedder.embed(A), embedder.embed(B))


def test_an_item_vector_does_not_depend_on_the_other_items(tiny_model_dir: Path) -> None:
    """A alone, A after B and C, A in ``embed_all`` and a second embedder: the same bytes."""
    model, tokenizer = load_causal_lm(tiny_model_dir)
    alone = ItemEmbedder(model, tokenizer).embed(A).tobytes()
    other_model, other_tokenizer = load_causal_lm(tiny_model_dir)
    embedder = ItemEmbedder(other_model, other_tokenizer)
    embedder.embed(B)
    embedder.embed(C)
    assert embedder.embed(A).tobytes() == alone
    assert embedder.embed(A).tobytes() == alone
    everything = embedder.embed_all([C, B, A])
    assert list(everything) == ["c", "b", "a"]
    assert everything["a"].tobytes() == alone
    assert embedder.embed_all([A])["a"].tobytes() == alone


def test_the_title_length_limit_is_applied(tiny_model_dir: Path) -> None:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    short = ItemEmbedder(model, tokenizer, max_title_chars=10)
    full = ItemEmbedder(model, tokenizer)
    same_start = ItemText("d", B.title[:7] + " and then something else entirely", B.categories)
    assert short.embed(B).tobytes() == short.embed(same_start).tobytes()
    assert full.embed(B).tobytes() != full.embed(same_start).tobytes()


def test_context_vector_is_the_normalized_mean_of_known_items() -> None:
    vectors = {"x": np.array([1.0, 0.0, 0.0]), "y": np.array([0.0, 1.0, 0.0])}
    np.testing.assert_array_equal(context_vector([], vectors, 3), np.zeros(3))
    np.testing.assert_array_equal(context_vector(["unknown", "other"], vectors, 3), np.zeros(3))
    assert context_vector(["unknown"], vectors, 3).dtype == np.float64
    np.testing.assert_allclose(context_vector(["x", "y", "unknown"], vectors, 3), [2**-0.5, 2**-0.5, 0.0])
    np.testing.assert_array_equal(context_vector(["x", "unknown"], vectors, 3), vectors["x"])
    np.testing.assert_array_equal(normalize(np.zeros(3)), np.zeros(3))
