"""Fixtures shared by the evaluation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run tiny SASRec models on one thread.

    Their matrices are a few dozen wide: a second intra-op thread only adds synchronisation,
    and on a busy 2-core machine it made a 0.2 s fit take 15 s. Results are the same either way.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
