"""What every ``streamrec`` command shares: consoles, settings, logging, the worker's HTTP API.

Every command reads the same environment (``streams.settings``), so pointing the CLI at a
production cluster is a matter of setting ``KAFKA_BOOTSTRAP_SERVERS`` and ``TRITON_URL``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from streams.replay import find_dataset
from streams.settings import Settings
from streams.worker_client import WorkerRefused, WorkerUnavailable, call_worker

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
    try:
        return call_worker(settings.web_url, path, payload)
    except WorkerRefused as exc:
        err.print(f"[red]worker refused:[/] {exc}")
        raise typer.Exit(1) from None
    except WorkerUnavailable as exc:
        err.print(f"[red]{exc}[/] (is `streamrec up` running?)")
        raise typer.Exit(1) from None
