"""The ``streamrec`` command line: up, worker, trainer, demo, replay, tail, forget, audit, summarize,
status, eval, adapters.

Each command group lives in its own module (``stack``, ``data``, ``summaries``, ``demo``,
``evaluate``, ``adapters``, ``unlearning``); this module only assembles them, in the order
``--help`` lists them.
"""

from __future__ import annotations

import typer

from streams.cli import adapters
from streams.cli.data import forget, replay, tail
from streams.cli.demo import demo
from streams.cli.evaluate import eval_command
from streams.cli.stack import status, up, worker
from streams.cli.summaries import summarize
from streams.cli.unlearning import audit, trainer

__all__ = ["app", "main"]

app = typer.Typer(
    help="streamrec: a streaming recommender with an LLM in the loop (Kafka, Faust, DuckDB, Triton).",
    no_args_is_help=True,
    add_completion=False,
)
for command in (up, worker, trainer, demo, replay, tail, forget, audit, summarize, status):
    app.command()(command)
app.command(name="eval")(eval_command)
app.add_typer(adapters.app, name="adapters")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
