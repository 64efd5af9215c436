"""streamrec.models: the pure recommendation library (prompts, LLM scoring, model loading).

This package never imports Kafka, Triton or the ``streams`` package, and it never reads
environment variables: callers (``serving``, ``streams``) resolve configuration and pass it in.
Importing it stays cheap (no torch import here) so that light users such as the event
types do not pay for loading torch; import ``models.scoring`` or ``models.loading`` explicitly.
"""

from models.exceptions import GenerationInputError, ModelError, ModelLoadError, ScoringInputError
from models.types import EVENT_TYPES, HistoryEntry, ItemText

__all__ = [
    "EVENT_TYPES",
    "GenerationInputError",
    "HistoryEntry",
    "ItemText",
    "ModelError",
    "ModelLoadError",
    "ScoringInputError",
]
