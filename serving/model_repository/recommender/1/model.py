"""Triton python-backend model ``recommender``: P(Yes) for the candidates of M users in one request.

Lifecycle (python_backend): ``initialize`` resolves settings from config.pbtxt parameters and
the environment, sets torch's thread count, and loads the LM once (converting the packaged
SmolLM2 GGUF on first use); ``execute`` answers every request with exactly one response, in
order, turning bad input into a per-request error instead of raising, so one bad request
never takes the model down; ``finalize`` drops the model.

All scoring logic lives in ``models.scoring`` (prefix KV cache shared across candidates) and
``serving.adapter_scorer`` (the current adapter set, aggregated per request, switched by an
in-model version check); the tensor contract is ``serving.contract``. This file only adapts
them to Triton.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

from models.exceptions import ScoringInputError  # noqa: E402
from models.loading import resolve_model_dir  # noqa: E402
from models.scoring import Scorer, ScorerConfig  # noqa: E402
from models.training.apa_scorer import AdapterRequest  # noqa: E402
from serving.adapter_scorer import AdapterScorer  # noqa: E402
from serving.backend_utils import error_response, input_array, optional_input_array  # noqa: E402
from serving.contract import (  # noqa: E402
    ADAPTER_SET,
    CANDIDATE_COUNTS,
    CANDIDATES,
    CONTEXT,
    CONTEXT_ITEM_COUNTS,
    CONTEXT_ITEMS,
    EXCLUDED_SHARDS,
    MODEL_ID,
    PROBABILITIES,
    SHARD_WEIGHTS,
    decode_shards,
    decode_users,
    encode_probabilities,
    encode_texts,
)
from serving.exceptions import ContractError  # noqa: E402
from serving.settings import RecommenderSettings  # noqa: E402

log = logging.getLogger("serving.recommender")


class TritonPythonModel:
    scorer: AdapterScorer | None
    model_id: str

    def initialize(self, args: dict[str, str]) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        model_config = json.loads(args["model_config"])
        parameters = {
            key: str(value.get("string_value", ""))
            for key, value in model_config.get("parameters", {}).items()
        }
        settings = RecommenderSettings.resolve(parameters)
        if settings.torch_threads is not None:
            torch.set_num_threads(settings.torch_threads)
        model_dir = resolve_model_dir(settings.data_dir, settings.model_path)
        base = Scorer.from_pretrained(
            model_dir,
            ScorerConfig(max_candidates=settings.max_candidates),
            device=settings.device,
            precision=settings.precision,
        )
        self.scorer = AdapterScorer(base, settings.adapters_root)
        self.model_id = base.name
        log.info(
            "recommender v%s loaded %s from %s on %s, precision %s (torch threads %d), adapter set %s",
            args.get("model_version", "?"),
            self.model_id,
            model_dir,
            base.device,
            settings.precision,
            torch.get_num_threads(),
            self.scorer.version,
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._respond(request) for request in requests]

    def _respond(self, request: Any) -> Any:
        try:
            users = decode_users(
                input_array(request, CONTEXT.name),
                input_array(request, CANDIDATES.name),
                optional_input_array(request, CANDIDATE_COUNTS.name),
                optional_input_array(request, CONTEXT_ITEMS.name),
                optional_input_array(request, CONTEXT_ITEM_COUNTS.name),
            )
            excluded = decode_shards(optional_input_array(request, EXCLUDED_SHARDS.name))
            if self.scorer is None:
                raise RuntimeError("model is finalized")
            scored = self.scorer.score_many(
                [AdapterRequest(u.context, u.candidates, u.context_items) for u in users], excluded
            )
        except (ContractError, ScoringInputError) as exc:
            return error_response(str(exc), pb_utils.TritonError.INVALID_ARG)
        except Exception as exc:  # noqa: BLE001 - per-request error, never raise from execute
            # E.g. a torch RuntimeError (out of memory): answer this request, keep serving.
            log.exception("scoring failed")
            return error_response(f"scoring failed: {exc}", pb_utils.TritonError.INTERNAL)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor(
                    PROBABILITIES.name, encode_probabilities(np.concatenate(scored.probabilities))
                ),
                pb_utils.Tensor(MODEL_ID.name, encode_texts([self.model_id])),
                pb_utils.Tensor(ADAPTER_SET.name, encode_texts([scored.version])),
                pb_utils.Tensor(SHARD_WEIGHTS.name, encode_probabilities(scored.weights.reshape(-1))),
            ]
        )

    def finalize(self) -> None:
        self.scorer = None
        log.info("recommender finalized")
