"""Benchmark: prefix-cached scoring with K aggregated shard adapters against the base model.

    python -m serving.bench.adapters [--model-path DIR] [--shards 4] [--candidates 20] [--repeats 5]
                                     [--out DIR]

The same request (``serving.bench.scoring.sample_request``: 10 rated movies, 20 candidates) is
scored in this process by the base model and by the same model carrying K LoRA adapters
(r = 8 on q/k/v/o, seeded random weights: the cost does not depend on what they learned) with
per-request APA weights, the way the Triton recommender runs. Both timings are medians taken
in one run, alternating; the goal is at most 1.3x the base cost. A sanity check fails the run
if all-zero weights do not give exactly the base model's scores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serving.bench.scoring import sample_request
from serving.settings import DEFAULT_DATA_DIR, ENV_DATA_DIR, ENV_MODEL_PATH

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.bench.adapters", description=__doc__)
    parser.add_argument("--model-path", type=Path, default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write adapters.json here")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from models.loading import load_causal_lm, resolve_model_dir
    from models.scoring import Scorer
    from models.training.aggregation import ValidationIndex, WeightRule
    from models.training.apa_scorer import AggregatedScorer
    from models.training.lora import LoraSettings, attach_lora, lora_tensors

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data_dir = args.data_dir or Path(os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)
    model_path = args.model_path or (
        Path(os.environ[ENV_MODEL_PATH]) if os.environ.get(ENV_MODEL_PATH) else None
    )
    model_dir = resolve_model_dir(data_dir, model_path)
    settings = LoraSettings()
    adapters = []
    for k in range(args.shards):
        model, _ = load_causal_lm(model_dir)
        peft_model = attach_lora(model, LoraSettings(seed=k))
        generator = torch.Generator().manual_seed(1000 + k)
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, 0.01, generator=generator)
        adapters.append(lora_tensors(peft_model))
    base_model, tokenizer = load_causal_lm(model_dir)
    base = Scorer(base_model, tokenizer, name=model_dir.name)
    context, candidates = sample_request(args.candidates)
    base_scores = base.score(context, candidates)
    model, tokenizer = load_causal_lm(model_dir)
    index = ValidationIndex(
        (), (), np.zeros(0, np.int64), np.zeros((0, 1)), np.zeros(0, np.int64), np.zeros((0, args.shards))
    )
    aggregated = AggregatedScorer(
        Scorer(model, tokenizer, name=model_dir.name),
        adapters,
        [settings.scaling] * args.shards,
        index,
        WeightRule(),
        {},
    )
    zero = aggregated.score_with(np.zeros(args.shards), context, candidates)
    weights = np.full(args.shards, 1.0 / args.shards)
    aggregated.score_with(weights, context, candidates)  # warm-up
    base.score(context, candidates)
    base_times, agg_times = [], []
    for _ in range(args.repeats):  # alternate, so machine noise hits both alike
        started = time.perf_counter()
        base.score(context, candidates)
        base_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        aggregated.score(context, candidates, ())  # the weight rule runs too (equal weights here)
        agg_times.append(time.perf_counter() - started)
    base_s, agg_s = statistics.median(base_times), statistics.median(agg_times)
    tokens = len(tokenizer(context)["input_ids"])
    print(f"model            {model_dir.name} (torch threads {torch.get_num_threads()})")
    print(f"request          {len(candidates)} candidates, context {tokens} tokens")
    print(f"base model       {base_s * 1000:9.1f} ms  (median of {args.repeats})")
    print(
        f"{args.shards} adapters       {agg_s * 1000:9.1f} ms  "
        f"(rank {args.shards * settings.r} aggregated LoRA)"
    )
    print(f"cost ratio       {agg_s / base_s:9.2f}x  (goal <= 1.30x)")
    diff = float(np.max(np.abs(zero - base_scores)))
    print(f"zero weights     max |diff| vs base {diff:.2e}")
    if diff > 1e-6:
        print("FAIL: all-zero weights must reproduce the base model", file=sys.stderr)
        return 1
    if args.out is not None:
        report = {
            "date": time.strftime("%Y-%m-%d"),
            "model": model_dir.name,
            "shards": args.shards,
            "candidates": len(candidates),
            "context_tokens": tokens,
            "repeats": args.repeats,
            "base_ms": round(base_s * 1000, 1),
            "adapters_ms": round(agg_s * 1000, 1),
            "ratio": round(agg_s / base_s, 3),
            "goal": 1.3,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "adapters.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
