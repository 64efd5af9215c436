"""``streamrec eval``: offline ranking quality on MovieLens or MIND (``models.evaluation``).

This file only turns command-line options and the environment (``STREAMREC_MODEL_PATH``,
``STREAMREC_DATA_DIR``) into an :class:`~models.evaluation.config.EvalConfig` and prints the
result; the protocol, the models and the report live in the pure ``models`` library, so
notebooks and tests run the exact same evaluation without the CLI.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from streams.cli.common import console, err

__all__ = ["eval_command"]


def _default_data(dataset: str) -> Path:
    from streams.replay import DEFAULT_MIND, DEFAULT_MOVIELENS, find_dataset

    found = find_dataset(dataset, os.environ) if dataset in ("movielens", "mind") else None
    # Not found: name the default, so the loader's error says where it looked.
    return found or (DEFAULT_MIND if dataset == "mind" else DEFAULT_MOVIELENS)


def _print_table(report: dict[str, Any]) -> None:
    table = Table(
        title=f"{report['dataset']['name']} test split: {report['targets']['test']} targets, "
        f"seed {report['config']['seed']}",
        title_justify="left",
    )
    names = ("recall@3", "recall@5", "recall@10", "mrr@3", "mrr@5", "mrr@10", "ndcg@10")
    table.add_column("model", no_wrap=True)
    for name in names:
        short = name.replace("recall", "R").replace("ndcg", "NDCG").replace("mrr", "MRR")
        table.add_column(short, justify="right")
    table.add_column("time s", justify="right")
    for model, body in report["models"].items():
        metrics = body["metrics"]
        cells = [f"{metrics[n]['value']:.3f}" if metrics else "-" for n in names]
        table.add_row(model, *cells, f"{body['wall_time_s']:.0f}")
    console.print(table)


def eval_command(
    out: Annotated[
        Path, typer.Option(help="Directory for report.json, report.md, metrics.png, rankings.jsonl.")
    ],
    dataset: Annotated[str, typer.Option(help="movielens or mind.")] = "movielens",
    data: Annotated[
        Path | None, typer.Option(help="Dataset directory (default: ../shared/data/<dataset>).")
    ] = None,
    users: Annotated[int | None, typer.Option(min=1, help="Evaluate a seeded sample of N users.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the user sample, negatives and models.")] = 0,
    models: Annotated[
        str,
        typer.Option(
            help="Comma-separated: random,popularity,itemknn,sasrec,llm-zeroshot,llm-summary,"
            "llm-lora,llm-apa,llm-apa-random,hybrid."
        ),
    ] = "random,popularity,itemknn,sasrec,llm-zeroshot,llm-summary,llm-lora,llm-apa,llm-apa-random,hybrid",
    model: Annotated[
        Path | None,
        typer.Option(help="Scoring LM: a local Hugging Face causal-LM dir (default: packaged SmolLM2)."),
    ] = None,
    summarizer_model: Annotated[
        Path | None, typer.Option(help="Summarizing LM dir (default: the scoring model).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto.")] = "cpu",
    llm_validation: Annotated[
        bool, typer.Option("--llm-validation", help="Also score validation targets with the LLMs (2x cost).")
    ] = False,
    summary_blocks: Annotated[
        int, typer.Option(min=1, help="Blocks of 5 older interactions summarized per target (llm-summary).")
    ] = 2,
    summary_max_new_tokens: Annotated[int, typer.Option(min=1, help="Generation cap per summary.")] = 96,
    sasrec_max_epochs: Annotated[
        int, typer.Option(min=1, help="Upper bound; early stopping picks the epoch.")
    ] = 200,
    bootstrap: Annotated[int, typer.Option(min=1, help="Bootstrap resamples for the 95% intervals.")] = 1000,
    adapter_shards: Annotated[int, typer.Option(min=1, help="K of llm-apa and llm-apa-random.")] = 4,
    adapter_samples: Annotated[
        int, typer.Option(min=1, help="Training + validation samples of each fine-tuned row (APA: 1024).")
    ] = 1024,
    adapter_epochs: Annotated[int, typer.Option(min=1, help="Epoch cap of adapter training.")] = 4,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Reuse models already finished by an identical run in --out (checkpoints/)."
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Python log level.")] = "info",
) -> None:
    """Offline evaluation (LLM-TRSR protocol): every model ranks the same 21 candidates per user."""
    from models.evaluation.config import AdapterEvalConfig, EvalConfig
    from models.evaluation.metrics import BootstrapConfig
    from models.evaluation.runner import run_evaluation
    from models.exceptions import ModelLoadError
    from models.summarizer import GenerationConfig
    from streams.settings import Settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        base = EvalConfig(data=Path("."), out=out)
        config = EvalConfig(
            data=data if data is not None else _default_data(dataset),
            out=out,
            dataset=dataset,
            users=users,
            seed=seed,
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
            llm_splits=("validation", "test") if llm_validation else ("test",),
            model_path=model if model is not None else settings.model_path,
            summarizer_path=summarizer_model,
            data_dir=settings.data_dir,
            device=device,
            prompt_recent=settings.recent_items,
            sasrec=replace(base.sasrec, max_epochs=sasrec_max_epochs),
            chain=replace(base.chain, blocks=summary_blocks, block_size=settings.summary_block or 5),
            generation=GenerationConfig(max_new_tokens=summary_max_new_tokens),
            bootstrap=BootstrapConfig(resamples=bootstrap, seed=seed),
            adapters=AdapterEvalConfig(
                shards=adapter_shards, max_samples=adapter_samples, epochs=adapter_epochs
            ),
            resume=resume,
        )
    except ValueError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        report = run_evaluation(config)
    except (FileNotFoundError, ModelLoadError, ValueError) as exc:
        err.print(f"[red]evaluation failed:[/] {exc}")
        raise typer.Exit(1) from None
    _print_table(report)
    console.print(
        f"wrote {out}/report.json, report.md, metrics.png, rankings.jsonl ({report['wall_time_s']:.0f} s)"
    )
