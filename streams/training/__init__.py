"""Live adapter training: worker snapshots in, published adapter sets out.

``dataset`` reads a snapshot the worker exported (``streams.store.snapshot``) into the training
library's inputs; ``job`` trains a set with ``models.training`` and publishes it atomically with
``serving.adapters``; ``verify`` rebuilds a published set from scratch and compares its bytes.
Training never opens the live DuckDB file. Import from here:
``from streams.training import train_from_snapshot``.
"""

from streams.training.dataset import TrainingData, read_snapshot
from streams.training.job import train_from_snapshot
from streams.training.verify import Check, Verification, read_data_cut, verify_set

__all__ = [
    "Check",
    "TrainingData",
    "Verification",
    "read_data_cut",
    "read_snapshot",
    "train_from_snapshot",
    "verify_set",
]
