"""TALLRec-style zero-shot ranking with the serving code: P("Yes") for each candidate.

The prompt is built by ``models.prompts.build_context`` / ``build_candidate`` and scored by
``models.scoring.Scorer.score``: the same two functions the worker and the Triton
``recommender`` model call, run in-process here to skip the network hop. With
``PromptConfig(max_recent=5)`` (the worker's ``STREAMREC_RECENT_ITEMS`` default) a target's
prompt is byte-for-byte the prompt the running system would send for that history.

``LLMRanker`` shows the recent items only (``llm-zeroshot``). ``SummaryLLMRanker``
(``llm-summary``) also shows a recurrent preference summary of the older history, built by
:mod:`models.evaluation.summaries`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from tqdm import tqdm

from models.evaluation.data import Target, to_history
from models.evaluation.ranker import FitData, Ranker, Scores
from models.evaluation.summaries import SummaryChain, SummaryChainConfig, build_summaries
from models.prompts import PromptConfig, build_candidate, build_context
from models.scoring import Scorer
from models.summarizer import Summarizer
from models.types import ItemText

__all__ = ["LLMRanker", "SummaryLLMRanker"]


class LLMRanker(Ranker):
    name = "llm-zeroshot"

    def __init__(self, scorer: Scorer, prompt_config: PromptConfig = PromptConfig(max_recent=5)) -> None:
        self.scorer = scorer
        self.prompt_config = prompt_config
        self._items: Mapping[str, ItemText] | None = None

    def fit(self, data: FitData) -> None:
        """Zero-shot: nothing is learned; only the item texts are kept for the prompts."""
        self._items = data.dataset.items

    def _require_items(self) -> Mapping[str, ItemText]:
        if self._items is None:
            raise RuntimeError(f"{type(self).__name__}.score called before fit")
        return self._items

    def summary_for(self, target: Target) -> str | None:
        return None

    def context(self, target: Target) -> str:
        """The user-dependent prompt prefix for ``target``, as the worker would render it."""
        history = to_history(target.history, self._require_items())
        return build_context(history, self.prompt_config, summary=self.summary_for(target))

    def candidate_texts(self, target: Target) -> list[str]:
        items = self._require_items()
        missing = [c for c in target.candidates if c not in items]
        if missing:
            raise ValueError(f"{self.name}: candidates without item text cannot be scored: {missing[:5]!r}")
        return [build_candidate(items[c], self.prompt_config) for c in target.candidates]

    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        return [
            self.scorer.score(self.context(t), self.candidate_texts(t)).astype("float64")
            for t in tqdm(targets, desc=self.name, unit="target", disable=not progress)
        ]

    def info(self) -> dict[str, Any]:
        return {
            "model": self.scorer.name,
            "prompt": asdict(self.prompt_config),
            "scoring": "models.scoring.Scorer.score (shared-prefix KV cache), as the Triton recommender",
            "device": str(self.scorer.device),
        }


class SummaryLLMRanker(LLMRanker):
    """``llm-zeroshot`` plus a recurrent summary of the history before the recent items."""

    name = "llm-summary"

    def __init__(
        self,
        scorer: Scorer,
        summarizer: Summarizer,
        chain_config: SummaryChainConfig = SummaryChainConfig(),
        prompt_config: PromptConfig = PromptConfig(max_recent=5),
    ) -> None:
        super().__init__(scorer, prompt_config)
        if chain_config.recent != prompt_config.max_recent:
            raise ValueError(
                f"SummaryLLMRanker: chain_config.recent ({chain_config.recent}) must equal "
                f"prompt_config.max_recent ({prompt_config.max_recent}), or the summary would "
                "overlap or miss the items shown verbatim"
            )
        self.summarizer = summarizer
        self.chain_config = chain_config
        self.chains: dict[tuple[str, str], SummaryChain] = {}

    def summary_for(self, target: Target) -> str | None:
        chain = self.chains.get(target.key)
        if chain is None or not chain.text.strip():
            return None
        return chain.text

    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        todo = [t for t in targets if t.key not in self.chains]
        self.chains.update(
            build_summaries(todo, self._require_items(), self.summarizer, self.chain_config, progress)
        )
        return super().score(targets, progress)

    def info(self) -> dict[str, Any]:
        covered = [c.interactions for c in self.chains.values()]
        return {
            **super().info(),
            "summarizer": self.summarizer.name,
            "chain": asdict(self.chain_config),
            "generation": asdict(self.summarizer.config),
            "targets_with_summary": sum(1 for n in covered if n > 0),
            "mean_interactions_summarized": (sum(covered) / len(covered)) if covered else 0.0,
        }
