"""``streamrec trainer`` and ``streamrec audit``: the unlearning process and a request's life.

``trainer`` runs the scheduler (``streams.training.scheduler``) in the foreground; ``streamrec
up`` starts it too. ``audit`` asks the worker for one deletion request's ledger row and trail
and prints every step with its time since the request arrived.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from streams.cli.common import console, err, settings_from_env, setup_logging, worker_json

__all__ = ["audit", "trainer", "trainer_summary"]


def trainer() -> None:
    """Run the trainer: retrain dirty shards after deletions, refresh adapters as data grows."""
    from models.exceptions import ModelLoadError
    from streams.training import trainer_main

    setup_logging("info")
    try:
        raise typer.Exit(trainer_main([]))
    except (ValueError, ModelLoadError) as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _step_detail(stage: str, detail: dict[str, Any]) -> str:
    if stage == "purged":
        rows = ", ".join(f"{table} {n}" for table, n in detail.get("rows", {}).items())
        return f"rows deleted: {rows}; tombstone through ts {detail.get('tombstone_through')}"
    if stage == "dirtied":
        shards = ",".join(str(s) for s in detail.get("shards", []))
        return f"shard(s) {shards} of {detail.get('adapter_set')} marked dirty (excluded from scoring)"
    if stage == "retrained":
        from streams.agents import retrained_detail

        waited = detail.get("waited_s")
        return retrained_detail(detail) + (
            f"; waited {waited:.0f} s (debounce)" if waited is not None else ""
        )
    if stage == "served":
        return f"first recommendation scored by {detail.get('version')}"
    return json.dumps(detail, sort_keys=True)


def audit(
    request_id: Annotated[str, typer.Argument(help="The deletion request's request_id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw ledger and trail as JSON.")] = False,
) -> None:
    """Show a deletion request's whole life: received, purged, dirtied, retrained, served."""
    body = worker_json(settings_from_env(), f"/deletions/{request_id}/audit/")
    if as_json:
        console.print_json(json.dumps(body))
        return
    ledger = body["ledger"]
    start = int(ledger["received_at"])
    scope = "the whole user" if ledger["item_ids"] is None else f"{ledger['item_ids']} item(s)"
    console.print(
        f"request [bold]{request_id}[/] for user key {ledger['user_key'][:16]}... ({scope}); "
        f"stage {ledger['stage']}; no raw user id is kept"
    )
    table = Table(title="Audit trail", title_justify="left")
    for column in ("step", "at (UTC)", "after", "detail"):
        table.add_column(column)
    for entry in body["trail"]:
        after = (int(entry["at"]) - start) / 1000
        table.add_row(
            entry["stage"],
            _when(int(entry["at"])),
            f"{after:.1f} s",
            _step_detail(entry["stage"], entry["detail"]),
        )
    console.print(table)
    open_marks = [m for m in body["marks"] if m["cleared_by"] is None]
    if open_marks:
        shards = ",".join(str(m["shard"]) for m in open_marks)
        console.print(
            f"[yellow]waiting:[/] shard(s) {shards} not yet retrained (excluded from scoring meanwhile)"
        )


def trainer_summary(state: dict[str, Any]) -> Table:
    """The trainer's state file as a table, for ``streamrec status``."""
    table = Table(title="Trainer (unlearning and refresh)", show_header=False, title_justify="left")
    table.add_row("current adapter set", str(state.get("current") or "none (zero-shot)"))
    waiting = state.get("waiting") or {}
    shards = ",".join(str(s) for s in waiting.get("shards", [])) or "none"
    table.add_row(
        "dirty shards", f"{shards} ({waiting.get('marks', 0)} mark(s), {waiting.get('decision', '-')})"
    )
    for job, when in sorted((state.get("next_runs") or {}).items()):
        table.add_row(f"next {job} run", str(when))
    for run in state.get("last_runs", [])[-3:]:
        retrained = [str(s["shard"]) for s in run.get("shards", []) if s.get("retrained")]
        table.add_row(
            f"last {run.get('kind')} retrain",
            f"{run.get('previous')} -> {run.get('version')}: shard(s) {','.join(retrained) or 'none'} "
            f"in {float(run.get('seconds', 0)):.0f} s, at {_when(run.get('finished_at'))}",
        )
    return table
