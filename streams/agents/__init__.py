"""The worker's Faust agents and tasks, one module each, all sharing one :class:`Runtime`.

* ``clicks``: ``clicks`` -> validated micro-batches -> DuckDB (the ingest agent);
* ``catalog``: ``items`` -> the catalog;
* ``deletions``: "forget me" requests -> ledger -> purge -> ``deletion-status``;
* ``recommend``: pending users -> candidates -> Triton scores -> ``recommendations``; which
  lane it serves, and when the backfill lane waits for a replay to end (``lanes``);
* ``summarize``: live recurrent preference summaries; ``backfill``: backfill jobs;
* ``status``: the worker's HTTP pages (``/status``, ``/ready``, ``/metrics``, summaries) and
  the timer behind the consumer-lag gauge (``lag``);
* ``unlearning``: the trainer's endpoints (snapshots, dirty shards, retrains) and audits; the
  retrain metrics it counts from the trainer's reports (``retrain_metrics``);
* ``topic_watch``: fail-stops the worker when ``clicks`` or ``items`` is recreated under it.

``streams.app`` wires them; each module's ``register`` adds its agents to a ``faust.App``.
Import from here: ``from streams.agents import Runtime, clicks``.
"""

from streams.agents import (
    backfill,
    catalog,
    clicks,
    deletions,
    recommend,
    status,
    summarize,
    topic_watch,
    unlearning,
)
from streams.agents.backfill import BackfillJob, Backfills
from streams.agents.lanes import BackfillHold, LanePicker
from streams.agents.recommend import Recommender, popularity_scores, rank
from streams.agents.runtime import INGEST_TOPICS, Runtime, Topics, declare_topics
from streams.agents.summarize import Summaries
from streams.agents.unlearning import retrained_detail

__all__ = [
    "INGEST_TOPICS",
    "BackfillHold",
    "BackfillJob",
    "Backfills",
    "LanePicker",
    "Recommender",
    "Runtime",
    "Summaries",
    "Topics",
    "backfill",
    "catalog",
    "clicks",
    "declare_topics",
    "deletions",
    "popularity_scores",
    "rank",
    "recommend",
    "retrained_detail",
    "status",
    "summarize",
    "topic_watch",
    "unlearning",
]
