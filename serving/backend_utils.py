"""Request helpers shared by the python-backend model files (``model_repository/*/1/*.py``).

Importable only inside Triton's python-backend stub, which provides
``triton_python_backend_utils``; the model files import it after putting the project on
``sys.path``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import triton_python_backend_utils as pb_utils

from serving.exceptions import ContractError

__all__ = ["input_array", "optional_input_array", "error_response"]


def input_array(request: Any, name: str) -> npt.NDArray[Any]:
    """The named input tensor of ``request`` as a numpy array; a missing input is a contract error."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise ContractError(f"missing input {name}")
    return np.asarray(tensor.as_numpy())


def optional_input_array(request: Any, name: str) -> npt.NDArray[Any] | None:
    """The named input as a numpy array, or None when the request does not carry it."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else np.asarray(tensor.as_numpy())


def error_response(message: str, code: Any) -> Any:
    """A per-request error response: one bad request must not take the model down."""
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message, code))
