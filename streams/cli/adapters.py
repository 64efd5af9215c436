"""``streamrec adapters train | list | show | verify``: the sharded LoRA adapter sets (APA).

``train`` asks the running worker for a snapshot of the store at its current watermark, then
trains in this process (never the worker's), shows progress bars, publishes the set and makes it
current; the Triton ``recommender`` picks it up on its next request. ``list`` and ``show`` read
the manifests on disk and need no running stack. ``verify`` asks the worker for the retained data
inside a set's recorded cut, retrains every shard from scratch here, and compares the bytes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from tqdm import tqdm

from streams.cli.common import console, err, settings_from_env, worker_json

__all__ = ["app"]

app = typer.Typer(help="Sharded LoRA adapter sets: train, list, show, verify.", no_args_is_help=True)


@app.command()
def train(
    shards: Annotated[int, typer.Option(min=1, help="K, the number of shards (APA used 4).")] = 4,
    partition: Annotated[str, typer.Option(help="semantic (catalog K-means) or random (hash).")] = "semantic",
    max_samples: Annotated[
        int, typer.Option(min=0, help="Training + validation samples over all shards; 0 = all.")
    ] = 1024,
    epochs: Annotated[int, typer.Option(min=1, help="Upper bound; early stopping on validation AUC.")] = 4,
) -> None:
    """Train a new adapter set from the live store and make it current."""
    from models.exceptions import ModelLoadError
    from models.loading import resolve_model_dir
    from models.training.lora import LoraSettings
    from models.training.shards import ShardingConfig
    from streams.training import train_from_snapshot

    if partition not in ("semantic", "random"):
        err.print(f"[red]--partition must be semantic or random, got {partition!r}[/]")
        raise typer.Exit(2)
    settings = settings_from_env()
    try:
        config = ShardingConfig(
            shards=shards,
            partition=partition,
            max_samples=max_samples or None,
            lora=replace(LoraSettings(), max_epochs=epochs),
        )
        model_dir = resolve_model_dir(settings.data_dir, settings.model_path)
    except (ValueError, ModelLoadError) as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    snapshot = worker_json(settings, "/adapters/snapshot/", {})
    console.print(
        f"snapshot at watermark {snapshot['watermark']}: {snapshot['interactions']} interactions, "
        f"{snapshot['items']} items, {snapshot['summaries']} summary versions"
    )
    bars = _StepBars()
    try:
        version = train_from_snapshot(
            Path(snapshot["path"]), settings.adapters_dir, model_dir, config, progress=bars.step
        )
    finally:
        bars.close()
    console.print(f"[green]published adapter set {version}[/] and made it current")
    _show(version)


class _StepBars:
    """One tqdm bar per shard, fed by the trainer's ``(shard, step, total, loss)`` callback."""

    def __init__(self) -> None:
        self.bars: dict[int, Any] = {}

    def step(self, shard: int, step: int, total: int, loss: float) -> None:
        bar = self.bars.get(shard)
        if bar is None:
            bar = self.bars[shard] = tqdm(total=total, desc=f"shard {shard}", unit="step")
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.4f}")
        if step >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@app.command()
