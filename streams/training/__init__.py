"""Live adapter training: worker snapshots in, published adapter sets out.

``dataset`` reads a snapshot the worker exported (``streams.store.snapshot``) into the training
library's inputs; ``job`` trains a set with ``models.training`` and publishes it atomically with
``serving.adapters``; ``cut`` reads a published set and the retained data inside its cut;
``verify`` rebuilds a set from scratch there and compares its bytes; ``retrain`` rebuilds only
the shards whose data a deletion changed; ``scheduler`` runs retrains in their own process.
Training never opens the live DuckDB file. Import from here:
``from streams.training import train_from_snapshot``.
"""

from streams.training.cut import SetAtCut, load_set_at_cut, read_data_cut
from streams.training.dataset import TrainingData, read_snapshot
from streams.training.job import train_from_snapshot
from streams.training.retrain import RetrainResult, ShardOutcome, retrain_set
from streams.training.scheduler import Trainer
from streams.training.scheduler import main as trainer_main
from streams.training.trainer_config import TrainerConfig
from streams.training.verify import Check, Verification, verify_set

__all__ = [
    "Check",
    "RetrainResult",
    "SetAtCut",
    "ShardOutcome",
    "Trainer",
    "TrainerConfig",
    "TrainingData",
    "Verification",
    "load_set_at_cut",
    "read_data_cut",
    "read_snapshot",
    "retrain_set",
    "train_from_snapshot",
    "trainer_main",
    "verify_set",
]
