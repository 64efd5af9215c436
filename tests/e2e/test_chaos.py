"""The fault-injection suite (``streams.chaos``), small: scenarios 1, 2 and 5 must PASS.

The same code as ``make chaos`` with smaller figures, against a real Tansu broker, a tritonserver
of its own (scenario 2 stops it) with the tiny model, and the real worker and trainer processes:

1. the worker SIGKILLed twice during a replay of 5,000 MovieLens-layout clicks (synthetic, so CI
   needs no dataset) with two deletions: every click stored once, every user answered, every
   deletion purged;
2. tritonserver stopped for 10 s under live load: fallback within the breaker window, LLM scores
   back within 30 s of Triton being ready, nobody left pending;
5. the trainer SIGKILLed mid-retrain and mid-publish: the served set is complete at every poll and
   the retrain finishes after a restart.

A failure prints every check with its figures and the log tails of the processes involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.chaos import harness, report, trainer_kills, triton_outage, worker_kills
from tests.models.evaluation.ml_fixture import write_movielens

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chaos_stack(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[harness.ChaosStack]:
    stack = harness.ChaosStack(tmp_path_factory.mktemp("chaos"), tiny_model_dir)
    stack.start_triton()
    yield stack
    stack.close()


def verdict(result: harness.ScenarioResult, stack: harness.ChaosStack) -> str:
    logs = "\n".join(
        f"--- {log.name} ---\n{log.read_text(errors='replace')[-3000:]}"
        for log in sorted(stack.work.glob("*.log"))
    )
    return "\n".join(report.console_lines(result)) + f"\nfigures: {result.figures}\n{logs}"


def test_repeated_worker_kills_lose_and_double_nothing(
    chaos_stack: harness.ChaosStack, tmp_path: Path
) -> None:
    # 100 users x 50 ratings = 5,000 clicks in time order, paced over 33 s so both kills land
    # while clicks flow (a restart waits ~10 s for the killed member's session to expire).
    movielens = write_movielens(tmp_path / "ml", users=100, movies=400, per_user=50)
    config = worker_kills.WorkerKillsConfig(
        movielens=movielens,
        clicks=5_000,
        kills=2,
        deletions=2,
        rate=150.0,
        gap_low_s=2.0,
        gap_high_s=5.0,
        drain_timeout_s=240.0,
        progress=False,
    )
    result = worker_kills.run(chaos_stack, config)
    assert result.status == "PASS", verdict(result, chaos_stack)
    assert len(result.figures["kills"]) == 2
    assert result.figures["kills_with_backlog"] >= 1, "a kill must hit a worker with clicks to store"


def test_triton_outage_falls_back_and_recovers(chaos_stack: harness.ChaosStack) -> None:
    config = triton_outage.TritonOutageConfig(down_s=10.0, warmup_s=3.0, progress=False)
    result = triton_outage.run(chaos_stack, config)
    assert result.status == "PASS", verdict(result, chaos_stack)
    assert chaos_stack.triton is not None and chaos_stack.triton.running(), "the scenario restarts Triton"


def test_trainer_killed_mid_retrain_and_mid_publish_resumes(chaos_stack: harness.ChaosStack) -> None:
    # The smallest set that still has a user to forget in a shard of its own: 6 users, 2 shards.
    # The byte-for-byte rebuild (`adapters verify`) is tests/e2e/test_unlearning.py's job.
    config = trainer_kills.TrainerKillsConfig(users=6, clicks_per_user=6, shards=2, verify=False)
    result = trainer_kills.run(chaos_stack, config)
    assert result.status == "PASS", verdict(result, chaos_stack)
    assert result.figures["served_set_polls"] > 0
