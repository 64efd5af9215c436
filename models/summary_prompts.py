"""Prompts for recurrent preference summaries (LLM-TRSR, WWW 2024).

A user's history is cut into blocks of B interactions. The summary is built the *recurrent*
way as clicks arrive::

    summary_1 = LLM(recurrent_prompt(None, block_1))
    summary_k = LLM(recurrent_prompt(summary_{k-1}, block_k))

and the *hierarchical* way to backfill a long history at once: summarize every block with
``recurrent_prompt(None, block_i)`` (independent, so they batch well), then combine the block
summaries with ``merge_prompt``.

The prompts are plain instructions meant to be sent as one user message of a chat template
(``models.summarizer`` applies it); they contain no template tokens themselves. Everything
that comes from users or from earlier model output (titles, categories, the previous summary)
is collapsed onto one line and length-capped, for two reasons: it cannot forge prompt
structure, and the prompt length stays bounded however long the chain of updates gets (a
summary is model output and is fed back in, so without a cap a rambling summary would grow
the next prompt, which would produce a longer summary, and so on).

Pure functions, no model or tokenizer: the streaming side can build and store prompts without
loading torch.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from models.prompts import describe_interaction, one_line, truncate
from models.types import HistoryEntry

__all__ = ["SummaryPromptConfig", "merge_prompt", "recurrent_prompt"]

# The shape of the answer, shared by both prompts so recurrent and merged summaries read alike.
# Third person and no titles: the summary is pasted into the scoring prompt next to the recent
# titles, so it should add the abstraction (genres, themes, eras), not repeat the items.
_STYLE = (
    'Write 2 to 4 sentences in the third person, starting with "The user". Describe what the '
    "user likes and dislikes: genres, themes, moods and eras. Do not list titles. Answer with "
    "the summary only."
)


@dataclass(frozen=True)
class SummaryPromptConfig:
    """Length caps on what goes into a summary prompt; each char is roughly 1/4 token."""

    max_summary_chars: int = 1500  # a previous or block summary; ~350 tokens, 3x a 4-sentence summary
    max_title_chars: int = 120  # long news titles add tokens but little signal
    rating_scale: float = 5.0  # ratings read "rated 4.5/5"; MovieLens uses 0.5-5 stars

    def __post_init__(self) -> None:
        for name in ("max_summary_chars", "max_title_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 4:
                # 4: truncate() needs room for at least one character plus "...".
                raise ValueError(f"SummaryPromptConfig.{name} must be an integer >= 4, got {value!r}")
        scale = self.rating_scale
        if (
            isinstance(scale, bool)
            or not isinstance(scale, (int, float))
            or not math.isfinite(scale)
            or scale <= 0
        ):
            raise ValueError(f"SummaryPromptConfig.rating_scale must be a finite number > 0, got {scale!r}")


def _render_block(block: Sequence[HistoryEntry], config: SummaryPromptConfig) -> str:
    return "\n".join(
        f"{number}. {describe_interaction(entry, config.max_title_chars, config.rating_scale)}"
        for number, entry in enumerate(block, start=1)
    )


def _clean_summary(summary: str, config: SummaryPromptConfig) -> str:
    return truncate(one_line(summary), config.max_summary_chars)


def recurrent_prompt(
    previous: str | None,
    block: Sequence[HistoryEntry],
    config: SummaryPromptConfig = SummaryPromptConfig(),
) -> str:
    """The instruction for one recurrent update: ``previous`` summary + ``block`` -> new summary.

    ``previous=None`` starts a chain (summary_1 = LLM(block_1)). An empty or blank
    ``previous`` is treated like None: an empty summary carries no information, and the
    model should not be told one exists. ``block`` is ordered oldest first and must not be
    empty (a block with no interactions has nothing to update the summary with).
    """
    if not block:
        raise ValueError("recurrent_prompt: block must contain at least one interaction, got none")
    items = _render_block(block, config)
    summary = _clean_summary(previous, config) if previous is not None else ""
    if not summary:
        return (
            "Here are a user's interactions with movies and other items, oldest first:\n"
            f"{items}\n\n"
            "Summarize this user's preferences based on these interactions. " + _STYLE
        )
    return (
        "Here is a summary of a user's preferences so far:\n"
        f"{summary}\n\n"
        "Here are the user's newest interactions, oldest first:\n"
        f"{items}\n\n"
        "Write an updated summary of this user's preferences that keeps what still holds from the "
        "previous summary and adds what the newest interactions show. " + _STYLE
    )


def merge_prompt(summaries: Sequence[str], config: SummaryPromptConfig = SummaryPromptConfig()) -> str:
    """Hierarchical stage 2: one summary from the block summaries, given oldest first.

    Blank summaries (a tiny or failed generation) are skipped rather than shown as empty
    periods; at least one must remain.
    """
    cleaned = [text for text in (_clean_summary(s, config) for s in summaries) if text]
    if not cleaned:
        raise ValueError(
            f"merge_prompt: summaries must hold at least one non-blank summary, got {len(summaries)} "
            "and none is non-blank"
        )
    periods = "\n".join(f"Period {number}: {text}" for number, text in enumerate(cleaned, start=1))
    return (
        "Here are summaries of a user's preferences, one per period of their history, oldest first:\n"
        f"{periods}\n\n"
        "Combine them into one summary of this user's preferences. Where the periods disagree, "
        "prefer the later ones. " + _STYLE
    )
