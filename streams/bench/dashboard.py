"""A dashboard-like PNG of a running stack, drawn with matplotlib from ``/metrics`` scrapes.

Grafana (``deploy/grafana/streamrec.json``) needs a Prometheus server and a browser; neither runs
here. This script does the part that matters for a report: it scrapes the worker's
``/metrics/`` and Triton's ``/metrics`` every ``--interval`` seconds for ``--duration`` seconds,
keeps every scrape (``scrapes.jsonl``, so the figure can be drawn again with ``--from``), and
draws the Grafana panels that tell the story of a run, with the same arithmetic as their PromQL
(``streams.bench.scrapes``): ingest rate, p50/p95 recommendation latency from the histogram
buckets, pending users per lane, the fallback rate, deletions by stage, consumer lag, the
adapter set and dirty shards, and Triton's request rate and mean request time. The figure says
in its title that it is rendered with matplotlib from scrapes, not by Grafana.

    python -m streams.bench.dashboard --out reports/dashboard --duration 300 --interval 5
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from streams.bench.scrapes import Key, Scrape, increase, parse, rate, total, window_quantile

__all__ = ["PANELS", "Panel", "Tick", "default_urls", "load_ticks", "main", "render", "scrape_loop"]

log = logging.getLogger(__name__)

TITLE = "streamrec: rendered with matplotlib from /metrics scrapes, not Grafana"


@dataclass(frozen=True)
class Tick:
    """The raw text of both endpoints at one moment (None where the endpoint did not answer)."""

    at: float
    worker: str | None
    triton: str | None

    def scrape(self) -> Scrape:
        return parse([self.worker, self.triton], self.at)


# A panel's lines at one point: (the scrape a window back, the scrape now) -> label -> value.
Lines = Callable[[Scrape, Scrape], dict[str, float]]


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    lines: Lines


def _named(values: dict[Key, float], fmt: str) -> dict[str, float]:
    return {fmt.format(*key): value for key, value in values.items()}


def _quantiles(name: str) -> Lines:
    def lines(before: Scrape, after: Scrape) -> dict[str, float]:
        out = {}
        for q in (0.5, 0.95):
            value = window_quantile(before, after, name, q)
            if value is not None:
                out[f"p{round(q * 100)}"] = value
        return out

    return lines


def _fallback_share(before: Scrape, after: Scrape) -> dict[str, float]:
    grown = increase(before, after, "streamrec_recommendations_total", by=("fallback",))
    answered = sum(grown.values())
    return {"fallback share": grown.get(("true",), 0.0) / answered} if answered else {}


def _triton_request_ms(before: Scrape, after: Scrape) -> dict[str, float]:
    spent = increase(before, after, "nv_inference_request_duration_us_total", by=("model",))
    done = increase(before, after, "nv_inference_request_success_total", by=("model",))
    return {model: spent[(model,)] / n / 1000 for (model,), n in done.items() if n and (model,) in spent}


def _since_last_stored(before: Scrape, after: Scrape) -> dict[str, float]:
    # Grafana's "time() - (max(streamrec_ingest_last_stored_timestamp_seconds) > 0)": the gauge
    # is 0 until a worker stored its first click, which is "no value", not "55 years ago".
    stored = [value for _, value in after.samples.get("streamrec_ingest_last_stored_timestamp_seconds", [])]
    newest = max(stored, default=0.0)
    return {"since last stored click": after.at - newest} if newest > 0 else {}


def _adapters(before: Scrape, after: Scrape) -> dict[str, float]:
    out = _named(total(after, "streamrec_dirty_shards"), "dirty shards")
    out.update(_named(total(after, "streamrec_adapter_set_version"), "set served (vN)"))
    return out


PANELS: tuple[Panel, ...] = (
    Panel(
        "Ingest (events/s)",
        "events/s",
        lambda a, b: {
            **_named(rate(a, b, "streamrec_events_ingested_total"), "stored"),
            **_named(rate(a, b, "streamrec_dead_letters_total"), "dead letters"),
        },
    ),
    Panel("Time since the last stored click", "s", _since_last_stored),
    Panel("Recommendation latency", "s", _quantiles("streamrec_recommend_seconds")),
    Panel("Triton scoring round trip", "s", _quantiles("streamrec_score_seconds")),
    Panel(
        "Pending users per lane",
        "users",
        lambda a, b: _named(total(b, "streamrec_pending_lane_users", by=("lane",)), "{}"),
    ),
    Panel("Fallback rate", "share", _fallback_share),
    Panel(
        "Consumer lag",
        "records",
        lambda a, b: _named(total(b, "streamrec_consumer_lag_records", by=("topic", "partition")), "{}[{}]"),
    ),
    Panel(
        "Deletions by stage (in the window)",
        "requests",
        lambda a, b: _named(increase(a, b, "streamrec_deletions_total", by=("stage",)), "{}"),
    ),
    Panel("Adapters", "count / version", _adapters),
    Panel(
        "Triton requests/s",
        "req/s",
        lambda a, b: _named(rate(a, b, "nv_inference_request_success_total", by=("model",)), "{}"),
    ),
    Panel("Triton mean request time", "ms", _triton_request_ms),
)


def default_urls() -> tuple[str, str]:
    """The local stack's endpoints (``streamrec up``), from the same settings the worker reads."""
    from streams.settings import Settings

    settings = Settings.from_env()
    host = settings.triton_url.rsplit(":", 1)[0] if settings.triton_url else settings.triton_host
    return f"{settings.web_url}/metrics/", f"http://{host}:{settings.triton_metrics_port}/metrics"


