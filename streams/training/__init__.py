"""Live adapter training: worker snapshots in, published adapter sets out.

``dataset`` reads a snapshot the worker exported (``streams.store.snapshot``) into the training
library's inputs; ``job`` trains a set with ``models.training`` and publishes it atomically with
``serving.adapters``. Training never opens the live DuckDB file. Import from here:
``from streams.training import train_from_snapshot``.
"""

from streams.training.dataset import TrainingData, read_snapshot
from streams.training.job import train_from_snapshot

__all__ = ["TrainingData", "read_snapshot", "train_from_snapshot"]
