"""Pure helpers of the latency benchmark (the benchmark itself needs the real stack: make bench)."""

from __future__ import annotations

import math
import os

from streams.bench.latency import percentile
from streams.bench.probes import peak_rss_mb, stage_means, tree_peak_rss_mb


def test_percentile_interpolates_linearly() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert math.isclose(percentile(values, 95), 3.85)
    assert math.isnan(percentile([], 50))


def test_peak_rss_of_this_process_is_positive_and_of_no_process_is_none() -> None:
    rss = peak_rss_mb(os.getpid())
    assert rss is not None and rss > 1
    assert peak_rss_mb(None) is None
    assert peak_rss_mb(2**22 + 12345) is None  # above the default pid_max: no such process


def test_tree_peak_rss_counts_children() -> None:
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(64 << 20); time.sleep(30)"])
    try:
        time.sleep(1.5)  # let the child allocate
        alone, tree = peak_rss_mb(os.getpid()), tree_peak_rss_mb(os.getpid())
        assert alone is not None and tree is not None
        assert tree >= alone + 60  # the child's 64 MiB buffer is in the tree's figure
    finally:
        child.kill()
        child.wait()


def test_stage_means_divide_sum_by_count_and_skip_other_metrics() -> None:
    scrape = "\n".join(
        [
            "# TYPE streamrec_score_seconds histogram",
            'streamrec_score_seconds_bucket{le="+Inf"} 4.0',
            "streamrec_score_seconds_count 4.0",
            "streamrec_score_seconds_sum 2.0",
            "# TYPE streamrec_recommend_seconds histogram",
            "streamrec_recommend_seconds_count 0.0",
            "streamrec_recommend_seconds_sum 0.0",
            "# TYPE other_seconds histogram",
            "other_seconds_count 1.0",
            "other_seconds_sum 9.0",
            "",
        ]
    )
    assert stage_means(scrape) == {"streamrec_score_seconds": 0.5}
