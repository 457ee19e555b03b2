"""`revcycle reconcile ...`"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from revcycle.auth.principal import Principal
from revcycle.cli.runtime import run, session_factory
from revcycle.config import get_settings
from revcycle.gateway.factory import build_gateway
from revcycle.reconciliation import service

reconcile_app = typer.Typer(help="Reconciliation with outside systems", no_args_is_help=True)


@reconcile_app.command("settlement")
def settlement(
    date: Annotated[str, typer.Option("--date", help="The settlement day, YYYY-MM-DD (UTC)")],
) -> None:
    """Compare the gateway's settlement for a day with the ledger's card clearing, store the
    run and its differences, and post the payout of the matching lines (once)."""
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        typer.echo("error: --date must be YYYY-MM-DD", err=True)
        raise typer.Exit(code=2) from None
    gateway = build_gateway(get_settings(), session_factory())
    report = gateway.settlement_report(day)  # before the transaction: no lock over the call
    view = run(
        lambda s: service.reconcile_settlement(
            s, Principal.system(username="reconciliation"), gateway.provider, report
        )
    )
    r = view.run
    typer.echo(
        f"{r.day} {r.payout_id}: gross {r.gateway_gross_minor}, refunded "
        f"{r.gateway_refunded_minor}, fees {r.gateway_fees_minor}; differences "
        f"{r.difference_count}; payouts posted {len(view.payouts)}"
    )
    for d in view.differences:
        typer.echo(
            f"  {d.kind} {d.item} {d.reference} gateway={d.gateway_minor} ledger={d.ledger_minor}"
        )
    if r.difference_count:
        raise typer.Exit(code=3)
