"""Benchmark: LoRA training samples/s with shared prefixes against the naive per-sample prompts.

    python -m models.bench.training --model-dir DIR [--movielens DIR] [--groups 32] [--epochs 1]

Both runs train the same sample groups with the same settings in one process, one after the
other; only ``LoraSettings.shared_prefix`` differs. Prints samples/s, token positions per step
and the speed-up, and writes ``training.json`` with ``--out``. With ``--movielens`` the groups
come from real ml-latest-small histories (the first users in id order); otherwise from
synthetic titled items of similar length.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.training.samples import SampleGroup

__all__ = ["main", "sample_groups"]


def sample_groups(movielens: Path | None, count: int) -> list[SampleGroup]:
    """``count`` sample groups from MovieLens histories, or synthetic titled items without them."""
    from models.training.samples import SampleConfig, TrainingEvent, UserData, build_user_groups
    from models.types import ItemText

    config = SampleConfig()
    if movielens is not None:
        from models.evaluation.data import natural_key
        from models.evaluation.movielens import load_movielens

        data = load_movielens(movielens)
        catalog = dict(data.items)
        users = [
            UserData(
                f"user-{user}",
                tuple(
                    TrainingEvent(f"{user}-{k}", i.item_id, i.event_type, i.rating, i.ts, k)
                    for k, i in enumerate(data.histories[user])
                ),
            )
            for user in sorted(data.histories, key=natural_key)
        ]
    else:
        genres = ("Action", "Comedy", "Drama", "Thriller", "Romance", "Sci-Fi")
        catalog = {
            str(i): ItemText(
                str(i), f"Synthetic Movie Number {i} ({1980 + i % 40})", (genres[i % 6], genres[(i * 5) % 6])
            )
            for i in range(1, 400)
        }
        users = [
            UserData(
                f"user-{u}",
                tuple(
                    TrainingEvent(
                        f"{u}-{k}", str((u * 31 + k * 7) % 399 + 1), "rating", float((u + k) % 5 + 1), k, k
                    )
                    for k in range(30)
                ),
            )
            for u in range(200)
        ]
    order = sorted(catalog)
    groups: list[SampleGroup] = []
    for user in users:
        groups.extend(g for g in build_user_groups(user, catalog, order, config) if len(g.samples) > 1)
        if len(groups) >= count:
            break
    return groups[:count]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.bench.training", description=__doc__)
    parser.add_argument("--model-dir", type=Path, required=True, help="a local HF causal-LM directory")
    parser.add_argument("--movielens", type=Path, default=None, help="ml-latest-small directory")
    parser.add_argument("--groups", type=int, default=32, help="sample groups (positive + 3 negatives)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from models.loading import load_causal_lm
    from models.training.lora import LoraSettings, train_adapter

    groups = sample_groups(args.movielens, args.groups)
    if not groups:
        parser.error("no sample groups could be built")
    samples = sum(len(g.samples) for g in groups)
    base = replace(LoraSettings(), max_epochs=args.epochs, threads=args.threads, groups_per_step=8)
    results = {}
    for name, shared in (("naive", False), ("shared_prefix", True)):
        model, tokenizer = load_causal_lm(args.model_dir)
        started = time.perf_counter()
        trained = train_adapter(model, tokenizer, groups, [], replace(base, shared_prefix=shared))
        wall = time.perf_counter() - started
        results[name] = {
            "samples_per_second": round(trained.samples_per_second, 3),
            "train_seconds": round(trained.seconds, 2),
            "wall_seconds": round(wall, 2),
            "first_loss": round(trained.losses[0], 5),
        }
        print(
            f"{name:<14} {trained.samples_per_second:8.2f} samples/s  "
            f"({trained.seconds:.1f} s for {samples} samples)"
        )
    speedup = results["shared_prefix"]["samples_per_second"] / max(
        results["naive"]["samples_per_second"], 1e-9
    )
    print(
        f"shared-prefix speed-up: {speedup:.2f}x "
        f"({len(groups)} groups, {samples} samples, {args.epochs} epoch(s))"
    )
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "model_dir": str(args.model_dir),
        "groups": len(groups),
        "samples": samples,
        "epochs": args.epochs,
        "threads": args.threads,
        "data": "movielens" if args.movielens else "synthetic",
        "results": results,
        "speedup": round(speedup, 3),
    }
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "training.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
