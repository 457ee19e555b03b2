"""`revcycle era ...`: read and post 835 remittance files.

``era parse FILE --json`` prints the documented summary (docs/remittance.md) as it reads: one set
at a time, so memory does not grow with the file. Exit status: 0 when every set was read, 1 when
the file or a set has errors (the JSON still lists what was read), 2 for a usage error.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, TextIO

import typer

from revcycle.auth.principal import Principal
from revcycle.cli.runtime import session_factory
from revcycle.errors import DomainError
from revcycle.remittances import service
from revcycle.x12.core import X12Error
from revcycle.x12.remittance import (
    Reader835,
    Remittance,
    RemittanceFailure,
    error_json,
    remittance_json,
)

era_app = typer.Typer(help="Electronic remittance advice (X12 835)", no_args_is_help=True)


def write_json(path: Path, out: TextIO) -> bool:
    """Stream the summary of ``path`` to ``out``; True when nothing was in error."""
    errors: list[dict[str, object]] = []
    out.write('{"transactions": [')
    first = True
    with path.open("rb") as fh:
        reader = Reader835(fh)
        try:
            for item in reader:
                if isinstance(item, RemittanceFailure):
                    errors.append(error_json(item.error, transaction=item.control_number))
                    continue
                for exc in item.data_errors + item.envelope_errors:
                    errors.append(error_json(exc, transaction=item.control_number))
                out.write(("" if first else ", ") + json.dumps(remittance_json(item)))
                first = False
        except X12Error as exc:  # the file cannot be read further (truncated, not X12...)
            errors.append(error_json(exc))
        seen = {(e["code"], e["position"]) for e in errors}
        errors += [error_json(e) for e in reader.errors if (e.code, e.position) not in seen]
    out.write('], "errors": ' + json.dumps(errors) + "}\n")
    return not errors


def _summary(path: Path) -> bool:
    ok = True
    with path.open("rb") as fh:
        reader = Reader835(fh)
        try:
            for item in reader:
                if isinstance(item, RemittanceFailure):
                    ok = False
                    typer.echo(f"set {item.control_number}: error: {item.error.message}")
                    continue
                _echo(item)
                ok = ok and not item.data_errors and not item.envelope_errors
        except X12Error as exc:
            typer.echo(f"error: {exc.message}")
            return False
        for problem in reader.errors:
            ok = False
            typer.echo(f"error: {problem.message}")
    return ok


def _echo(rem: Remittance) -> None:
    state = "balanced" if rem.balanced else f"NOT balanced ({len(rem.balance_errors)} problems)"
    typer.echo(
        f"set {rem.control_number}: {rem.payer_name} ({rem.payer_id}) -> {rem.payee_name}; "
        f"trace {rem.trace_number}; {rem.payment_method} {remittance_json(rem)['payment_amount']}"
        f" on {rem.payment_date}; {len(rem.claims)} claims, "
        f"{len(rem.provider_adjustments)} provider adjustments; {state}"
    )
    for problem in rem.balance_errors[:20]:
        typer.echo(f"  {problem.message}")
    for exc in rem.data_errors + rem.envelope_errors:
        typer.echo(f"  error: {exc.message}")


@era_app.command("parse")
def parse(
    file: Annotated[Path, typer.Argument(help="An 835 file (any number of interchanges)")],
    as_json: Annotated[bool, typer.Option("--json", help="The documented JSON summary")] = False,
) -> None:
    """Read an 835 and print what it says, without posting anything."""
    if not file.is_file():
        typer.echo(f"error: {file}: no such file", err=True)
        raise typer.Exit(code=2)
    ok = write_json(file, sys.stdout) if as_json else _summary(file)
    if not ok:
        raise typer.Exit(code=1)


@era_app.command("post")
def post(
    file: Annotated[Path, typer.Argument(help="An 835 file (any number of interchanges)")],
    practice: Annotated[str, typer.Option("--practice", help="The practice the payments are for")],
) -> None:
    """Post an 835 (docs/remittance-posting.md): each set atomically and idempotently. Exit 0
    when every set was posted or already posted, 1 when a set was refused or quarantined (or
    the file has errors), 2 for a usage error."""
    if not file.is_file():
        typer.echo(f"error: {file}: no such file", err=True)
        raise typer.Exit(code=2)
    try:
        practice_id = uuid.UUID(practice)
    except ValueError:
        typer.echo(f"error: --practice {practice!r} is not a practice id", err=True)
        raise typer.Exit(code=2) from None
    actor = Principal.system(username="era")
    try:
        result = service.post_file(session_factory(), actor, file, practice_id=practice_id)
    except DomainError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(code=1) from None
    for s in result.sets:
        amount = service.fmt(s.payment_minor)
        ident = f" {s.remittance_id}" if s.remittance_id else ""
        typer.echo(
            f"set {s.control_number}: {s.outcome}{ident}; trace {s.trace_number or '-'} "
            f"{amount}; {s.message}"
        )
    for problem in result.errors:
        typer.echo(f"error: {problem}")
    if not result.sets and not result.errors:
        typer.echo("no 835 transaction sets in the file")
    if not result.ok:
        raise typer.Exit(code=1)
