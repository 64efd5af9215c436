"""``streamrec replay``, ``tail`` and ``forget``: put data on the topics and read it back."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer

from streams.cli.common import console, err, movielens_path, settings_from_env
from streams.contracts import SCHEMA_VERSION, Deletion
from streams.exceptions import StreamrecError

__all__ = ["forget", "replay", "tail"]


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

    settings = settings_from_env()
    selected = [u.strip() for u in users.split(",")] if users else None
    try:
        result = replay_movielens(
            settings.bootstrap,
            movielens_path(path),
            users=selected,
            per_user_limit=per_user,
            rate=rate,
            publish_items=items,
            security=settings.kafka_security,
        )
    except StreamrecError as exc:  # the broker did not acknowledge every record
        err.print(f"[red]replay failed:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"published {result.items} items and {result.clicks} clicks for {len(result.clicks_by_user)} users"
    )


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
    from streams.kafka import TopicReader

    shown = 0
    settings = settings_from_env()
    with TopicReader(
        settings.bootstrap, topic, from_beginning=from_beginning, security=settings.kafka_security
    ) as reader:
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


def forget(
    user_id: Annotated[str, typer.Argument(help="The user to forget.")],
    item: Annotated[list[str] | None, typer.Option(help="Forget only these items (repeatable).")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the purged status.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 60.0,
) -> None:
    """Send a deletion request and (by default) wait until the user's data is purged."""
    from streams.contracts import DELETION_STATUS, DELETIONS
    from streams.kafka import ContractProducer, TopicReader

    settings = settings_from_env()
    request = Deletion(
        schema_version=SCHEMA_VERSION,
        request_id=str(uuid.uuid4()),
        user_id=user_id,
        item_ids=list(item) if item else None,
        requested_at=int(time.time() * 1000),
    )
    with TopicReader(settings.bootstrap, DELETION_STATUS, security=settings.kafka_security) as reader:
        with ContractProducer(settings.bootstrap, security=settings.kafka_security) as producer:
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
