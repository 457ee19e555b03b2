"""`revcycle auth ...`: housekeeping of the sign-in counters (docs/identity.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from revcycle.auth import service
from revcycle.cli.runtime import run
from revcycle.config import get_settings
from revcycle.kit.clock import utcnow

auth_app = typer.Typer(help="Sign-in protection", no_args_is_help=True)


@auth_app.command("purge-counters")
def purge_counters(
    older_than_hours: Annotated[
        int, typer.Option(min=1, help="Keep rows touched within this many hours")
    ] = 24,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows per table per transaction")
    ] = 1000,
) -> None:
    """Delete lockout and rate-limit counters that can no longer affect a request: login
    throttles untouched (and unlocked) for the retention period, never sooner than
    LOCKOUT_MAX_SECONDS; rate-limit windows that ended, kept at least a day. Deletes in small
    batches, one short transaction each, so it is safe while the API runs; run it daily."""
    cutoffs = service.counter_cutoffs(
        get_settings(), utcnow(), dt.timedelta(hours=older_than_hours)
    )
    throttles = counters = 0
    while True:
        t, c = run(lambda s: service.purge_counters(s, cutoffs, batch_size=batch_size))
        throttles, counters = throttles + t, counters + c
        if t < batch_size and c < batch_size:
            break
    typer.echo(
        f"purged {throttles} login throttle(s) untouched since {cutoffs.throttles:%Y-%m-%d %H:%M} "
        f"UTC and {counters} rate-limit counter(s) from windows before "
        f"{cutoffs.rate_limits:%Y-%m-%d %H:%M} UTC"
    )
