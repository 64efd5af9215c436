"""Recurrent preference summaries for offline targets (LLM-TRSR), built in-process.

The worker keeps one chain per user over its *whole* history: blocks of B interactions,
``summary_k = LLM(summary_{k-1}, block_k)``. Rebuilding that for every evaluated target
costs (history length / B) sequential generations per target; on 2 CPU cores with
SmolLM2-135M that is hours for 200 MovieLens users. So offline, the chain is truncated:

- the newest ``recent`` interactions are shown verbatim in the scoring prompt, as in serving;
- the summary covers the ``blocks`` complete blocks of ``block_size`` just before them,
  built recurrently, oldest block first, starting from no summary.

With the defaults the summary adds the 10 interactions before the 5 recent ones. Raise
``blocks`` to approach the serving chain; cost grows linearly. Prompts and decoding are the
serving ones: ``models.summary_prompts.recurrent_prompt`` and ``Summarizer.summarize``.

Generation is batched across targets: round k runs block k of every chain at once, so a
round is ``ceil(targets / batch_size)`` generate calls and the chain order is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tqdm import tqdm

from models.evaluation.data import Target, to_history
from models.summarizer import Summarizer
from models.summary_prompts import SummaryPromptConfig, recurrent_prompt
from models.types import HistoryEntry, ItemText

__all__ = ["SummaryChain", "SummaryChainConfig", "build_summaries", "chain_blocks"]


@dataclass(frozen=True)
class SummaryChainConfig:
    block_size: int = 5  # B, the worker's STREAMREC_SUMMARY_BLOCK default
    blocks: int = 2  # chain length per target; each link is one sequential generation
    recent: int = 5  # interactions shown verbatim (must match the scoring prompt's max_recent)
    prompt: SummaryPromptConfig = SummaryPromptConfig()

    def __post_init__(self) -> None:
        for name in ("block_size", "blocks", "recent"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SummaryChainConfig.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class SummaryChain:
    """The final summary of one target's chain, with what it covers and how it was made."""

    text: str
    blocks: int
    interactions: int
    prompt_sha256: str  # of the last prompt, so a report line can be traced to its input


def chain_blocks(history: Sequence[HistoryEntry], config: SummaryChainConfig) -> list[list[HistoryEntry]]:
    """The complete blocks before the recent items, oldest first, at most ``config.blocks``."""
    older = list(history[: max(len(history) - config.recent, 0)])
    n = min(config.blocks, len(older) // config.block_size)
    start = len(older) - n * config.block_size
    return [older[start + k * config.block_size : start + (k + 1) * config.block_size] for k in range(n)]


def build_summaries(
    targets: Sequence[Target],
    items: Mapping[str, ItemText],
    summarizer: Summarizer,
    config: SummaryChainConfig = SummaryChainConfig(),
    progress: bool = False,
) -> dict[tuple[str, str], SummaryChain]:
    """One chain per target; a target with no complete block gets an empty chain (no summary)."""
    blocks = {t.key: chain_blocks(to_history(t.history, items), config) for t in targets}
    texts: dict[tuple[str, str], str | None] = {key: None for key in blocks}
    last_prompt: dict[tuple[str, str], str] = {}
    total = sum(len(b) for b in blocks.values())
    step = summarizer.config.batch_size
    with tqdm(total=total, desc="summaries", unit="summary", disable=not progress) as bar:
        for round_ in range(config.blocks):
            keys = [key for key, b in blocks.items() if len(b) > round_]
            prompts = [recurrent_prompt(texts[key], blocks[key][round_], config.prompt) for key in keys]
            # Similar lengths share a batch, so little compute goes to padding.
            order = sorted(range(len(keys)), key=lambda k: len(prompts[k]))
            keys, prompts = [keys[k] for k in order], [prompts[k] for k in order]
            for start in range(0, len(keys), step):
                outputs = summarizer.summarize(prompts[start : start + step])
                for key, prompt, text in zip(
                    keys[start : start + step], prompts[start : start + step], outputs, strict=True
                ):
                    texts[key] = text
                    last_prompt[key] = prompt
                bar.update(len(outputs))
    return {
        key: SummaryChain(
            text=texts[key] or "",
            blocks=len(b),
            interactions=sum(len(block) for block in b),
            prompt_sha256=hashlib.sha256(last_prompt[key].encode()).hexdigest() if key in last_prompt else "",
        )
        for key, b in blocks.items()
    }
