"""TALLRec-style prompts: the user's recent history is the shared context, the item is the
candidate.

The prompt is the plain-text Alpaca format ("### Instruction / ### Input / ### Response:")
used by TALLRec, with no chat template, so any base or instruct causal LM can score it.
It is split in two on purpose: ``build_context`` renders everything that depends only on the
user, and ``build_candidate`` renders the rest. ``build_context(...) + build_candidate(...)``
is the full prompt, which ends exactly where the model should answer "Yes" or "No". The
scorer runs the context once and reuses its KV cache for every candidate, so nothing that
depends on the candidate may appear in the context.

User-supplied text (titles, categories, summaries) goes through ``models.untrusted.sanitize``:
collapsed onto one line so that it cannot forge a "### Response:" header, stripped of
instruction-like sentences and control characters, quotes escaped, lengths capped. The
rendering helpers (``describe_interaction`` and its parts) are public because
``models.summary_prompts`` renders history the same way: one rendering means the summarizer
and the scorer describe an interaction identically.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from models.types import HistoryEntry, ItemText
from models.untrusted import sanitize

__all__ = [
    "PromptConfig",
    "build_candidate",
    "build_context",
    "describe_action",
    "describe_interaction",
    "describe_item",
    "one_line",
    "truncate",
]

INSTRUCTION = (
    "Given the user's recent interactions with items, decide whether the user will like "
    'the target item. Answer only "Yes" or "No".'
)


@dataclass(frozen=True)
class PromptConfig:
    """How much of the history to show. Every token of context costs one forward position."""

    max_recent: int = 10  # newest interactions kept; TALLRec used 10
    max_title_chars: int = 120  # long news titles add tokens but little signal
    # Candidate text through models.untrusted.sanitize. False renders it the pre-#12 way
    # (one line, truncated), which only the injection benchmark uses, to measure the defence.
    sanitize: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.sanitize, bool):
            raise ValueError(f"PromptConfig.sanitize must be a bool, got {self.sanitize!r}")
        for name in ("max_recent", "max_title_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PromptConfig.{name} must be a positive integer, got {value!r}")


def one_line(text: str) -> str:
    """Collapse all whitespace (newlines included) into single spaces.

    Applied to every piece of user-supplied text so that it cannot start a line of its own
    and forge prompt structure (a "### Response:" header, a fake numbered item).
    """
    return " ".join(text.split())


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, marked with "..." when cut."""
    if len(text) <= max_chars:
        return text
    return text[: max(max_chars - 3, 1)].rstrip() + "..."


MAX_CATEGORIES = 10  # MovieLens has at most 10 genres per movie
MAX_CATEGORY_CHARS = 40  # its longest genre is "(no genres listed)", 18 characters


def describe_item(item: ItemText, max_title_chars: int, sanitized: bool = True) -> str:
    """``"Title" (Cat1, Cat2)``: the quoted, truncated title and its non-empty categories.

    Both are untrusted text: ``models.untrusted.sanitize`` removes control characters, forged
    prompt structure and instruction-like sentences and escapes the quotes before the caps
    (``sanitized=False``: only collapsed onto one line, for measuring the defence).
    """
    clean = sanitize if sanitized else one_line
    title = truncate(clean(item.title), max_title_chars)
    categories = [c for c in (truncate(clean(c), MAX_CATEGORY_CHARS) for c in item.categories) if c]
    categories = categories[:MAX_CATEGORIES]
    if categories:
        return f'"{title}" ({", ".join(categories)})'
    return f'"{title}"'


def describe_action(entry: HistoryEntry, rating_scale: float | None = None) -> str:
    """What the user did, as a past-tense verb phrase: "clicked", "disliked", "rated 4.5".

    With ``rating_scale`` a rating reads "rated 4.5/5", which tells a summarizing model how
    good a 4.5 is; the scoring prompt omits it to keep its (fine-tuned) format stable.
    """
    if entry.event_type == "rating":
        # HistoryEntry guarantees the rating is set for rating events.
        scale = f"/{rating_scale:g}" if rating_scale is not None else ""
        return f"rated {entry.rating:g}{scale}"
    return {"click": "clicked", "view": "viewed", "like": "liked", "dislike": "disliked"}[entry.event_type]


def describe_interaction(entry: HistoryEntry, max_title_chars: int, rating_scale: float | None = None) -> str:
    """One history line without its number: ``"Heat (1995)" (Action, Crime): rated 4.5``."""
    return f"{describe_item(entry.item, max_title_chars)}: {describe_action(entry, rating_scale)}"


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
        lines.append(f"User preference summary: {sanitize(summary)}")
    recent = list(history)[-config.max_recent :]
    if recent:
        lines.append("Recent interactions (oldest first):")
        for number, entry in enumerate(recent, start=1):
            lines.append(f"{number}. {describe_interaction(entry, config.max_title_chars)}")
    else:
        lines.append("Recent interactions: none")
    return "\n".join(lines) + "\n"


def build_candidate(item: ItemText, config: PromptConfig = PromptConfig()) -> str:
    """Render the candidate-dependent suffix, ending where the model answers Yes or No."""
    return f"Target item: {describe_item(item, config.max_title_chars, config.sanitize)}\n\n### Response:\n"
