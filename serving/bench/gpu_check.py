"""The GPU check: bf16 on the GPU against fp32 on the CPU, then speed per batch size and training.

    python -m serving.bench.gpu_check [--device cuda] [--model-path DIR] [--users 32]
                                      [--batch-sizes 1,8,32] [--repeats 10] [--out DIR]
                                      [--triton-url HOST:PORT]

``serving/gpu_check.sh`` runs this on a GPU machine. Steps, each printed as it finishes:

1. **Reference.** A fixed set of ``--users`` users (rotations of 30 MovieLens titles, 20
   candidates each) is scored in this process on the CPU in fp32.
2. **Served.** tritonserver starts with the real model repository on ``--device`` (precision
   ``auto``: bf16 on CUDA), or ``--triton-url`` names a running one. Each user is scored through
   it; PASS needs a top-10 overlap of at least 9 of 10 for every user and |ΔP| <= 0.02.
3. **Speed.** For each batch size M, ``--repeats`` calls of M users each (cross-user batching):
   p50/p99 per call and users per second.
4. **Training.** LoRA training samples/s of one shard on ``--device`` (fp32 weights, the
   shared-prefix trainer), 32 synthetic sample groups.

Exit status 1 when the precision check fails. The figures go to ``--out``/gpu_check.json.
On a machine without a GPU, ``--device cpu`` runs the same steps (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.prompts import build_candidate, build_context
from models.types import HistoryEntry, ItemText
from serving.bench.scoring import MOVIES
from serving.client import ScoreRequest
from serving.settings import DEFAULT_DATA_DIR, ENV_DATA_DIR, ENV_MODEL_PATH

__all__ = ["fixed_requests", "compare", "main"]

MIN_OVERLAP = 9  # of the top 10
MAX_DELTA_P = 0.02
HISTORY = 10
CANDIDATES = 20


def fixed_requests(users: int) -> list[ScoreRequest]:
    """``users`` deterministic users: user u's history and candidates are the titles rotated by u."""
    items = [
        ItemText(item_id=str(i), title=title, categories=tuple(genres.split("|")))
        for i, (title, genres) in enumerate(MOVIES)
    ]
    requests = []
    for u in range(users):
        rotated = items[u % len(items) :] + items[: u % len(items)]
        history = [
            HistoryEntry(item=item, event_type="rating", rating=3.0 + ((i + u) % 5) / 2, ts=i * 60_000)
            for i, item in enumerate(rotated[:HISTORY])
        ]
        pool = rotated[HISTORY:]
        candidates = tuple(build_candidate(pool[i % len(pool)]) for i in range(CANDIDATES))
        requests.append(
            ScoreRequest(build_context(history), candidates, tuple(h.item.item_id for h in history))
        )
    return requests


def compare(
    reference: Sequence[npt.NDArray[np.float32]], served: Sequence[npt.NDArray[np.float32]]
) -> dict[str, Any]:
    """Top-10 overlap per user (the minimum counts) and the largest |ΔP| over all candidates."""
    overlaps = []
    for ref, got in zip(reference, served, strict=True):
        k = min(10, len(ref))
        top_ref = set(np.argsort(-ref, kind="stable")[:k].tolist())
        top_got = set(np.argsort(-got, kind="stable")[:k].tolist())
        overlaps.append(len(top_ref & top_got))
    delta = max(
        float(np.max(np.abs(np.asarray(r, np.float64) - np.asarray(g, np.float64))))
        for r, g in zip(reference, served, strict=True)
    )
    passed = min(overlaps) >= MIN_OVERLAP and delta <= MAX_DELTA_P
    return {"min_top10_overlap": min(overlaps), "max_abs_delta_p": delta, "pass": passed}


async def _score_each(
    url: str, requests: Sequence[ScoreRequest]
) -> tuple[list[npt.NDArray[np.float32]], str]:
    from serving.client import RecommenderClient

    client = RecommenderClient(url, timeout_s=300.0)
    try:
        results = [(await client.score_many([r]))[0] for r in requests]
    finally:
        await client.close()
    return [r.probabilities for r in results], results[0].model_name


async def _time_batches(
    url: str, requests: Sequence[ScoreRequest], sizes: Sequence[int], repeats: int
) -> dict[str, dict[str, float]]:
    from serving.client import RecommenderClient

    client = RecommenderClient(url, timeout_s=300.0)
    figures: dict[str, dict[str, float]] = {}
    try:
        for size in sizes:
            batch = [requests[i % len(requests)] for i in range(size)]
            await client.score_many(batch)  # warm-up: allocator and kernel selection
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                await client.score_many(batch)
                times.append(time.perf_counter() - started)
            times.sort()
            p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
            figures[str(size)] = {
                "p50_ms": round(statistics.median(times) * 1000, 2),
                "p99_ms": round(p99 * 1000, 2),
                "users_per_second": round(size / statistics.mean(times), 2),
            }
            row = figures[str(size)]
            print(
                f"batch {size:>3} users  p50 {row['p50_ms']:9.1f} ms  p99 {row['p99_ms']:9.1f} ms  "
                f"{row['users_per_second']:8.1f} users/s",
                flush=True,
            )
    finally:
        await client.close()
    return figures


