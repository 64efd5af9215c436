"""Check every newly served adapter set against the deletions it may not know about.

A purge marks the shards of the set served *at that moment* (``streams.store.dirty_shards``).
A set whose training data was exported before the purge but that is published after it can
still hold the deleted user, possibly in another shard (another K, another partition). So the
first time the recommender sees a set answer, this guard looks up every request purged after
that set's export (``serving.adapters.purged_before``) in the set's members, and marks the
shards that hold them, before the answer may be published (``Recommender.score_clean``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from serving.adapters import purged_holders
from streams import metrics
from streams.agents.runtime import Runtime
from streams.store import Store

__all__ = ["ServedSetGuard", "ZERO_SHOT", "adapter_set_number"]

log = logging.getLogger(__name__)

ZERO_SHOT = "zero-shot"  # the answer of a recommender serving no adapter set
_SET_VERSION = re.compile(r"^v(\d+)$")  # serving.adapters names sets v0001, v0002, ...


def adapter_set_number(version: str) -> int | None:
    """The number of a set version for ``streamrec_adapter_set_version`` (``v0003`` -> 3).

    0 for the zero-shot model, None for a name that is not a set version. A number rather than
    a label: a gauge whose value moves needs no new series per published set.
    """
    if version == ZERO_SHOT:
        return 0
    match = _SET_VERSION.match(version)
    return int(match.group(1)) if match else None


def _marker(shards: tuple[int, ...], version: str, request_id: str) -> Callable[[Store], list[int]]:
    return lambda store: store.dirty.mark(shards, version, request_id)


class ServedSetGuard:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.checked: set[str] = set()

    async def check(self, version: str) -> int:
        """Mark the shards of ``version`` that hold purged data; returns the marks made.

        Raises ``OSError``/``ValueError`` when the set cannot be read here (the adapters
        directory is not shared with Triton): the answer then cannot be shown to be clean.
        """
        if version == ZERO_SHOT or version in self.checked:
            return 0
        store = self.runtime.store
        purged = await store.run(lambda s: s.deletions.purged())
        found = await asyncio.to_thread(purged_holders, self.runtime.settings.adapters_dir, version, purged)
        made = 0
        for request_id, shards in found:
            marks = len(await store.run(_marker(shards, version, request_id)))
            if marks:
                metrics.DELETIONS.labels(stage="dirtied").inc()
            made += marks
        if made:
            log.warning("adapter set %s holds data purged after its export: %d shard mark(s)", version, made)
        self.checked.add(version)
        return made
