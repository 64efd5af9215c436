"""The dashboard script's arithmetic on synthetic scrapes: sums, counter rates and resets,
histogram quantiles as PromQL computes them, and a figure drawn from saved scrapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streams.bench.dashboard import PANELS, TITLE, Tick, load_ticks, main, render
from streams.bench.scrapes import histogram_quantile, increase, parse, rate, total, window_quantile

TRITON = """\
# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{{model="recommender",version="1"}} {ok}
nv_inference_request_success{{model="summarizer",version="1"}} 0
# HELP nv_inference_request_duration_us Cumulative inference request duration in microseconds
# TYPE nv_inference_request_duration_us counter
nv_inference_request_duration_us{{model="recommender",version="1"}} {us}
nv_inference_request_duration_us{{model="summarizer",version="1"}} 0
"""


class Worker:
    """A registry shaped like the worker's, to produce real prometheus-client exposition text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingested = Counter("streamrec_events_ingested", "", registry=self.registry)
        self.recs = Counter("streamrec_recommendations", "", ["fallback"], registry=self.registry)
        self.latency = Histogram(
            "streamrec_recommend_seconds", "", buckets=(0.1, 0.5, 1, 2), registry=self.registry
        )
        self.lanes = Gauge("streamrec_pending_lane_users", "", ["lane"], registry=self.registry)
        self.deletions = Counter("streamrec_deletions", "", ["stage"], registry=self.registry)
        self.last_stored = Gauge("streamrec_ingest_last_stored_timestamp_seconds", "", registry=self.registry)

    def text(self) -> str:
        return generate_latest(self.registry).decode()


def test_total_sums_by_labels_and_filters() -> None:
    worker = Worker()
    worker.lanes.labels(lane="live").set(3)
    worker.lanes.labels(lane="backfill").set(40)
    worker.recs.labels(fallback="true").inc(2)
    worker.recs.labels(fallback="false").inc(8)
    scrape = parse([worker.text(), None], at=10.0)
    assert total(scrape, "streamrec_pending_lane_users", by=("lane",)) == {("live",): 3, ("backfill",): 40}
    assert total(scrape, "streamrec_pending_lane_users") == {(): 43}
    assert total(scrape, "streamrec_recommendations_total", where={"fallback": "true"}) == {(): 2}
    assert total(scrape, "no_such_metric") == {}


def test_rate_is_per_second_and_survives_a_counter_reset() -> None:
    before = parse([TRITON.format(ok=100, us=5_000_000)], at=0.0)
    after = parse([TRITON.format(ok=150, us=7_500_000)], at=10.0)
    # prometheus-client's parser names a counter's samples <name>_total, suffix or not.
    assert rate(before, after, "nv_inference_request_success_total", by=("model",)) == {
        ("recommender",): 5.0,
        ("summarizer",): 0.0,
    }
    restarted = parse([TRITON.format(ok=20, us=1_000_000)], at=20.0)
    grown = increase(after, restarted, "nv_inference_request_success_total", by=("model",))
    assert grown[("recommender",)] == 20, "a reset counts from zero"
    assert rate(after, after, "nv_inference_request_success_total") == {}, "no time passed"


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(0.1, 0), (0.5, 10), (1.0, 20), (float("inf"), 20)], 0.5),
        (0.75, [(0.1, 0), (0.5, 10), (1.0, 20), (float("inf"), 20)], 0.75),
        (1.0, [(0.1, 0), (0.5, 10), (1.0, 20), (float("inf"), 20)], 1.0),
        (0.5, [(0.5, 10), (float("inf"), 10)], 0.25),  # the first bucket starts at 0
        (0.95, [(0.5, 5), (1.0, 8), (float("inf"), 10)], 1.0),  # in +Inf: the highest finite bound
        (0.5, [(0.5, 0), (float("inf"), 0)], None),  # nothing observed
        (0.5, [(0.5, 3)], None),  # no +Inf bucket
    ],
)
def test_histogram_quantile_matches_promql(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    assert histogram_quantile(q, buckets) == (pytest.approx(expected) if expected is not None else None)


def test_window_quantile_uses_only_what_the_window_observed() -> None:
    worker = Worker()
    for _ in range(10):
        worker.latency.observe(5.0)  # before the window: slow, in +Inf
    before = parse([worker.text()], at=0.0)
    for _ in range(10):
        worker.latency.observe(0.3)  # inside the window: all in (0.1, 0.5]
    after = parse([worker.text()], at=30.0)
    assert window_quantile(before, after, "streamrec_recommend_seconds", 0.5) == pytest.approx(0.3)
    assert window_quantile(after, after, "streamrec_recommend_seconds", 0.5) is None


def ticks(count: int = 6) -> list[Tick]:
    worker = Worker()
    out = []
    for n in range(count):
        worker.ingested.inc(50)
        worker.recs.labels(fallback="true" if n == 3 else "false").inc()
        worker.latency.observe(0.2 + 0.1 * n)
        worker.lanes.labels(lane="live").set(n)
        worker.deletions.labels(stage="received").inc(n % 2)
        if n:  # nothing stored before the second scrape: the gauge is still 0 in the first
            worker.last_stored.set(1_700_000_000.0 + 5 * n - 2)
        out.append(Tick(1_700_000_000.0 + 5 * n, worker.text(), TRITON.format(ok=10 * n, us=400_000 * n)))
    return out


def test_every_panel_draws_from_synthetic_scrapes() -> None:
    scrapes = [t.scrape() for t in ticks()]
    drawn = {panel.title: panel.lines(scrapes[0], scrapes[-1]) for panel in PANELS}
    assert drawn["Ingest (events/s)"] == {"stored": pytest.approx(250 / 25)}
    assert drawn["Fallback rate"] == {"fallback share": pytest.approx(1 / 5)}
    assert drawn["Pending users per lane"] == {"live": 5}
    assert drawn["Triton requests/s"]["recommender"] == pytest.approx(50 / 25)
    assert drawn["Triton mean request time"] == {"recommender": pytest.approx(40.0)}
    assert set(drawn["Recommendation latency"]) == {"p50", "p95"}
    assert drawn["Time since the last stored click"] == {"since last stored click": pytest.approx(2.0)}
    since = next(panel for panel in PANELS if panel.title == "Time since the last stored click")
    assert since.lines(scrapes[0], scrapes[0]) == {}, "a gauge still at 0 is no value"


def test_main_draws_a_png_from_saved_scrapes(tmp_path: Path) -> None:
    saved = tmp_path / "scrapes.jsonl"
    saved.write_text("".join(json.dumps(t.__dict__) + "\n" for t in ticks()))
    assert [t.at for t in load_ticks(saved)] == [t.at for t in ticks()]
    assert main(["--from", str(saved), "--out", str(tmp_path / "out"), "--window", "10"]) == 0
    assert (tmp_path / "out" / "dashboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "not Grafana" in TITLE and "matplotlib" in TITLE


def test_render_needs_two_scrapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2 scrapes"):
        render(ticks(1), tmp_path / "x.png", 30.0, "test")