def _training(model_dir: Path, device: str, groups: int) -> dict[str, float]:
    from models.bench.training import sample_groups
    from models.loading import load_causal_lm
    from models.training.lora import LoraSettings, train_adapter

    sample_groups_ = sample_groups(None, groups)
    model, tokenizer = load_causal_lm(model_dir, device=device, precision="float32")
    settings = replace(LoraSettings(), max_epochs=1, groups_per_step=8)
    trained = train_adapter(model, tokenizer, sample_groups_, [], settings)
    return {"samples_per_second": round(trained.samples_per_second, 2), "seconds": round(trained.seconds, 2)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.bench.gpu_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device", default="cuda", help="where Triton and training run (cuda, cuda:N, cpu)")
    parser.add_argument(
        "--model-path",
        type=Path,
        default=None,
        help=f"HF causal-LM dir (default: ${ENV_MODEL_PATH} or SmolLM2)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"model cache (default: ${ENV_DATA_DIR} or {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--training-groups", type=int, default=32, help="0 skips the training step")
    parser.add_argument("--triton-url", default=None, help="a running Triton (else one is started)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    if args.users < 1 or args.repeats < 1 or not sizes or min(sizes) < 1:
        parser.error("--users, --repeats and every batch size must be >= 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Deterministic training kernels on CUDA need a fixed cuBLAS workspace.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

    import torch

    from models.loading import resolve_model_dir
    from models.scoring import Scorer
    from serving.launcher import DEFAULT_MODEL_REPOSITORY, TritonConfig, TritonServer, free_ports

    data_dir = args.data_dir or Path(os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)
    model_path = args.model_path or (
        Path(os.environ[ENV_MODEL_PATH]) if os.environ.get(ENV_MODEL_PATH) else None
    )
    model_dir = resolve_model_dir(data_dir, model_path)
    report: dict[str, Any] = {
        "model": model_dir.name,
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "machine": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
        "users": args.users,
        "candidates": CANDIDATES,
    }
    print(f"model {model_dir.name}; device {args.device}; GPU {report['gpu']}", flush=True)
    requests = fixed_requests(args.users)

    started = time.perf_counter()
    reference_scorer = Scorer.from_pretrained(model_dir, device="cpu", precision="float32")
    reference = [reference_scorer.score(r.context, r.candidates) for r in requests]
    del reference_scorer
    print(
        f"reference: {args.users} users scored on the CPU in fp32 ({time.perf_counter() - started:.1f} s)",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="streamrec-gpu-check-") as scratch:
        server: TritonServer | None = None
        url = args.triton_url
        if url is None:
            http, grpc, metrics = free_ports(3)
            server = TritonServer(
                TritonConfig(
                    model_repository=DEFAULT_MODEL_REPOSITORY,
                    data_dir=data_dir,
                    http_port=http,
                    grpc_port=grpc,
                    metrics_port=metrics,
                    model_path=model_path,
                    log_path=Path(scratch) / "tritonserver.log",
                    models=("recommender",),
                    extra_env={
                        "STREAMREC_DEVICE": args.device,
                        "STREAMREC_PRECISION": "auto",
                        "STREAMREC_ADAPTERS_DIR": str(Path(scratch) / "adapters"),
                    },
                )
            )
            started = time.perf_counter()
            server.start()
            server.wait_ready(timeout_s=300.0, models=("recommender",))
            url = server.grpc_url
            print(f"tritonserver ready on {args.device} ({time.perf_counter() - started:.1f} s)", flush=True)
        try:
            served, served_name = asyncio.run(_score_each(url, requests))
            check = compare(reference, served)
            report["precision_check"] = check
            verdict = "PASS" if check["pass"] else "FAIL"
            print(
                f"{verdict}: served ({served_name}) against CPU fp32: min top-10 overlap "
                f"{check['min_top10_overlap']}/10 (need {MIN_OVERLAP}), "
                f"max |dP| {check['max_abs_delta_p']:.4f} (need <= {MAX_DELTA_P})",
                flush=True,
            )
            report["scoring"] = asyncio.run(_time_batches(url, requests, sizes, args.repeats))
        finally:
            if server is not None:
                server.stop()

    if args.training_groups > 0:
        report["training"] = _training(model_dir, args.device, args.training_groups)
        print(
            f"LoRA training, one shard: {report['training']['samples_per_second']:.1f} samples/s", flush=True
        )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out / 'gpu_check.json'}")
    return 0 if report["precision_check"]["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
