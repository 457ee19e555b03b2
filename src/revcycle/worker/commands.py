"""`revcycle worker run`: the background worker (docs/worker.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from revcycle.cli.runtime import session_factory
from revcycle.config import get_settings
from revcycle.worker.loop import run_forever
from revcycle.worker.registry import default_tasks

worker_app = typer.Typer(help="Background worker", no_args_is_help=True)


@worker_app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="One pass of every task, then exit")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between passes")] = 30.0,
    only: Annotated[list[str] | None, typer.Option(help="Run only these tasks")] = None,
) -> None:
    """Run the periodic tasks (autopay, missed installments, gateway recovery, webhooks).
    Several worker processes may run at once: work is claimed with SKIP LOCKED."""
    tasks = [t for t in default_tasks() if not only or t.name in only]
    if not tasks:
        typer.echo("error: no such task", err=True)
        raise typer.Exit(code=2)

    def report(done: dict[str, int]) -> None:
        typer.echo(", ".join(f"{k} {v}" for k, v in done.items()))

    run_forever(
        session_factory(),
        get_settings(),
        tasks,
        interval=interval,
        report=report,
        passes=1 if once else None,
    )


@worker_app.command("tasks")
def tasks() -> None:
    """List the registered tasks."""
    for t in default_tasks():
        typer.echo(t.name)
