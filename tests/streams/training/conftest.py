"""The store every adapter-training test starts from (see ``factories.fill``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.store import Store

from .factories import fill


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "data" / "streamrec.duckdb")
    fill(s)
    return s
