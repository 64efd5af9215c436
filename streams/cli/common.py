"""What every ``streamrec`` command shares: consoles, settings, logging, the worker's HTTP API.

Every command reads the same environment (``streams.settings``), so pointing the CLI at a
production cluster is a matter of setting ``KAFKA_BOOTSTRAP_SERVERS`` and ``TRITON_URL``.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from streams.replay import find_dataset
from streams.settings import Settings

__all__ = ["console", "err", "movielens_path", "settings_from_env", "setup_logging", "worker_json"]

console = Console()
err = Console(stderr=True)


def settings_from_env(**overrides: Any) -> Settings:
    try:
        settings = Settings.from_env()
        changes = {k: v for k, v in overrides.items() if v is not None}
        return settings.with_overrides(**changes) if changes else settings
    except ValueError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from None


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(
            logging, {"warn": "WARNING", "crit": "CRITICAL"}.get(level.upper().lower(), level.upper())
        ),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def movielens_path(path: Path | None) -> Path:
    found = path if path is not None else find_dataset("movielens", os.environ)
    if found is None:
        err.print("[red]MovieLens not found;[/] pass --path or set STREAMREC_MOVIELENS")
        raise typer.Exit(2)
    return found


def worker_json(settings: Settings, path: str, payload: dict[str, Any] | None = None) -> Any:
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
