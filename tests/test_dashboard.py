"""The Grafana dashboard (``deploy/grafana/streamrec.json``) charts only metrics that exist.

A dashboard whose query names a metric nobody exports shows "No data" forever and fails no
build; so every panel query's metric names are extracted and looked up in what the worker's
registry exposes (``streams.metrics``, with prometheus-client's ``_total``/``_bucket``/...
names) and in what a real tritonserver serves on its metrics port (the session fixture).
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import streams.metrics  # noqa: F401 - registers the worker's metrics in the default registry
from serving.launcher import TritonServer

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "streamrec.json"
ROWS = ["Ingest", "Recommendations & scoring", "Queue", "Adapters & unlearning", "Deletions", "Triton"]
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

# -- PromQL: the metric names an expression reads --------------------------------------------

_KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS |= {"offset", "atan2", "inf", "nan"}
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GRAFANA_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")  # [5m], subqueries [1h:5m]
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_OFFSETS = re.compile(r"\boffset\s+-?\w+|@\s*[\w.()]+")
_NUMBERS = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects: identifiers left once strings, Grafana variables,
    label matchers, ranges, grouping clauses, offsets and numbers are gone, except functions
    and aggregations (an identifier followed by ``(``) and PromQL keywords."""
    text = _STRINGS.sub('""', expr)
    text = _GRAFANA_VARIABLES.sub("", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _OFFSETS.sub(" ", text)
    text = _NUMBERS.sub(" ", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group(0)
        if name.lower() in _KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(name)
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("streamrec_dirty_shards", {"streamrec_dirty_shards"}),
        (
            'histogram_quantile(0.95, sum by (le, kind) (rate(r_seconds_bucket{kind="x"}[1h])))',
            {"r_seconds_bucket"},
        ),
        (
            "sum(rate(a_total[$__rate_interval])) by (le) / ignoring(lane) group_left sum(b_count offset 5m)",
            {"a_total", "b_count"},
        ),
        ('up{job=~"work(er)?", instance!="x{y}"} > bool 1e-9 and on(job) vector(1)', {"up"}),
        (
            "max(nv_cpu_memory_used_bytes) / max(nv_cpu_memory_total_bytes) * 100",
            {"nv_cpu_memory_used_bytes", "nv_cpu_memory_total_bytes"},
        ),
        ("rate(x:recorded:rate5m[${interval}] @ end())", {"x:recorded:rate5m"}),
        ("sum without (shard) (increase(c_total[$__range])) unless d", {"c_total", "d"}),
    ],
)
def test_metric_names_are_extracted_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# -- the dashboard -----------------------------------------------------------------------------


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' collapsed panels included."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(dashboard) if p["type"] != "row"]


def dashboard_metric_names(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    """Metric name -> the titles of the panels that use it."""
    used: dict[str, set[str]] = {}
    for panel in data_panels(dashboard):
        for target in panel["targets"]:
            for name in metric_names(target["expr"]):
                used.setdefault(name, set()).add(panel["title"])
    return used


def worker_exposed_names() -> set[str]:
    """What the worker's ``/metrics/`` can show: each family's names as prometheus-client
    writes them (a counter ``x`` as ``x_total``, a histogram as ``x_bucket``/``_sum``/...)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def scraped_names(text: str) -> set[str]:
    """The sample names exactly as the page writes them, which is what Prometheus stores.

    prometheus-client's parser would not do: it reports a counter's samples as ``<name>_total``
    even where the page (Triton's) writes them without the suffix. It only checks the text.
    """
    list(text_string_to_metric_families(text))  # raises on a page that is not Prometheus text
    return {
        match.group(0)
        for line in text.splitlines()
        if line.strip() and not line.startswith("#") and (match := _IDENTIFIER.match(line))
    }


def test_the_dashboard_is_an_importable_grafana_dashboard() -> None:
    dashboard = load()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"] and dashboard["id"] is None
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert [p["title"] for p in dashboard["panels"] if p["type"] == "row"] == ROWS
    ids = [p["id"] for p in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_every_panel_has_a_title_a_datasource_and_queries() -> None:
    for panel in data_panels(load()):
        assert panel["title"].strip(), panel["id"]
        assert panel.get("description", "").strip(), panel["title"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip() and metric_names(target["expr"]), panel["title"]


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in all_panels(load()):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_every_worker_metric_in_the_dashboard_is_exported_by_the_worker() -> None:
    """Runs without Triton, so a typo in a ``streamrec_`` name fails even the quick suite."""
    used = dashboard_metric_names(load())
    assert {name.split("_")[0] for name in used} <= {"streamrec", "nv"}, sorted(used)
    exposed = worker_exposed_names()
    missing = {n: sorted(t) for n, t in used.items() if n.startswith("streamrec_") and n not in exposed}
    assert not missing, f"not exported by the worker (metric -> panels): {missing}"


def test_every_metric_in_the_dashboard_is_exported_by_the_worker_or_a_real_triton(
    triton_server: TritonServer,
) -> None:
    with urllib.request.urlopen(triton_server.metrics_url, timeout=10) as response:
        triton = scraped_names(response.read().decode())
    assert "nv_inference_request_success" in triton, "the scrape is Triton's metrics page"
    exposed = worker_exposed_names() | triton
    used = dashboard_metric_names(load())
    missing = {n: sorted(t) for n, t in used.items() if n not in exposed}
    assert not missing, f"exported by neither the worker nor Triton (metric -> panels): {missing}"
