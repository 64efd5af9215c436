"""The worker's metrics never label a series with a user, an item, a request or any other
unbounded value: a deleted user must not live on in Prometheus, and each value is a series."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import streams.metrics

# Every label the worker may use, each with a small, known set of values.
BOUNDED_LABELS = {
    "topic",  # the contract topics
    "source_topic",  # the topic a dead letter came from
    "partition",  # STREAMREC_PARTITIONS
    "lane",  # live, backfill
    "stage",  # the deletion stages
    "fallback",  # true, false
    "shard",  # K shards of a set
    "adapter_set",  # the sets kept on disk
    "mode",  # summary modes
    "kind",  # deletion, refresh
    "outcome",  # retrained, unchanged, failed
}
# What a label must never look like, whatever it is called.
IDENTIFYING = re.compile(r"user|key|item|request|event|session|email|(^|_)id$", re.IGNORECASE)


def worker_metrics() -> dict[str, MetricWrapperBase]:
    return {
        name: value for name, value in vars(streams.metrics).items() if isinstance(value, MetricWrapperBase)
    }


def test_every_metric_object_is_exported_and_named_streamrec() -> None:
    found = worker_metrics()
    assert set(found) == set(streams.metrics.__all__), "every metric is in __all__, and only metrics"
    for name, metric in found.items():
        assert metric._name.startswith("streamrec_"), name


def test_no_metric_declares_an_identifying_or_unbounded_label() -> None:
    for name, metric in worker_metrics().items():
        labels = set(metric._labelnames)
        assert not {label for label in labels if IDENTIFYING.search(label)}, name
        assert labels <= BOUNDED_LABELS, f"{name}: {sorted(labels - BOUNDED_LABELS)} not known to be bounded"


def test_no_series_in_the_registry_carries_an_identifying_label() -> None:
    """Whatever registered under ``streamrec_`` (here or later), no sample is labelled by a user."""
    streams.metrics.DELETIONS.labels(stage="received").inc(0)  # at least one labelled sample
    seen = 0
    for family in REGISTRY.collect():
        if not family.name.startswith("streamrec_"):
            continue
        for sample in family.samples:
            seen += 1
            labels = set(sample.labels) - {"le"}  # a histogram bucket's bound
            assert not {label for label in labels if IDENTIFYING.search(label)}, sample
            assert labels <= BOUNDED_LABELS, sample
    assert seen


def test_the_identifying_pattern_catches_what_it_must() -> None:
    for bad in ("user", "user_id", "userId", "user_key", "item_id", "request_id", "event_id", "id"):
        assert IDENTIFYING.search(bad), bad
    for good in BOUNDED_LABELS:
        assert not IDENTIFYING.search(good), good
