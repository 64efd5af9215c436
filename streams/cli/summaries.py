"""``streamrec summarize``: backfill preference summaries through the worker, or show a chain."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from streams.cli.common import console, err, settings_from_env, worker_json

__all__ = ["summarize"]


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

    settings = settings_from_env()
    if show is not None:
        chain = worker_json(settings, f"/summaries/{show}/")
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
    job = worker_json(settings, "/summaries/backfill/", {"mode": mode, "users": selected})
    deadline = time.monotonic() + timeout
    with tqdm(total=job["users_total"] or None, unit="user", desc=f"{mode} backfill") as bar:
        while job["state"] == "running" and time.monotonic() < deadline:
            time.sleep(1.0)
            job = worker_json(settings, f"/summaries/backfill/{job['job_id']}/")
            bar.total = job["users_total"]
            bar.update(job["users_done"] - bar.n)
    if job["state"] != "done":
        err.print(f"[red]backfill {job['state']}:[/] {job.get('error') or 'timed out'}")
        raise typer.Exit(1)
    console.print(
        f"backfill done: {job['users_done']} users, {job['versions_written']} summary version(s) written"
    )
