"""`revcycle eligibility ...`: the daily re-verification until the worker runs it."""

from __future__ import annotations

import typer

from revcycle.cli.runtime import session_factory
from revcycle.config import get_settings
from revcycle.eligibility import tasks
from revcycle.kit.clock import utcnow

eligibility_app = typer.Typer(help="Eligibility checks", no_args_is_help=True)


@eligibility_app.command("reverify-tomorrow")
def reverify_tomorrow() -> None:
    """Check the coverage of tomorrow's scheduled appointments (once per appointment and day)."""
    n = tasks.run_once(session_factory(), get_settings(), utcnow())
    typer.echo(f"{n} eligibility checks run")
