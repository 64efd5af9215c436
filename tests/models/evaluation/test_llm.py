"""The LLM rankers use the serving prompt and scorer, and the summary chain is the recurrent one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from models.evaluation.data import Dataset, Interaction, Target, to_history
from models.evaluation.llm import LLMRanker, SummaryLLMRanker
from models.evaluation.ranker import FitData
from models.evaluation.summaries import SummaryChainConfig, build_summaries, chain_blocks
from models.prompts import PromptConfig, build_candidate, build_context
from models.scoring import Scorer
from models.summarizer import GenerationConfig, Summarizer
from models.summary_prompts import recurrent_prompt
from models.types import ItemText

ITEMS = {
    str(k): ItemText(
        item_id=str(k), title=f"Film {k} ({1990 + k})", categories=("Drama",) if k % 2 else ("Comedy",)
    )
    for k in range(1, 41)
}


def _history(n: int) -> tuple[Interaction, ...]:
    return tuple(Interaction(item_id=str(k), ts=1000 * k, rating=float(1 + k % 5)) for k in range(1, n + 1))


def _target(n_history: int, user: str = "u1") -> Target:
    history = _history(n_history)
    return Target(
        user_id=user,
        split="test",
        positive="30",
        candidates=("31", "30", "32", "33"),
        history=history,
        cutoff_ts=history[-1].ts + 1 if history else 1,
    )


@pytest.fixture(scope="module")
def scorer(tiny_model_dir: Path) -> Scorer:
    return Scorer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def summarizer(scorer: Scorer) -> Summarizer:
    return Summarizer(scorer.model, scorer.tokenizer, GenerationConfig(max_new_tokens=6), name="tiny")


def _fit(ranker: LLMRanker, targets: list[Target]) -> None:
    dataset = Dataset(name="t", items=ITEMS, histories={t.user_id: t.history for t in targets})
    ranker.fit(FitData(dataset, {}, []))


def test_zeroshot_prompt_and_scores_are_the_serving_ones(scorer: Scorer) -> None:
    """Context = build_context over the newest 5 items (the worker's default); scores = Scorer.score."""
    from streams.settings import Settings

    recent = Settings().recent_items
    target = _target(12)
    ranker = LLMRanker(scorer, PromptConfig(max_recent=recent))
    _fit(ranker, [target])
    entries = to_history(target.history, ITEMS)
    expected_context = build_context(entries, PromptConfig(max_recent=recent))
    assert ranker.context(target) == expected_context
    assert "Film 12 (2002)" in expected_context and "Film 7 (1997)" not in expected_context
    texts = [build_candidate(ITEMS[c], PromptConfig(max_recent=recent)) for c in target.candidates]
    [scores] = ranker.score([target])
    np.testing.assert_allclose(scores, scorer.score(expected_context, texts), rtol=0, atol=1e-6)
    assert scores.shape == (4,)


def test_candidates_without_text_are_refused(scorer: Scorer) -> None:
    target = Target("u1", "test", "30", ("30", "999"), _history(3), 10_000)
    ranker = LLMRanker(scorer)
    _fit(ranker, [target])
    with pytest.raises(ValueError, match="without item text"):
        ranker.score([target])


def test_chain_blocks_are_the_complete_blocks_before_the_recent_items() -> None:
    entries = to_history(_history(23), ITEMS)
    config = SummaryChainConfig(block_size=5, blocks=2, recent=5)
    blocks = chain_blocks(entries, config)
    # 23 items: the newest 5 (19-23) are shown verbatim; the 2 blocks before them are 9-13, 14-18.
    assert [[e.item.item_id for e in b] for b in blocks] == [
        [str(k) for k in range(9, 14)],
        [str(k) for k in range(14, 19)],
    ]
    assert chain_blocks(to_history(_history(9), ITEMS), config) == []  # 4 older items: no complete block
    assert len(chain_blocks(to_history(_history(13), ITEMS), config)) == 1


def test_summary_chain_is_recurrent_and_traceable(summarizer: Summarizer) -> None:
    target = _target(20)
    config = SummaryChainConfig(block_size=5, blocks=2, recent=5)
    [chain] = build_summaries([target], ITEMS, summarizer, config).values()
    first, second = chain_blocks(to_history(target.history, ITEMS), config)
    s1 = summarizer.summarize([recurrent_prompt(None, first)])[0]
    last_prompt = recurrent_prompt(s1 or None, second)
    assert chain.text == summarizer.summarize([last_prompt])[0]
    assert chain.prompt_sha256 == hashlib.sha256(last_prompt.encode()).hexdigest()
    assert (chain.blocks, chain.interactions) == (2, 10)


def test_summary_ranker_puts_the_summary_in_the_serving_prompt(
    scorer: Scorer, summarizer: Summarizer
) -> None:
    long, short = _target(20, "long"), _target(6, "short")
    ranker = SummaryLLMRanker(
        scorer, summarizer, SummaryChainConfig(blocks=2, recent=5), PromptConfig(max_recent=5)
    )
    _fit(ranker, [long, short])
    scores = ranker.score([long, short])
    chain = ranker.chains[long.key]
    context = ranker.context(long)
    if chain.text.strip():
        assert context == build_context(
            to_history(long.history, ITEMS), PromptConfig(max_recent=5), chain.text
        )
        assert "User preference summary:" in context
    # Too little history for a block: exactly the zero-shot prompt.
    assert ranker.chains[short.key].blocks == 0
    zeroshot = LLMRanker(scorer, PromptConfig(max_recent=5))
    _fit(zeroshot, [short])
    assert ranker.context(short) == zeroshot.context(short)
    np.testing.assert_allclose(scores[1], zeroshot.score([short])[0], atol=1e-6)
    assert ranker.info()["targets_with_summary"] == (1 if chain.text.strip() else 0)


def test_summary_ranker_requires_matching_recent_window(scorer: Scorer, summarizer: Summarizer) -> None:
    with pytest.raises(ValueError, match="max_recent"):
        SummaryLLMRanker(scorer, summarizer, SummaryChainConfig(recent=3), PromptConfig(max_recent=5))
