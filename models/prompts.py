"""TALLRec-style prompts: the user's recent history is the shared context, the item is the
candidate.

The prompt is the plain-text Alpaca format ("### Instruction / ### Input / ### Response:")
used by TALLRec, with no chat template, so any base or instruct causal LM can score it.
It is split in two on purpose: ``build_context`` renders everything that depends only on the
user, and ``build_candidate`` renders the rest. ``build_context(...) + build_candidate(...)``
is the full prompt, which ends exactly where the model should answer "Yes" or "No". The
scorer runs the context once and reuses its KV cache for every candidate, so nothing that
depends on the candidate may appear in the context.

User-supplied text (titles, categories, summaries) is collapsed onto one line so that it
cannot forge a "### Response:" header.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from models.types import HistoryEntry, ItemText

__all__ = ["PromptConfig", "build_candidate", "build_context"]

INSTRUCTION = (
    "Given the user's recent interactions with items, decide whether the user will like "
    'the target item. Answer only "Yes" or "No".'
)


@dataclass(frozen=True)
class PromptConfig:
    """How much of the history to show. Every token of context costs one forward position."""

    max_recent: int = 10  # newest interactions kept; TALLRec used 10
    max_title_chars: int = 120  # long news titles add tokens but little signal

    def __post_init__(self) -> None:
        for name in ("max_recent", "max_title_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PromptConfig.{name} must be a positive integer, got {value!r}")


def _one_line(text: str) -> str:
    """Collapse all whitespace (newlines included) into single spaces."""
    return " ".join(text.split())


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[: max(max_chars - 3, 1)].rstrip() + "..."


def _describe_item(item: ItemText, config: PromptConfig) -> str:
    title = _truncate(_one_line(item.title), config.max_title_chars)
    categories = [c for c in (_one_line(c) for c in item.categories) if c]
    if categories:
        return f'"{title}" ({", ".join(categories)})'
    return f'"{title}"'


def _describe_action(entry: HistoryEntry) -> str:
    if entry.event_type == "rating":
        # HistoryEntry guarantees the rating is set for rating events.
        return f"rated {entry.rating:g}"
    return {"click": "clicked", "view": "viewed", "like": "liked", "dislike": "disliked"}[entry.event_type]


def build_context(
    history: Sequence[HistoryEntry],
    config: PromptConfig = PromptConfig(),
    summary: str | None = None,
) -> str:
    """Render the user-dependent prefix of the prompt.

    ``history`` is ordered oldest to newest; only the newest ``config.max_recent`` entries are
    shown, still oldest first. ``summary`` is an optional preference summary; nothing is
    rendered for it when it is None. The result ends with a newline.
    """
    lines = ["### Instruction:", INSTRUCTION, "", "### Input:"]
    if summary is not None:
        lines.append(f"User preference summary: {_one_line(summary)}")
    recent = list(history)[-config.max_recent :]
    if recent:
        lines.append("Recent interactions (oldest first):")
        for number, entry in enumerate(recent, start=1):
            lines.append(f"{number}. {_describe_item(entry.item, config)}: {_describe_action(entry)}")
    else:
        lines.append("Recent interactions: none")
    return "\n".join(lines) + "\n"


def build_candidate(item: ItemText, config: PromptConfig = PromptConfig()) -> str:
    """Render the candidate-dependent suffix, ending where the model answers Yes or No."""
    return f"Target item: {_describe_item(item, config)}\n\n### Response:\n"
