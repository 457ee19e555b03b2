"""`revcycle gateway ...`: jobs the background worker will run once it exists."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from revcycle.cli.runtime import session_factory
from revcycle.config import get_settings
from revcycle.gateway.factory import build_gateway
from revcycle.gateway.testgw import bank as testgw_bank
from revcycle.gateway.testgw.delivery import http_sender
from revcycle.gateway.testgw.service import deliver_webhooks
from revcycle.kit.clock import today
from revcycle.payments.bank import recover_pending_bank
from revcycle.payments.card import recover_pending
from revcycle.refunds.card import recover_pending_refunds

gateway_app = typer.Typer(help="Payment gateway", no_args_is_help=True)


@gateway_app.command("deliver-webhooks")
def deliver(
    url: Annotated[str | None, typer.Option(help="Receiver URL (default: settings)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Send the test gateway's undelivered webhook events, signed, to revcycle's receiver."""
    settings = get_settings()
    sent, failed = deliver_webhooks(
        session_factory(),
        secret=settings.gateway_webhook_secret.get_secret_value(),
        send=http_sender(url or settings.gateway_webhook_url),
        limit=limit,
    )
    typer.echo(f"delivered {sent}, failed {failed}")
    if failed:
        raise typer.Exit(code=1)


@gateway_app.command("recover-pending")
def recover(
    older_than: Annotated[int, typer.Option(help="Only payments pending this many seconds")] = 60,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Resolve pending card payments and card refunds (gateway timeouts) via the gateway; poll
    bank debits still processing (or settled but inside the return window)."""
    factory = session_factory()
    gateway = build_gateway(get_settings(), factory)
    age = dt.timedelta(seconds=older_than)
    counts = recover_pending(factory, gateway, older_than=age, limit=limit)
    for status, n in recover_pending_bank(factory, gateway, older_than=age, limit=limit).items():
        counts[f"bank_{status}"] = n
    for status, n in recover_pending_refunds(factory, gateway, older_than=age, limit=limit).items():
        counts[f"refund_{status}"] = n
    typer.echo(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing pending")


@gateway_app.command("settle-bank")
def settle_bank(
    days: Annotated[int, typer.Option(min=0, max=365, help="Settle as if N days had passed")] = 0,
) -> None:
    """The test gateway's bank network: settle processing debits that are due (or return them)
    and return settled ones whose late return is due; each step queues a signed webhook."""
    counts = testgw_bank.settle(session_factory(), today() + dt.timedelta(days=days))
    typer.echo(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing due")
