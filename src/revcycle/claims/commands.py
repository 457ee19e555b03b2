"""`revcycle claims ...`: scrub a claim, load the example unbundling pairs."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.claims import scrubber
from revcycle.cli.runtime import run

claims_app = typer.Typer(help="Insurance claims", no_args_is_help=True)
SYSTEM = Principal.system(username="cli")


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        typer.echo(f"error: {value!r} is not a valid {what} id", err=True)
        raise typer.Exit(code=2) from None


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
        r = scrubber.scrub_claim(s, SYSTEM, cid, on=on.date() if on else None)
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
            (p.column1_code, p.column2_code) for p in scrubber.load_example_pairs(s, SYSTEM, pid)
        ]
    )
    for col1, col2 in added:
        typer.echo(f"added {col1} / {col2}")
    typer.echo(f"{len(added)} pair(s) added")
