"""`revcycle claims ...`: scrub a claim, load the example unbundling pairs, send scrubbed claims
and read acknowledgements by hand (the worker's ``claims.submit`` and ``claims.acknowledgements``
do the last two on a schedule)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.claims import scrubber, submission
from revcycle.clearinghouse.base import ClearinghouseError
from revcycle.clearinghouse.factory import build_clearinghouse
from revcycle.cli.runtime import run, session_factory
from revcycle.config import get_settings
from revcycle.errors import DomainError

claims_app = typer.Typer(help="Insurance claims", no_args_is_help=True)
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


@claims_app.command("scrub")
def scrub(
    claim_id: Annotated[str, typer.Argument(help="The claim's id")],
    on: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Submission date assumed (default today)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Run the scrubber on a draft, scrubbed or held claim and print every finding. Exit 0 when
    the claim is scrubbed (ready to submit), 1 when errors or holds remain."""
    cid = _uuid(claim_id, "claim")

    def work(s: Session) -> tuple[str, str, list[dict[str, object]]]:
        r = scrubber.scrub_claim(s, CLI, cid, on=on.date() if on else None)
        return r.previous_status, r.status, [f.as_dict() for f in r.findings]

    previous, status, findings = run(work)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "claim_id": str(cid),
                    "previous_status": previous,
                    "status": status,
                    "findings": findings,
                },
                indent=2,
            )
        )
    else:
        for f in findings:
            where = str(f["field"]) + (f" (line {f['line']})" if f["line"] is not None else "")
            typer.echo(f"{f['severity']:<7} {f['code']:<28} {where}: {f['message']}")
        typer.echo(f"claim {cid}: {previous} -> {status} ({len(findings)} finding(s))")
    if status != "scrubbed":
        raise typer.Exit(code=1)


@claims_app.command("load-example-edits")
def load_example_edits(
    practice_id: Annotated[str, typer.Argument(help="The practice's id")],
) -> None:
    """Add the documented example unbundling pairs to a practice's edit table (not the CMS
    NCCI tables: maintain those yourself). Pairs already present are left alone."""
    pid = _uuid(practice_id, "practice")
    added = run(
        lambda s: [
            (p.column1_code, p.column2_code) for p in scrubber.load_example_pairs(s, CLI, pid)
        ]
    )
    for col1, col2 in added:
        typer.echo(f"added {col1} / {col2}")
    typer.echo(f"{len(added)} pair(s) added")
