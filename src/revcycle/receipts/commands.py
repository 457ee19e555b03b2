"""`revcycle receipts print ID --out receipt.pdf`: a receipt to a file (PDF, or HTML for .html)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from revcycle.auth.principal import Principal
from revcycle.cli.runtime import fail, run
from revcycle.receipts import documents, render

receipts_app = typer.Typer(help="Receipts", no_args_is_help=True)
OPERATOR = Principal.system(username="cli")


@receipts_app.command("print")
def print_receipt(
    object_id: Annotated[str, typer.Argument(help="Payment id (or refund id with --refund)")],
    out: Annotated[Path, typer.Option(help="Output file: .pdf or .html")],
    refund: Annotated[bool, typer.Option(help="OBJECT_ID is a refund")] = False,
) -> None:
    """Write a payment's (or refund's) receipt to a file. The read is audited."""
    try:
        wanted = uuid.UUID(object_id)
    except ValueError:
        fail(f"{object_id!r} is not a valid id")
        return
    load = documents.refund_receipt if refund else documents.payment_receipt
    page = run(lambda s: render.html(load(s, OPERATOR, wanted)))
    if out.suffix.lower() == ".html":
        out.write_text(page, encoding="utf-8")
    else:
        out.write_bytes(render.pdf(page))
    typer.echo(f"wrote {out}")
