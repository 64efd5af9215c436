"""The ``streamrec`` command (typer), one module per command group; ``main`` is the entry point."""

from streams.cli.main import app, main

__all__ = ["app", "main"]