def verify(
    version: Annotated[str, typer.Argument(help="The set to rebuild, such as v0003 (see `adapters list`).")],
) -> None:
    """Retrain every shard of VERSION from scratch on the retained data and compare sha256.

    Exit 0 when every shard file, sample set, the validation index and the weight rule are
    byte-identical to the published ones; exit 1 otherwise.
    """
    from models.exceptions import ModelLoadError
    from models.loading import resolve_model_dir
    from streams.training import read_data_cut, verify_set

    settings = settings_from_env()
    root = settings.adapters_dir
    try:
        watermark, summary_versions = read_data_cut(root, version)
        model_dir = resolve_model_dir(settings.data_dir, settings.model_path)
    except FileNotFoundError:
        err.print(f"[red]no verifiable adapter set {version!r} under {root}[/]")
        raise typer.Exit(1) from None
    except ModelLoadError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None
    snapshot = worker_json(
        settings, "/adapters/snapshot/", {"watermark": watermark, "summary_versions": summary_versions}
    )
    console.print(
        f"retained data inside {version}'s cut (watermark {watermark}): {snapshot['interactions']} "
        f"interactions, {snapshot['summaries']} summary versions; retraining every shard from scratch"
    )
    bars = _StepBars()
    try:
        result = verify_set(Path(snapshot["path"]), root, version, model_dir, progress=bars.step)
    except ValueError as exc:
        err.print(f"[red]cannot verify {version}:[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        bars.close()
    table = Table(title=f"{version} rebuilt from scratch in {result.seconds:.0f} s", title_justify="left")
    for column in ("artefact", "published", "rebuilt", "same"):
        table.add_column(column)
    for check in result.checks:
        same = "[green]yes[/]" if check.matches else "[red]NO[/]"
        table.add_row(check.name, check.recorded[:16], check.rebuilt[:16], same)
    console.print(table)
    for name, (recorded, now) in result.changed_conditions.items():
        err.print(
            f"[yellow]condition differs:[/] {name} was {recorded}, now {now} (bytes may differ for that)"
        )
    if not result.exact:
        err.print(f"[red]{version} is NOT what its recorded procedure gives on the retained data[/]")
        raise typer.Exit(1)
    console.print(f"[green]{version} verified:[/] every artefact is byte-identical to a from-scratch rebuild")


@app.command(name="list")
def list_sets() -> None:
    """Every adapter set on disk, the current one marked."""
    from serving.adapters import list_versions, read_current, read_manifest

    root = settings_from_env().adapters_dir
    versions = list_versions(root)
    if not versions:
        console.print(f"no adapter sets under {root}; the recommender serves the zero-shot base model")
        return
    current = read_current(root)
    table = Table(title=f"Adapter sets in {root}", title_justify="left")
    for column in (
        "version",
        "current",
        "base model",
        "partition",
        "shards",
        "samples",
        "watermark",
        "trained s",
    ):
        table.add_column(column)
    for version in versions:
        m = read_manifest(root, version)
        samples = sum(s["train_samples"] + s["validation_samples"] for s in m["shards"])
        table.add_row(
            version,
            "*" if version == current else "",
            m["base_model"]["name"],
            m["partition"]["kind"],
            str(len(m["shards"])),
            str(samples),
            str(m.get("watermark")),
            f"{m['seconds'].get('total', 0):.0f}",
        )
    console.print(table)


@app.command()
def show(
    version: Annotated[str, typer.Argument(help="A version such as v0003 (see `adapters list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole manifest as JSON.")] = False,
) -> None:
    """Shards, sizes, hashes, validation AUC and training time of one set."""
    if as_json:
        from serving.adapters import read_manifest

        try:
            manifest = read_manifest(settings_from_env().adapters_dir, version)
        except FileNotFoundError:
            err.print(f"[red]no adapter set {version!r}[/]")
            raise typer.Exit(1) from None
        console.print_json(json.dumps(manifest))
        return
    _show(version)


def _show(version: str) -> None:
    from serving.adapters import read_manifest

    root = settings_from_env().adapters_dir
    try:
        m = read_manifest(root, version)
    except FileNotFoundError:
        err.print(f"[red]no adapter set {version!r} under {root}[/]")
        raise typer.Exit(1) from None
    table = Table(
        title=f"Adapter set {version}: {m['base_model']['name']}, {m['partition']['kind']} partition, "
        f"rule n={m['rule']['neighbours']} tau={m['rule']['tau']:g}",
        title_justify="left",
    )
    for column in ("shard", "users", "train", "val", "val AUC", "epoch", "seconds", "samples/s", "sha256"):
        table.add_column(column)
    for s in m["shards"]:
        auc = s["validation_auc"]
        table.add_row(
            str(s["shard"]),
            str(s["users"]),
            str(s["train_samples"]),
            str(s["validation_samples"]),
            "-" if auc is None else f"{auc:.3f}",
            str(s["best_epoch"]),
            f"{s['train_seconds']:.0f}",
            f"{s['samples_per_second']:.1f}",
            s["sha256"][:16],
        )
    console.print(table)
    console.print(f"watermark {m.get('watermark')}, conditions: {m['conditions']}")
