"""TopicReader's options that need no broker to check."""

from __future__ import annotations

import pytest

from streams.kafka import TopicReader


def test_a_negative_fetch_wait_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="fetch_wait_max_ms must be >= 0, got -1"):
        TopicReader("127.0.0.1:1", "clicks", fetch_wait_max_ms=-1)
