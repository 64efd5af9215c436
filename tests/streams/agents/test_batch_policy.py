"""The ingest agents batch by the settings: every ``STREAMREC_BATCH_*`` value reaches the policy."""

from __future__ import annotations

from streams.agents import Runtime
from streams.delivery import BatchPolicy
from streams.settings import Settings
from streams.store import AsyncStore


def test_the_batch_policy_carries_every_batch_setting() -> None:
    settings = Settings.from_env(
        {
            "STREAMREC_BATCH_MAX_EVENTS": "7",
            "STREAMREC_BATCH_WITHIN_S": "0.3",
            "STREAMREC_BATCH_QUIET_S": "0.01",
            "STREAMREC_BATCH_BACKLOG_WITHIN_S": "2.5",
            "STREAMREC_BATCH_BACKLOG_AGE_S": "5",
        }
    )
    runtime = Runtime(settings=settings, store=AsyncStore(":memory:"))
    assert runtime.batch_policy() == BatchPolicy(
        max_events=7, within_s=0.3, quiet_s=0.01, backlog_within_s=2.5, backlog_age_s=5.0
    )
    # The deletions agent caps its batches lower; the windows stay the settings'.
    assert runtime.batch_policy(max_events=100) == BatchPolicy(
        max_events=100, within_s=0.3, quiet_s=0.01, backlog_within_s=2.5, backlog_age_s=5.0
    )


def test_by_default_a_backlog_waits_longer_than_live_records() -> None:
    policy = Runtime(settings=Settings(), store=AsyncStore(":memory:")).batch_policy()
    assert policy.watches_backlog
    assert policy.backlog_within_s is not None and policy.backlog_within_s > policy.within_s
