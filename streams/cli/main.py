"""The ``streamrec`` command line: up, worker, demo, replay, tail, forget, status, summarize, eval.

Every command reads the same environment (``streams.settings``), so pointing the CLI at a
production cluster is a matter of setting ``KAFKA_BOOTSTRAP_SERVERS`` and ``TRITON_URL``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from streams.evaluate import eval_command
from streams.events import SCHEMA_VERSION, Deletion
from streams.exceptions import StreamrecError
from streams.movielens import find_dataset
from streams.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    help="streamrec: a streaming recommender with an LLM in the loop (Kafka, Faust, DuckDB, Triton).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = Settings.from_env()
        changes = {k: v for k, v in overrides.items() if v is not None}
        return settings.with_overrides(**changes) if changes else settings
    except ValueError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(
            logging, {"warn": "WARNING", "crit": "CRITICAL"}.get(level.upper().lower(), level.upper())
        ),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _movielens_path(path: Path | None) -> Path:
    found = path if path is not None else find_dataset("movielens", os.environ)
    if found is None:
        err.print("[red]MovieLens not found;[/] pass --path or set STREAMREC_MOVIELENS")
        raise typer.Exit(2)
    return found


@app.command()
def up(
    partitions: Annotated[int | None, typer.Option(help="Partitions per topic (default 4).")] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="A local Hugging Face causal-LM directory instead of SmolLM2.")
    ] = None,
) -> None:
    """Run broker, Triton and the worker in the foreground; Ctrl-C stops all of them."""
    from streams.supervisor import Stack

    settings = _settings(partitions=partitions, model_path=model_path)
    _logging("info")
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


@app.command()
def worker() -> None:
    """Run only the Faust worker against KAFKA_BOOTSTRAP_SERVERS and TRITON_URL."""
    from streams.worker import run_worker

    run_worker(_settings())


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="How many MovieLens users to replay.")] = 5,
    ratings: Annotated[int, typer.Option(help="Ratings replayed per user.")] = 20,
    path: Annotated[Path | None, typer.Option(help="ml-latest-small directory.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the recommendations.")] = 900.0,
) -> None:
    """Start the stack, replay a few users, print their recommendations, exit 0."""
    from streams.demo import run_demo

    _logging("warn")
    code = run_demo(
        _settings(),
        _movielens_path(path),
        users=users,
        ratings_per_user=ratings,
        timeout_s=timeout,
        console=console,
    )
    raise typer.Exit(code)


@app.command()
def replay(
    path: Annotated[
        Path | None, typer.Option(help="ml-latest-small directory (default ../shared/data).")
    ] = None,
    rate: Annotated[float, typer.Option(help="Clicks per second; 0 = as fast as possible.")] = 0.0,
    users: Annotated[str | None, typer.Option(help="Comma-separated user ids (default: all).")] = None,
    per_user: Annotated[int | None, typer.Option(help="Only each user's first N ratings.")] = None,
    items: Annotated[bool, typer.Option(help="Publish the catalog first.")] = True,
) -> None:
    """Publish MovieLens to Kafka: items first, then ratings in timestamp order."""
    from streams.replay import replay_movielens

    settings = _settings()
    selected = [u.strip() for u in users.split(",")] if users else None
    try:
        result = replay_movielens(
            settings.bootstrap,
            _movielens_path(path),
            users=selected,
            per_user_limit=per_user,
            rate=rate,
            publish_items=items,
        )
    except StreamrecError as exc:  # the broker did not acknowledge every record
        err.print(f"[red]replay failed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"published {result.items} items and {result.clicks} clicks for {len(result.clicks_by_user)} users"
    )


@app.command()
def tail(
    topic: Annotated[
        str, typer.Argument(help="Topic to read, e.g. recommendations or dead-letters.")
    ] = "recommendations",
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record.")] = False,
    user: Annotated[str | None, typer.Option(help="Only records whose user_id is this.")] = None,
    timeout: Annotated[float, typer.Option(help="Stop after this many seconds (0 = never).")] = 0.0,
    limit: Annotated[int, typer.Option(help="Stop after this many records (0 = never).")] = 0,
) -> None:
    """Print a topic's records as JSON lines."""
    from streams.reader import TopicReader

    shown = 0
    with TopicReader(_settings().bootstrap, topic, from_beginning=from_beginning) as reader:
        try:
            for _key, value, raw in reader.records(timeout if timeout > 0 else float("inf")):
                if user is not None and (value is None or value.get("user_id") != user):
                    continue
                sys.stdout.write(
                    (json.dumps(value) if value is not None else raw.decode(errors="replace")) + "\n"
                )
                sys.stdout.flush()
                shown += 1
                if limit and shown >= limit:
                    break
        except KeyboardInterrupt:
            pass


