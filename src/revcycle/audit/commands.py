"""`revcycle audit ...`: verify the hash chains, export events for an auditor. See docs/audit.md."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from sqlalchemy.orm import Session

from revcycle.audit import chain, queries
from revcycle.audit.models import AuditEvent
from revcycle.cli.runtime import run
from revcycle.security import events as security_events
from revcycle.security.events import SecurityEventKind

audit_app = typer.Typer(help="The audit trail", no_args_is_help=True)

EXPORT_COLUMNS = (
    "id",
    "occurred_at",
    "category",
    "action",
    "actor_user_id",
    "actor_role",
    "practice_id",
    "object_type",
    "object_id",
    "fields",
    "detail",
    "request_id",
    "client_addr",
    "chain_key",
    "chain_seq",
    "prev_hash",
    "hash",
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


@audit_app.command("verify")
def audit_verify(
    anchors: Annotated[
        Path | None,
        typer.Option(help="Anchors saved earlier with --write-anchors: those events must match"),
    ] = None,
    write_anchors: Annotated[
        Path | None, typer.Option(help="Save each chain's head here, to check against later")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable")] = False,
) -> None:
    """Recompute every hash chain; report the first broken link of each. Exit 1 on any break."""
    saved: dict[str, Any] | None = None
    if anchors is not None:
        try:
            saved = json.loads(anchors.read_text())
        except (OSError, ValueError) as exc:
            raise _fail(f"cannot read anchors from {anchors}: {type(exc).__name__}") from None
        if not isinstance(saved, dict) or not all(isinstance(v, dict) for v in saved.values()):
            raise _fail(f"{anchors} is not an anchors file written by --write-anchors")
    report = run(lambda s: chain.verify(s, saved))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "unchained_events": report.unchained_events,
                    "chains": [
                        {
                            "chain_key": c.chain_key,
                            "events": c.events,
                            "last_seq": c.last_seq,
                            "last_hash": c.last_hash,
                            "first_break": None
                            if c.first_break is None
                            else c.first_break.__dict__,
                        }
                        for c in report.chains
                    ],
                },
                indent=2,
            )
        )
    else:
        for c in report.chains:
            if c.first_break is None:
                typer.echo(f"chain {c.chain_key}: {c.events} events, head #{c.last_seq} ok")
            else:
                b = c.first_break
                where = f"#{b.chain_seq}" if b.chain_seq is not None else "the head"
                event = f" (event id {b.event_id})" if b.event_id is not None else ""
                typer.echo(
                    f"chain {c.chain_key}: BROKEN at {where}{event}: {b.reason}: {b.message}"
                )
        if report.unchained_events:
            typer.echo(f"{report.unchained_events} event(s) outside any chain")
        typer.echo("audit trail intact" if report.ok else f"{len(report.breaks)} broken chain(s)")
    if write_anchors is not None:
        write_anchors.write_text(json.dumps(report.anchors(), indent=2, sort_keys=True) + "\n")
    if not report.ok:
        raise typer.Exit(code=1)


def _row(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "occurred_at": e.occurred_at.isoformat(),
        "category": e.category,
        "action": e.action,
        "actor_user_id": str(e.actor_user_id) if e.actor_user_id else None,
        "actor_role": e.actor_role,
        "practice_id": str(e.practice_id) if e.practice_id else None,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "fields": list(e.fields or []),
        "detail": e.detail,
        "request_id": e.request_id,
        "client_addr": e.client_addr,
        "chain_key": e.chain_key,
        "chain_seq": e.chain_seq,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


@contextmanager
def _opened(output: Path | None) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
    else:
        with output.open("w", newline="", encoding="utf-8") as fh:
            yield fh


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} must be a date as YYYY-MM-DD") from None


@audit_app.command("export")
def audit_export(
    date_from: Annotated[str, typer.Option("--from", help="First day (UTC), YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="Last day (UTC), YYYY-MM-DD, inclusive")],
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
    practice: Annotated[str | None, typer.Option(help="Only this practice's events")] = None,
) -> None:
    """Write the events of a period for an auditor, with their chain hashes. The export itself is
    recorded as a security event."""
    start, end = _date(date_from, "--from"), _date(date_to, "--to")
    if start > end:
        raise _fail("--from is after --to")
    if fmt not in {"csv", "json"}:
        raise _fail("--format must be csv or json")
    practice_id: uuid.UUID | None = None
    if practice is not None:
        try:
            practice_id = uuid.UUID(practice)
        except ValueError:
            raise _fail("--practice must be a practice id (UUID)") from None

    def work(s: Session) -> int:
        n = 0
        with _opened(output) as fh:
            if fmt == "csv":
                writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
                writer.writeheader()
                for e in queries.export_rows(s, start, end, practice_id):
                    row = _row(e)
                    row["fields"] = ";".join(row["fields"])
                    row["detail"] = json.dumps(row["detail"], sort_keys=True) if e.detail else ""
                    writer.writerow(row)
                    n += 1
            else:
                fh.write("[")
                for e in queries.export_rows(s, start, end, practice_id):
                    fh.write(("," if n else "") + "\n" + json.dumps(_row(e), sort_keys=True))
                    n += 1
                fh.write("\n]\n")
        security_events.record(
            s,
            SecurityEventKind.AUDIT_EXPORTED,
            user_id=None,
            role="system",
            client_addr=None,
            request_id=None,
            practice_id=practice_id,
            detail={"from": start.isoformat(), "to": end.isoformat(), "format": fmt, "events": n},
        )
        return n

    n = run(work)
    if output is not None:
        typer.echo(f"exported {n} event(s) to {output}")
