"""The configuration of one offline evaluation run, validated on construction.

It sits below the runner and the report (both read it), so neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from models.evaluation.data import SPLITS
from models.evaluation.metrics import BootstrapConfig
from models.evaluation.sasrec import SASRecConfig
from models.evaluation.summaries import SummaryChainConfig
from models.summarizer import GenerationConfig

__all__ = ["ADAPTER_MODELS", "DATASETS", "LLM_MODELS", "MODEL_NAMES", "AdapterEvalConfig", "EvalConfig"]

MODEL_NAMES: tuple[str, ...] = (
    "random",
    "popularity",
    "itemknn",
    "sasrec",
    "llm-zeroshot",
    "llm-summary",
    "llm-lora",
    "llm-apa",
    "llm-apa-random",
    "hybrid",
)
# Rows the LLM scores (test split only by default: they cost seconds per target).
LLM_MODELS: frozenset[str] = frozenset(
    {"llm-zeroshot", "llm-summary", "llm-lora", "llm-apa", "llm-apa-random", "hybrid"}
)
ADAPTER_MODELS: frozenset[str] = frozenset({"llm-lora", "llm-apa", "llm-apa-random", "hybrid"})


@dataclass(frozen=True)
class AdapterEvalConfig:
    """The fine-tuned rows' budget; the rest of the recipe is ``models.training``'s defaults."""

    shards: int = 4  # K of llm-apa and llm-apa-random (llm-lora is K = 1)
    max_samples: int = 1024  # APA and TALLRec trained on 1,024 samples
    epochs: int = 4  # upper bound; early stopping on each shard's validation AUC

    def __post_init__(self) -> None:
        for name in ("shards", "max_samples", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AdapterEvalConfig.{name} must be a positive integer, got {value!r}")


DATASETS: tuple[str, ...] = ("movielens", "mind")


@dataclass(frozen=True)
class EvalConfig:
    data: Path
    out: Path
    dataset: str = "movielens"
    users: int | None = None  # a seeded sample of evaluated users; None = all eligible users
    seed: int = 0
    models: tuple[str, ...] = MODEL_NAMES
    llm_splits: tuple[str, ...] = ("test",)
    model_path: Path | None = None  # scoring LM directory; None = the packaged SmolLM2
    summarizer_path: Path | None = None  # None = the scoring model
    data_dir: Path = Path(".streamrec")  # where the packaged SmolLM2 is converted and cached
    device: str = "cpu"
    prompt_recent: int = 5  # the worker's STREAMREC_RECENT_ITEMS default
    sasrec: SASRecConfig = field(default_factory=SASRecConfig)
    chain: SummaryChainConfig = field(default_factory=SummaryChainConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    adapters: AdapterEvalConfig = field(default_factory=AdapterEvalConfig)
    progress: bool = True
    resume: bool = False  # reuse checkpoints/<model>.json of an identical earlier run in ``out``

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"EvalConfig.dataset must be one of {DATASETS}, got {self.dataset!r}")
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        if unknown or not self.models:
            raise ValueError(
                f"EvalConfig.models must be a non-empty subset of {MODEL_NAMES}, got {self.models!r}"
            )
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"EvalConfig.models must not repeat a model, got {self.models!r}")
        if not self.llm_splits or any(s not in SPLITS for s in self.llm_splits):
            raise ValueError(
                f"EvalConfig.llm_splits must be a non-empty subset of {SPLITS}, got {self.llm_splits!r}"
            )
        if self.users is not None and (isinstance(self.users, bool) or self.users < 1):
            raise ValueError(f"EvalConfig.users must be a positive integer or None, got {self.users!r}")
        if self.seed < 0:
            raise ValueError(f"EvalConfig.seed must be >= 0, got {self.seed!r}")
        if self.prompt_recent < 1:
            raise ValueError(f"EvalConfig.prompt_recent must be >= 1, got {self.prompt_recent!r}")

    def splits_for(self, model: str) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in self.llm_splits) if model in LLM_MODELS else SPLITS
