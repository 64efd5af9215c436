"""``streamrec demo``: the whole product in one command, on real infrastructure.

Starts the stack (fresh state in ``<data dir>/demo``; the converted model cache is shared
with ``streamrec up``), replays a small slice of MovieLens users, waits for each user's
recommendation that answers their *last* click, and prints what they watched next to what
the LLM ranked for them. Exit code 0 only if every user got that recommendation.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from streams.cli.common import console as cli_console
from streams.cli.common import movielens_path, settings_from_env, setup_logging
from streams.contracts import RECOMMENDATIONS
from streams.kafka import TopicReader
from streams.local import Stack
from streams.replay import replay_movielens, select_users
from streams.settings import Settings

__all__ = ["demo", "run_demo"]


def run_demo(
    settings: Settings,
    movielens: Path,
    *,
    users: int = 5,
    ratings_per_user: int = 20,
    timeout_s: float = 900.0,
    console: Console | None = None,
) -> int:
    console = console or Console()
    demo_settings = replace(settings, data_dir=settings.data_dir / "demo")
    shutil.rmtree(demo_settings.data_dir, ignore_errors=True)
    user_ids = select_users(movielens, users, min_ratings=ratings_per_user + 5)
    titles = _titles(movielens)

    console.print(f"[bold]Starting the stack[/] (state in {demo_settings.data_dir}) ...")
    with Stack(demo_settings, model_cache_dir=settings.data_dir) as stack:
        endpoints = stack.endpoints
        if endpoints is None:  # start() sets it or raises
            raise RuntimeError("the stack did not report its endpoints")
        console.print(
            f"  Kafka {endpoints.bootstrap} | Triton {endpoints.triton_grpc} | worker {endpoints.worker}"
        )
        security = demo_settings.kafka_security  # PLAINTEXT unless KAFKA_BOOTSTRAP_SERVERS is set
        with TopicReader(endpoints.bootstrap, RECOMMENDATIONS, security=security) as reader:
            console.print(
                f"[bold]Replaying[/] {ratings_per_user} ratings each for users {', '.join(user_ids)}"
            )
            result = replay_movielens(
                endpoints.bootstrap,
                movielens,
                users=user_ids,
                per_user_limit=ratings_per_user,
                security=security,
            )
            awaited = dict(result.last_event_by_user)
            # With summaries on, wait for the ranking that uses the user's complete chain.
            block = demo_settings.summary_block
            want_version = (ratings_per_user // block) if block > 0 else None
            final: dict[str, dict[str, Any]] = {}
            started = time.monotonic()
            console.print("[bold]Waiting for recommendations[/] (the LLM scores on the CPU) ...")
            for _key, value, _raw in reader.records(timeout_s):
                if value is None:
                    continue
                user = str(value.get("user_id"))
                if awaited.get(user) == value.get("trigger_event_id") and (
                    want_version is None or value.get("summary_version") == want_version or value["fallback"]
                ):
                    final[user] = value
                    console.print(
                        f"  user {user}: {len(value['items'])} items in {value['latency_ms']:.0f} ms, "
                        f"summary v{value.get('summary_version')}{' (fallback)' if value['fallback'] else ''}"
                    )
                if len(final) == len(awaited):
                    break
            elapsed = time.monotonic() - started
            summaries = {user: _latest_summary(endpoints.worker, user) for user in final}

    for user in user_ids:
        if user not in final:
            continue
        recent = result.clicks_by_user[user][-5:]
        table = Table(title=f"User {user}", show_lines=False, title_justify="left")
        table.add_column("Recently rated", overflow="fold")
        table.add_column("Rank", justify="right")
        table.add_column("Recommended", overflow="fold")
        table.add_column("P(Yes)", justify="right")
        recs = final[user]["items"]
        for row in range(max(len(recent), len(recs))):
            left = ""
            if row < len(recent):
                click = recent[-1 - row]
                left = f"{titles.get(click.item_id, click.item_id)} ({click.rating:g}★)"
            rank = title = score = ""
            if row < len(recs):
                rank = str(recs[row]["rank"])
                title = titles.get(recs[row]["item_id"], recs[row]["item_id"])
                score = f"{recs[row]['score']:.4f}"
            table.add_row(left, rank, title, score)
        model = final[user]["model"]
        fallback = final[user]["fallback"]
        table.caption = f"model {model['name']}, adapters {model['version']}, fallback={fallback}"
        console.print(table)
        latest = summaries.get(user)
        if latest is not None:
            console.print(
                f"  [bold]Preference summary[/] (v{latest['version']}, {latest['model_name']}): "
                f"{latest['summary']}"
            )

    missing = sorted(set(awaited) - set(final))
    if missing:
        console.print(f"[red]No final recommendation within {timeout_s:.0f}s for users {missing}[/]")
        return 1
    console.print(f"[green]All {len(final)} users got recommendations[/] ({elapsed:.1f}s after the replay).")
    return 0


def _latest_summary(worker_url: str, user: str) -> dict[str, Any] | None:
    with urllib.request.urlopen(f"{worker_url}/summaries/{user}/", timeout=10) as response:
        rows: list[dict[str, Any]] = json.loads(response.read())
    return rows[-1] if rows else None


def _titles(movielens: Path) -> dict[str, str]:
    with open(movielens / "movies.csv", newline="", encoding="utf-8") as f:
        return {row["movieId"]: row["title"] for row in csv.DictReader(f)}


def demo(
    users: Annotated[int, typer.Option(help="How many MovieLens users to replay.")] = 5,
    ratings: Annotated[int, typer.Option(help="Ratings replayed per user.")] = 20,
    path: Annotated[Path | None, typer.Option(help="ml-latest-small directory.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the recommendations.")] = 900.0,
) -> None:
    """Start the stack, replay a few users, print their recommendations, exit 0."""
    setup_logging("warn")
    code = run_demo(
        settings_from_env(),
        movielens_path(path),
        users=users,
        ratings_per_user=ratings,
        timeout_s=timeout,
        console=cli_console,
    )
    raise typer.Exit(code)