def _get(url: str, timeout_s: float) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return str(response.read().decode("utf-8", errors="replace"))
    except (urllib.error.URLError, OSError) as exc:
        log.warning("scrape of %s failed: %s", url, exc)
        return None


def scrape_loop(
    worker_url: str, triton_url: str, duration_s: float, interval_s: float, sink: Path
) -> list[Tick]:
    """Scrape both endpoints every ``interval_s`` for ``duration_s``, appending each tick to
    ``sink`` (JSON lines) as it comes, so an interrupted run keeps what it scraped."""
    ticks: list[Tick] = []
    sink.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with sink.open("w", encoding="utf-8") as out:
        while True:
            tick = Tick(time.time(), _get(worker_url, interval_s), _get(triton_url, interval_s))
            ticks.append(tick)
            out.write(json.dumps(tick.__dict__) + "\n")
            out.flush()
            elapsed = time.monotonic() - started
            if elapsed + interval_s > duration_s:
                return ticks
            time.sleep(max(0.0, started + len(ticks) * interval_s - time.monotonic()))


def load_ticks(path: Path) -> list[Tick]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Tick(float(r["at"]), r.get("worker"), r.get("triton")) for r in rows]


def render(ticks: Sequence[Tick], out: Path, window_s: float, sources: str) -> Path:
    """Draw every panel over the run; each point compares a scrape with the one ``window_s`` back."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scrapes = [tick.scrape() for tick in ticks]
    if len(scrapes) < 2:
        raise ValueError(f"need at least 2 scrapes to draw rates, got {len(scrapes)}")
    start = scrapes[0].at
    columns = 5
    rows = -(-len(PANELS) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.8 * rows), squeeze=False)
    for axis, panel in zip(axes.flat, PANELS, strict=False):
        series: dict[str, tuple[list[float], list[float]]] = {}
        back = 0
        for index in range(1, len(scrapes)):
            while scrapes[index].at - scrapes[back + 1].at >= window_s and back + 1 < index:
                back += 1
            for label, value in panel.lines(scrapes[back], scrapes[index]).items():
                xs, ys = series.setdefault(label, ([], []))
                xs.append(scrapes[index].at - start)
                ys.append(value)
        for label, (xs, ys) in sorted(series.items()):
            axis.plot(xs, ys, label=label, linewidth=1.2)
        if series:
            axis.legend(fontsize=7, loc="upper left")
        else:
            axis.text(0.5, 0.5, "no data", ha="center", va="center", transform=axis.transAxes, color="grey")
        axis.set_title(panel.title, fontsize=10)
        axis.set_xlabel("seconds since the first scrape", fontsize=8)
        axis.set_ylabel(panel.unit, fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(PANELS) :]:
        axis.axis("off")
    began = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    fig.suptitle(
        f"{TITLE}\n{sources}; {len(scrapes)} scrapes from {began}, "
        f"{scrapes[-1].at - start:.0f} s; rates and quantiles over {window_s:.0f} s windows",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    worker_default, triton_default = default_urls()
    parser = argparse.ArgumentParser(prog="python -m streams.bench.dashboard", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("reports/dashboard"), help="output directory")
    parser.add_argument("--worker-url", default=worker_default, help="the worker's Prometheus endpoint")
    parser.add_argument("--triton-url", default=triton_default, help="Triton's Prometheus endpoint")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds to scrape")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between scrapes")
    parser.add_argument("--window", type=float, default=30.0, help="seconds each rate and quantile spans")
    parser.add_argument(
        "--from", dest="source", type=Path, help="draw from a saved scrapes.jsonl, no scraping"
    )
    args = parser.parse_args(argv)
    if args.interval <= 0 or args.duration < args.interval or args.window <= 0:
        parser.error(
            f"need --interval > 0, --duration >= --interval and --window > 0, got "
            f"{args.interval}, {args.duration}, {args.window}"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.source is not None:
        ticks = load_ticks(args.source)
        sources = f"replayed from {args.source}"
    else:
        print(
            f"scraping {args.worker_url} and {args.triton_url} every {args.interval:.0f} s "
            f"for {args.duration:.0f} s ...",
            flush=True,
        )
        ticks = scrape_loop(
            args.worker_url, args.triton_url, args.duration, args.interval, args.out / "scrapes.jsonl"
        )
        sources = f"{args.worker_url} + {args.triton_url}"
    answered = sum(t.worker is not None for t in ticks), sum(t.triton is not None for t in ticks)
    print(f"{len(ticks)} scrapes: worker answered {answered[0]}, Triton {answered[1]}")
    path = render(ticks, args.out / "dashboard.png", args.window, sources)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
