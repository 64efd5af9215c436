"""Fixtures shared by the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def restore_torch_globals() -> Iterator[None]:
    """Put the process-wide torch settings (deterministic algorithms, threads) back after a test.

    ``train_adapter`` restores them itself; tests that change them on purpose, or that would
    hide a regression of that restore from the rest of the session, use this as a guard.
    """
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)
