"""`revcycle codes ...`: load official code-set releases, look codes up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.cli.runtime import run
from revcycle.codesets import repository, service
from revcycle.kit.clock import today

codes_app = typer.Typer(help="Code sets (ICD-10-CM)", no_args_is_help=True)
SYSTEM = Principal.system(username="cli")


@codes_app.command("load-icd10cm")
def load_icd10cm(
    file: Annotated[Path, typer.Argument(help="icd10cm-tabular-*.xml (or .xml.gz) from CDC/NCHS")],
    label: Annotated[str, typer.Option(help="Release label, e.g. 2026-04")],
    effective_from: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First date of service it covers")
    ],
) -> None:
    """Load one ICD-10-CM release (the Tabular List XML). Loading the same file again is a
    no-op; the release in force on a date of service is the latest effective on or before it."""

    def work(s: Session) -> service.LoadResult:
        return service.load_icd10cm(
            s, SYSTEM, file, label=label, effective_from=effective_from.date()
        )

    result = run(work)
    r = result.release
    verb = "loaded" if result.created else "already loaded"
    typer.echo(
        f"ICD-10-CM {r.label} (file version {r.source_version}, effective {r.effective_from}) "
        f"{verb}: {r.code_count} codes, {r.billable_count} billable"
    )


@codes_app.command("icd10cm")
def lookup(
    code: Annotated[str, typer.Argument(help="An ICD-10-CM code, with or without the dot")],
    on: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Date of service")
    ] = None,
) -> None:
    """Is CODE billable on the date of service? Exit 1 when it is not."""
    day = on.date() if on else today()
    verdict = run(lambda s: service.check_diagnosis(s, code, day))
    desc = f" {verdict.description}" if verdict.description else ""
    typer.echo(f"{verdict.code}:{desc} [{verdict.message}]")
    if not verdict.ok:
        raise typer.Exit(code=1)


@codes_app.command("releases")
def releases() -> None:
    """The loaded ICD-10-CM releases."""
    rows = run(
        lambda s: [
            (r.label, r.effective_from, r.code_count, r.billable_count)
            for r in repository.releases(s, repository.ICD10CM)
        ]
    )
    for label, eff, total, billable in rows:
        typer.echo(f"{label}\teffective {eff}\t{total} codes\t{billable} billable")
    if not rows:
        typer.echo("no ICD-10-CM release loaded")
