"""Exceptions raised by the ``models`` package.

Everything derives from :class:`ModelError` so that callers can catch the whole package's
failures in one place, while still telling bad input apart from a broken model installation.
Configuration mistakes raise plain ``ValueError`` from dataclass ``__post_init__`` instead.
"""

__all__ = ["GenerationInputError", "ModelError", "ModelLoadError", "ScoringInputError"]


class ModelError(Exception):
    """Root of all errors raised by ``models``."""


class ModelLoadError(ModelError):
    """A model or tokenizer could not be found, converted or loaded from local files."""


class ScoringInputError(ModelError, ValueError):
    """The context or candidates passed to a scorer cannot be scored (empty, too long, ...).

    It is also a ``ValueError`` because it is the caller's input that is wrong.
    """


class GenerationInputError(ModelError, ValueError):
    """The prompts passed to a text generator cannot be used (none, empty, too long, ...).

    Over-long prompts are rejected rather than truncated: cutting a summary prompt would drop
    either the instruction or the previous summary, and a silently degraded summary would then
    be carried forward through every later update. The prompt builder bounds the length.
    """
