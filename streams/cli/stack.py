"""``streamrec up``, ``worker`` and ``status``: run the stack, run one worker, look at it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from streams.cli.common import console, err, settings_from_env, setup_logging, worker_json
from streams.settings import Settings

__all__ = ["status", "up", "worker"]


def up(
    partitions: Annotated[int | None, typer.Option(help="Partitions per topic (default 4).")] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="A local Hugging Face causal-LM directory instead of SmolLM2.")
    ] = None,
) -> None:
    """Run broker, Triton and the worker in the foreground; Ctrl-C stops all of them."""
    from streams.local import Stack

    settings = settings_from_env(partitions=partitions, model_path=model_path)
    setup_logging("info")
    stack = Stack(settings)
    try:
        with console.status("starting broker, Triton (first start converts the model) and worker ..."):
            endpoints = stack.start()
    except Exception as exc:  # StartupError, PortInUse, TritonNotHealthy, ...
        err.print(f"[red]streamrec up failed:[/] {exc}")
        raise typer.Exit(1) from None
    table = Table(title="streamrec is up", show_header=False, title_justify="left")
    table.add_row(
        "Kafka bootstrap", endpoints.bootstrap + (" (embedded Tansu)" if endpoints.embedded_broker else "")
    )
    table.add_row("Triton gRPC", endpoints.triton_grpc + (" (embedded)" if endpoints.embedded_triton else ""))
    if endpoints.triton_http:
        table.add_row("Triton HTTP", endpoints.triton_http)
        table.add_row("Triton metrics", endpoints.triton_metrics or "")
    table.add_row("Worker status", f"{endpoints.worker}/status/")
    table.add_row("Worker metrics", f"{endpoints.worker}/metrics/")
    table.add_row("DuckDB", str(settings.database_path.resolve()))
    table.add_row("Logs", str(endpoints.logs))
    console.print(table)
    console.print("Press Ctrl-C to stop.")
    code = stack.run_until_signal()
    console.print("stopping ...")
    stack.stop()
    raise typer.Exit(code)


def worker() -> None:
    """Run only the Faust worker against KAFKA_BOOTSTRAP_SERVERS and TRITON_URL."""
    from streams.worker import run_worker

    run_worker(settings_from_env())


def status() -> None:
    """Show the worker's tables, pending users, consumer lag, and Triton health."""
    from streams.contracts import CLICKS, ITEMS
    from streams.kafka import end_offsets

    settings = settings_from_env()
    body = worker_json(settings, "/status/")
    tables = Table(title="DuckDB tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for name, rows in body["tables"].items():
        tables.add_row(name, str(rows))
    console.print(tables)
    console.print(f"users waiting for a recommendation: {body['pending_users']}")
    if body.get("summary_backlog_blocks") is not None:
        console.print(
            f"summary backlog: {body['summary_backlog_blocks']} block(s) "
            f"of {body['summary_block']} interactions"
        )
    lag = Table(title="Consumer lag (records not yet stored)", title_justify="left")
    lag.add_column("topic[partition]")
    lag.add_column("stored up to", justify="right")
    lag.add_column("log end", justify="right")
    lag.add_column("lag", justify="right")
    for topic in (CLICKS, ITEMS):
        stored = {int(p): o for p, o in body["offsets"].get(topic, {}).items()}
        ends = end_offsets(settings.bootstrap, topic, security=settings.kafka_security)
        for partition, end in sorted(ends.items()):
            done = stored.get(partition, 0)
            lag.add_row(f"{topic}[{partition}]", str(done), str(end), str(max(0, end - done)))
    console.print(lag)
    triton_ok = _triton_ready(settings)
    console.print(f"Triton {settings.triton_grpc}: {'[green]ready[/]' if triton_ok else '[red]not ready[/]'}")
    _trainer_status(settings)


def _trainer_status(settings: Settings) -> None:
    """The adapter set, dirty shards (from the worker), next runs and last retrains (trainer)."""
    import json

    from streams.cli.unlearning import trainer_summary

    dirty = worker_json(settings, "/adapters/dirty/")
    state_path = settings.data_dir / "trainer" / "state.json"
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        from serving.adapters import read_current

        state = {"current": read_current(settings.adapters_dir)}
        console.print(f"[yellow]no trainer state at {state_path}[/] (is the trainer running?)")
    shards = sorted({int(m["shard"]) for m in dirty["active"]})
    state["waiting"] = {**(state.get("waiting") or {}), "shards": shards, "marks": len(dirty["active"])}
    console.print(trainer_summary(state))


def _triton_ready(settings: Settings) -> bool:
    import asyncio

    from serving.client import RecommenderClient

    async def check() -> bool:
        client = RecommenderClient(settings.triton_grpc, timeout_s=5)
        try:
            return await client.is_ready()
        finally:
            await client.close()

    return asyncio.run(check())
