"""Triton python-backend model ``summarizer``: one preference summary per prompt.

Lifecycle (python_backend), the same discipline as ``recommender``: ``initialize`` resolves
settings from config.pbtxt parameters and the environment, sets torch's thread count and
loads the LM once (converting the packaged SmolLM2 GGUF on first use); ``execute`` answers
every request with exactly one response, in order, turning bad input into a per-request
error instead of raising, so one bad request never takes the model down; ``finalize`` drops
the model.

Generation (greedy, batched, chat template) lives in ``models.summarizer`` and the tensor
contract in ``serving.contract``; this file only adapts them to Triton. Greedy decoding makes
a summary a pure function of its prompt, which the streaming side relies on to rebuild a
user's summary chain after a deletion.
"""

import json
import logging
import os
import site
import sys
from typing import Any


def _adopt_pythonpath() -> None:
    """Put $PYTHONPATH first on sys.path, as a normal interpreter would.

    The python backend stub (Triton 2.51) starts its interpreter ignoring PYTHONPATH, so the
    venv and the project that the launcher exports there are invisible, and the base
    interpreter's own site-packages (with other numpy/torch versions, or none) would win.
    ``site.addsitedir`` also runs the entries' .pth files (editable installs use them).
    This cannot live in a shared module: the project is not importable until it has run.
    """
    entries = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    before = list(sys.path)
    for entry in entries:
        site.addsitedir(entry)
    added = [entry for entry in sys.path if entry not in before]
    sys.path[:] = added + before


_adopt_pythonpath()
# Nothing may be downloaded at run time. Set before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

from models.exceptions import GenerationInputError  # noqa: E402
from models.loading import resolve_model_dir  # noqa: E402
from models.summarizer import GenerationConfig, Summarizer  # noqa: E402
from serving.backend_utils import error_response, input_array  # noqa: E402
from serving.contract import MODEL_ID, PROMPTS, SUMMARIES, decode_texts, encode_texts  # noqa: E402
from serving.exceptions import ContractError  # noqa: E402
from serving.settings import SummarizerSettings  # noqa: E402

log = logging.getLogger("serving.summarizer")


class TritonPythonModel:
    summarizer: Summarizer | None
    model_id: str
    max_prompts: int

    def initialize(self, args: dict[str, str]) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        model_config = json.loads(args["model_config"])
        parameters = {
            key: str(value.get("string_value", ""))
            for key, value in model_config.get("parameters", {}).items()
        }
        settings = SummarizerSettings.resolve(parameters)
        if settings.torch_threads is not None:
            torch.set_num_threads(settings.torch_threads)
        model_dir = resolve_model_dir(settings.data_dir, settings.model_path)
        config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens,
            max_prompt_tokens=settings.max_prompt_tokens,
            batch_size=settings.batch_size,
            repetition_penalty=settings.repetition_penalty,
        )
        self.summarizer = Summarizer.from_pretrained(
            model_dir, config, device=settings.device, precision=settings.precision
        )
        self.model_id = self.summarizer.name
        self.max_prompts = settings.max_prompts
        log.info(
            "summarizer v%s loaded %s from %s on %s (torch threads %d, %s, chat template %s)",
            args.get("model_version", "?"),
            self.model_id,
            model_dir,
            self.summarizer.device,
            torch.get_num_threads(),
            config,
            self.summarizer.uses_chat_template,
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._respond(request) for request in requests]

    def _respond(self, request: Any) -> Any:
        try:
            prompts = decode_texts(input_array(request, PROMPTS.name), PROMPTS.name)
            if len(prompts) > self.max_prompts:
                raise ContractError(f"{len(prompts)} prompts exceed max_prompts={self.max_prompts}")
            if self.summarizer is None:
                raise RuntimeError("model is finalized")
            texts = self.summarizer.summarize(prompts)
        except (ContractError, GenerationInputError) as exc:
            return error_response(str(exc), pb_utils.TritonError.INVALID_ARG)
        except Exception as exc:  # noqa: BLE001 - per-request error, never raise from execute
            # E.g. a torch RuntimeError (out of memory): answer this request, keep serving.
            log.exception("summarization failed")
            return error_response(f"summarization failed: {exc}", pb_utils.TritonError.INTERNAL)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor(SUMMARIES.name, encode_texts(texts)),
                pb_utils.Tensor(MODEL_ID.name, encode_texts([self.model_id])),
            ]
        )

    def finalize(self) -> None:
        self.summarizer = None
        log.info("summarizer finalized")
