"""Fixtures shared by the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def restore_torch_globals() -> Iterator[None]:
    """Undo ``train_adapter``'s process-wide settings (deterministic algorithms, thread count).

    ``train_adapter`` switches them on for its own determinism and leaves them so; other tests
    in the session must not inherit them.
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