@app.command()
def forget(
    user_id: Annotated[str, typer.Argument(help="The user to forget.")],
    item: Annotated[list[str] | None, typer.Option(help="Forget only these items (repeatable).")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the purged status.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 60.0,
) -> None:
    """Send a deletion request and (by default) wait until the user's data is purged."""
    from streams.producer import ContractProducer
    from streams.reader import TopicReader
    from streams.topics import DELETION_STATUS, DELETIONS

    settings = _settings()
    request = Deletion(
        schema_version=SCHEMA_VERSION,
        request_id=str(uuid.uuid4()),
        user_id=user_id,
        item_ids=list(item) if item else None,
        requested_at=int(time.time() * 1000),
    )
    with TopicReader(settings.bootstrap, DELETION_STATUS) as reader:
        with ContractProducer(settings.bootstrap) as producer:
            producer.send(DELETIONS, user_id, request)
        console.print(f"deletion request {request.request_id} sent")
        if not wait:
            return
        for _key, value, _raw in reader.records(timeout):
            if value is None or value.get("request_id") != request.request_id:
                continue
            console.print(f"{value['stage']}: {value['detail']}")
            if value["stage"] in ("purged", "failed"):
                raise typer.Exit(0 if value["stage"] == "purged" else 1)
    err.print(f"[red]no final status within {timeout:.0f}s[/]")
    raise typer.Exit(1)


def _worker_json(settings: Settings, path: str, payload: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``payload``) a worker endpoint; exits with a message if it is unreachable."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        f"{settings.web_url}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        err.print(f"[red]worker refused:[/] {exc.read().decode(errors='replace')}")
        raise typer.Exit(1) from None
    except (urllib.error.URLError, OSError) as exc:
        err.print(f"[red]worker not reachable at {settings.web_url}:[/] {exc} (is `streamrec up` running?)")
        raise typer.Exit(1) from None


@app.command()
def summarize(
    backfill: Annotated[bool, typer.Option("--backfill", help="Summarize the pending history now.")] = False,
    mode: Annotated[
        str, typer.Option(help="hierarchical (blocks, then merge) or recurrent.")
    ] = "hierarchical",
    users: Annotated[str | None, typer.Option(help="Comma-separated user ids (default: all).")] = None,
    show: Annotated[str | None, typer.Option(help="Print this user's summary chain.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the backfill.")] = 3600.0,
) -> None:
    """Backfill preference summaries through the running worker, or show a user's chain."""
    from tqdm import tqdm

    settings = _settings()
    if show is not None:
        chain = _worker_json(settings, f"/summaries/{show}/")
        table = Table(title=f"Summary chain of user {show}", title_justify="left", show_lines=True)
        for column in ("version", "covers", "mode", "summary"):
            table.add_column(column, overflow="fold")
        for row in chain:
            table.add_row(
                str(row["version"]),
                f"{row['interactions_covered']} (through {row['through_event_id']})",
                row["mode"],
                row["summary"],
            )
        console.print(table)
        return
    if not backfill:
        err.print("nothing to do: pass --backfill or --show USER")
        raise typer.Exit(2)
    if mode not in ("hierarchical", "recurrent"):
        err.print(f"[red]--mode must be hierarchical or recurrent, got {mode!r}[/]")
        raise typer.Exit(2)
    selected = [u.strip() for u in users.split(",")] if users else None
    job = _worker_json(settings, "/summaries/backfill/", {"mode": mode, "users": selected})
    deadline = time.monotonic() + timeout
    with tqdm(total=job["users_total"] or None, unit="user", desc=f"{mode} backfill") as bar:
        while job["state"] == "running" and time.monotonic() < deadline:
            time.sleep(1.0)
            job = _worker_json(settings, f"/summaries/backfill/{job['job_id']}/")
            bar.total = job["users_total"]
            bar.update(job["users_done"] - bar.n)
    if job["state"] != "done":
        err.print(f"[red]backfill {job['state']}:[/] {job.get('error') or 'timed out'}")
        raise typer.Exit(1)
    console.print(
        f"backfill done: {job['users_done']} users, {job['versions_written']} summary version(s) written"
    )


@app.command()
def status() -> None:
    """Show the worker's tables, pending users, consumer lag, and Triton health."""
    from streams.topics import CLICKS, ITEMS, end_offsets

    settings = _settings()
    body = _worker_json(settings, "/status/")
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
        for partition, end in sorted(end_offsets(settings.bootstrap, topic).items()):
            done = stored.get(partition, 0)
            lag.add_row(f"{topic}[{partition}]", str(done), str(end), str(max(0, end - done)))
    console.print(lag)
    triton_ok = _triton_ready(settings)
    console.print(f"Triton {settings.triton_grpc}: {'[green]ready[/]' if triton_ok else '[red]not ready[/]'}")


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


app.command(name="eval")(eval_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
