"""The trainer process's configuration: when to retrain for deletions, when to refresh.

Read from ``STREAMREC_*`` variables like the worker's settings, validated on construction.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from streams.settings import env_float

__all__ = ["TrainerConfig"]


@dataclass(frozen=True)
class TrainerConfig:
    # Deletions. A retrain starts once no new mark came for ``debounce_s`` (a burst of
    # deletions costs one retrain per shard), but never later than ``max_delay_s`` after the
    # oldest waiting mark (a steady trickle of deletions cannot postpone it forever).
    debounce_s: float = 30.0
    max_delay_s: float = 600.0
    poll_s: float = 2.0  # how often the dirty marks are read
    # Continuous learning: refresh the set at the newest watermark once the store has grown by
    # ``refresh_growth`` (a fraction of the set's watermark) or the set is ``refresh_age_s`` old
    # and anything arrived since. 0 disables that trigger.
    refresh_growth: float = 0.5
    refresh_age_s: float = 86_400.0
    refresh_poll_s: float = 60.0
    # A superseded set that still holds purged data is deleted once the set replacing it has
    # been current this long (Triton has switched by then; the grace covers requests in flight).
    prune_grace_s: float = 30.0

    def __post_init__(self) -> None:
        for name in (
            "debounce_s",
            "max_delay_s",
            "poll_s",
            "refresh_growth",
            "refresh_age_s",
            "refresh_poll_s",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"TrainerConfig.{name} must be a finite number >= 0, got {value!r}")
        if self.poll_s <= 0 or self.refresh_poll_s <= 0:
            raise ValueError("TrainerConfig: poll intervals must be > 0")
        if self.max_delay_s < self.debounce_s:
            raise ValueError(
                f"TrainerConfig.max_delay_s ({self.max_delay_s}) must be >= debounce_s ({self.debounce_s})"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrainerConfig:
        env = os.environ if env is None else env
        return cls(
            debounce_s=env_float(env, "STREAMREC_RETRAIN_DEBOUNCE_S", 30.0),
            max_delay_s=env_float(env, "STREAMREC_RETRAIN_MAX_DELAY_S", 600.0),
            poll_s=env_float(env, "STREAMREC_RETRAIN_POLL_S", 2.0),
            refresh_growth=env_float(env, "STREAMREC_REFRESH_GROWTH", 0.5),
            refresh_age_s=env_float(env, "STREAMREC_REFRESH_AGE_S", 86_400.0),
            refresh_poll_s=env_float(env, "STREAMREC_REFRESH_POLL_S", 60.0),
            prune_grace_s=env_float(env, "STREAMREC_PRUNE_GRACE_S", 30.0),
        )
