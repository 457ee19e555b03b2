"""`revcycle claims ...`: send scrubbed claims and read acknowledgements by hand (the worker's
``claims.submit`` and ``claims.acknowledgements`` do the same on a schedule)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from revcycle.auth.principal import Principal
from revcycle.claims import submission
from revcycle.clearinghouse.base import ClearinghouseError
from revcycle.clearinghouse.factory import build_clearinghouse
from revcycle.cli.runtime import session_factory
from revcycle.config import get_settings
from revcycle.errors import DomainError

claims_app = typer.Typer(
    help="Insurance claims: submission and acknowledgements", no_args_is_help=True
)
CLI = Principal.system(username="cli")


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        typer.echo(f"error: {value!r} is not a valid {what} id", err=True)
        raise typer.Exit(code=2) from None


@claims_app.command("submit")
def submit(
    practice: Annotated[str, typer.Option("--practice", help="Practice id")],
    claim: Annotated[
        list[str] | None, typer.Option("--claim", help="Only these claims (repeatable)")
    ] = None,
) -> None:
    """Send the practice's scrubbed claims in one 837P batch (unsent batches are resent first)."""
    practice_id = _uuid(practice, "practice")
    claim_ids = [_uuid(c, "claim") for c in claim] if claim else None
    settings = get_settings()
    factory = session_factory()
    client = build_clearinghouse(settings, factory)
    try:
        for b in submission.resend_unsent(factory, client, CLI):
            typer.echo(f"resent batch {b.id} (ISA13 {b.interchange_control_number}): {b.status}")
        res = submission.submit_claims(
            factory, CLI, client, practice_id=practice_id, claim_ids=claim_ids, settings=settings
        )
    except DomainError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(code=1) from None
    for r in res.returned:
        typer.echo(f"claim {r.control_number} back to draft: {r.reason}")
    if res.batch is None:
        typer.echo("no scrubbed claim to send")
        return
    b = res.batch
    typer.echo(
        f"batch {b.id}: ISA13 {b.interchange_control_number}, {b.claim_count} claims, "
        f"status {b.status}" + (f" ({b.error})" if b.error else "")
    )
    if b.status == "failed":
        raise typer.Exit(code=1)


@claims_app.command("acks")
def acks() -> None:
    """Poll 999 and 277CA files, apply them to the claims, acknowledge them."""
    settings = get_settings()
    factory = session_factory()
    try:
        res = submission.process_inbound(
            factory, build_clearinghouse(settings, factory), limit=settings.claims_poll_limit
        )
    except ClearinghouseError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"{res.files} files, {res.accepted} claims accepted, {res.rejected} rejected, "
        f"{res.noted} noted, {res.unmatched} unmatched"
    )
    if res.unreadable:
        typer.echo(f"unreadable (left unacknowledged): {', '.join(res.unreadable)}", err=True)
        raise typer.Exit(code=1)
