"""Fixtures for the streams unit tests: an in-memory store, nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.store import Store


@pytest.fixture
def store() -> Iterator[Store]:
    """A fresh, migrated in-memory DuckDB store."""
    db = Store(":memory:")
    yield db
    db.close()
