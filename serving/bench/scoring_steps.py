"""Benchmark: what each CPU scoring step buys, every step checked against fp32 scores.

    python -m serving.bench.scoring_steps [--users 16] [--repeats 3] [--out reports/bench]

One process, one model directory, the same fixed users (``gpu_check.fixed_requests``: 20
candidates each, ~300-token contexts). Each step is timed on user 0 (median of
``--repeats`` after a warm-up) and compared with the fp32 packed scores of all users: the
smallest top-10 overlap and the largest |dP|. The steps:

- ``naive``: full prompts in one padded batch, full-vocabulary logits (``Scorer.score_naive``);
- ``row per candidate``: the previous fast path, kept here as the baseline: the context runs
  once, and its KV cache is copied into one batch row per candidate;
- ``packed``: all candidates packed into one row behind the cache, each candidate whole;
- ``packed + shared head once``: the current fast path: the candidates' common first tokens
  (``Target item: "``) run once, as the end of the prefix (``models.packing.hoist_shared_head``);
- ``packed + mixed``: the same with bf16 projection weights and an fp32 stream
  (``STREAMREC_PRECISION=mixed``);
- two rejected steps, measured so that the rejection has figures: the whole model in bf16,
  and int8 dynamic quantization (per-channel weights) of every projection.

A step is accepted when its top-10 overlap with fp32 is at least 9 of 10 for every user and
|dP| is at most 0.02, the same bar as the GPU check. Writes ``scoring_steps.json``, ``.md``
and a bar chart ``.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from models.loading import load_causal_lm, resolve_model_dir
from models.scoring import Scorer, ScorerConfig
from serving.bench.gpu_check import MAX_DELTA_P, MIN_OVERLAP, compare, fixed_requests
from serving.bench.scoring import median_seconds
from serving.client import ScoreRequest
from serving.settings import DEFAULT_DATA_DIR

__all__ = ["main", "score_row_per_candidate"]

Score = Callable[[str, Sequence[str]], npt.NDArray[np.float32]]


@torch.inference_mode()
def score_row_per_candidate(
    scorer: Scorer, context: str, candidates: Sequence[str]
) -> npt.NDArray[np.float32]:
    """The fast path before packing, as the baseline: one batch row (and cache copy) per candidate."""
    context_ids, candidate_ids = scorer.tokenize(context, candidates)
    body = scorer.model.base_model
    prefix_len = len(context_ids)
    prefix_cache = body(input_ids=torch.tensor([context_ids]), use_cache=True).past_key_values
    out = np.empty(len(candidate_ids), dtype=np.float32)
    step = scorer.config.candidate_batch_size
    for start in range(0, len(candidate_ids), step):
        ids, mask, lengths = Scorer.pad_right(candidate_ids[start : start + step])
        n, width = ids.shape
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(n)
        hidden = body(
            input_ids=ids,
            attention_mask=torch.cat([torch.ones((n, prefix_len), dtype=torch.long), mask], 1),
            position_ids=(prefix_len + torch.arange(width)).unsqueeze(0).expand(n, -1),
            past_key_values=cache,
            use_cache=True,
        ).last_hidden_state
        last = hidden[torch.arange(n), lengths - 1]
        out[start : start + n] = torch.sigmoid(scorer.answer_logit(last)).numpy()
    return out


def _int8_scorer(model_dir: Path) -> Scorer:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    model, tokenizer = load_causal_lm(model_dir, precision="float32")
    head = model.get_output_embeddings()
    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if type(module) is torch.nn.Linear and module is not head
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice, once per layer
        quantized = quantize_dynamic(model, qconfig_spec=spec, dtype=torch.qint8)
    return Scorer(quantized, tokenizer, name="int8")


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Scoring steps ({report['date']}, {report['threads']} threads, {report['model']})",
        "",
        f"One user: {report['candidates']} candidates, {report['context_tokens']}-token context; "
        f"agreement over {report['users']} users against fp32 packed scores. Accepted: top-10 "
        f"overlap >= {MIN_OVERLAP} for every user and |dP| <= {MAX_DELTA_P}.",
        "",
        "| step | s per user | vs previous accepted | vs naive | min top-10 overlap | max abs dP "
        "| accepted |",
        "|---|---|---|---|---|---|---|",
    ]
    for step in report["steps"]:
        lines.append(
            f"| {step['name']} | {step['seconds']:.3f} | {step['speedup_vs_previous']:.2f}x | "
            f"{step['speedup_vs_naive']:.2f}x | {step['min_top10_overlap']} | "
            f"{step['max_abs_delta_p']:.2g} | {'yes' if step['accepted'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report["steps"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    colors = ["tab:green" if s["accepted"] else "tab:gray" for s in steps]
    ax.barh([s["name"] for s in steps][::-1], [s["seconds"] for s in steps][::-1], color=colors[::-1])
    ax.set_xlabel(f"seconds per user ({report['candidates']} candidates)")
    ax.set_title(f"CPU scoring steps, {report['date']} (gray: rejected, ranking changed)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.bench.scoring_steps", description=__doc__)
    parser.add_argument("--model-path", type=Path, default=None, help="HF causal-LM dir (default SmolLM2)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model_dir = resolve_model_dir(args.data_dir, args.model_path)
    requests: list[ScoreRequest] = fixed_requests(args.users)
    first = requests[0]

    fp32 = Scorer.from_pretrained(model_dir, precision="float32")
    whole = Scorer.from_pretrained(model_dir, ScorerConfig(hoist_shared_head=False), precision="float32")
    mixed = Scorer.from_pretrained(model_dir, precision="mixed")
    bf16 = Scorer.from_pretrained(model_dir, precision="bfloat16")
    int8 = _int8_scorer(model_dir)
    # In order; "vs previous accepted" compares each step with the last accepted one before it.
    steps: list[tuple[str, Score]] = [
        ("naive", fp32.score_naive),
        ("row per candidate (previous)", lambda c, k: score_row_per_candidate(fp32, c, k)),
        ("packed", whole.score),
        ("packed + shared head once", fp32.score),
        ("packed + mixed bf16", mixed.score),
        ("packed + bf16 model", bf16.score),
        ("packed + int8 dynamic", int8.score),
    ]
    reference = [fp32.score(r.context, r.candidates) for r in tqdm(requests, desc="fp32 reference")]
    results: list[dict[str, Any]] = []
    for name, score in tqdm(steps, desc="steps"):
        # naive is slow (it runs the context once per candidate): two users show that it agrees.
        users = requests[:2] if name == "naive" else requests
        agreement = compare(reference[: len(users)], [score(r.context, r.candidates) for r in users])
        seconds = median_seconds(partial(score, first.context, first.candidates), args.repeats)
        results.append({"name": name, "seconds": seconds, **agreement})
    naive_seconds = results[0]["seconds"]
    previous = naive_seconds
    for step in results:
        step["accepted"] = bool(step.pop("pass"))
        step["min_top10_overlap"] = int(step["min_top10_overlap"])
        step["speedup_vs_previous"] = previous / step["seconds"]
        step["speedup_vs_naive"] = naive_seconds / step["seconds"]
        if step["accepted"]:
            previous = step["seconds"]
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "threads": args.threads,
        "model": model_dir.name,
        "users": len(requests),
        "candidates": len(first.candidates),
        "context_tokens": len(fp32.tokenizer(first.context)["input_ids"]),
        "steps": results,
    }
    print(_markdown(report))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scoring_steps.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "scoring_steps.md").write_text(_markdown(report))
        _plot(report, args.out / "scoring_steps.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
