"""The `revcycle` command line."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.orm import Session

from revcycle.audit.commands import audit_app
from revcycle.auth.commands import auth_app
from revcycle.auth.permissions import Role
from revcycle.auth.principal import Principal
from revcycle.claims.commands import claims_app
from revcycle.cli.runtime import run
from revcycle.codesets.commands import codes_app
from revcycle.config import get_settings
from revcycle.crypto.commands import keys_app
from revcycle.eligibility.commands import eligibility_app
from revcycle.gateway.commands import gateway_app
from revcycle.receipts.commands import receipts_app
from revcycle.reconciliation.commands import reconcile_app
from revcycle.remittances.commands import era_app
from revcycle.worker.commands import worker_app

app = typer.Typer(
    help="revcycle: healthcare revenue-cycle billing",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data", no_args_is_help=True)
users_app = typer.Typer(help="Users and logins", no_args_is_help=True)
invoices_app = typer.Typer(help="Invoices", no_args_is_help=True)
ledger_app = typer.Typer(help="The ledger", no_args_is_help=True)
patients_app = typer.Typer(help="Patients", no_args_is_help=True)
practices_app = typer.Typer(help="Practices", no_args_is_help=True)
idem_app = typer.Typer(help="Idempotency keys", no_args_is_help=True)
for sub, name in [
    (db_app, "db"),
    (demo_app, "demo"),
    (users_app, "users"),
    (invoices_app, "invoices"),
    (ledger_app, "ledger"),
    (patients_app, "patients"),
    (practices_app, "practices"),
    (idem_app, "idempotency"),
    (keys_app, "keys"),
    (audit_app, "audit"),
    (auth_app, "auth"),
    (gateway_app, "gateway"),
    (era_app, "era"),
    (codes_app, "codes"),
    (reconcile_app, "reconcile"),
    (eligibility_app, "eligibility"),
    (receipts_app, "receipts"),
    (worker_app, "worker"),
    (claims_app, "claims"),
]:
    app.add_typer(sub, name=name)

SYSTEM = Principal.system(username="cli")


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        typer.echo(f"error: {value!r} is not a valid {what} id", err=True)
        raise typer.Exit(code=2) from None


def _validation_exit(exc: ValidationError) -> typer.Exit:
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "input"
        typer.echo(f"error: {loc}: {err['msg']}", err=True)
    return typer.Exit(code=2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    ssl_certfile: Annotated[str | None, typer.Option(help="TLS certificate (PEM)")] = None,
    ssl_keyfile: Annotated[str | None, typer.Option(help="TLS private key (PEM)")] = None,
) -> None:
    """Serve the API, the web UI and the API docs (http://HOST:PORT/docs). With --ssl-certfile
    and --ssl-keyfile it serves HTTPS itself; behind a TLS-terminating proxy, list the proxy in
    REVCYCLE_TRUSTED_PROXIES so its X-Forwarded-For/-Proto are believed (docs/identity.md)."""
    import uvicorn

    if (ssl_certfile is None) != (ssl_keyfile is None):
        typer.echo("error: --ssl-certfile and --ssl-keyfile go together", err=True)
        raise typer.Exit(code=2)
    uvicorn.run(
        "revcycle.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=get_settings().trusted_proxies,
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply schema migrations."""
    from revcycle.db import migrate

    migrate(get_settings().database_url, revision)
    typer.echo("database is up to date")


@demo_app.command("seed")
def demo_seed(
    patients: Annotated[int, typer.Option(min=1, help="Number of patients")] = 220,
    invoices: Annotated[int, typer.Option(min=1, help="Number of invoices")] = 2200,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data)")] = 20261126,
    if_empty: Annotated[bool, typer.Option(help="Do nothing when data exists")] = False,
) -> None:
    """Build a deterministic, realistic demo practice and print its logins."""
    from revcycle.auth.service import make_hasher
    from revcycle.demo import seed as demo

    hasher = make_hasher(get_settings())

    def work(s: Session) -> demo.SeedResult | None:
        if if_empty and demo.has_data(s):
            return None
        return demo.seed(s, hasher, patients=patients, invoices=invoices, seed=seed)

    result = run(work)
    if result is None:
        typer.echo("demo data already present; nothing to do")
        return
    typer.echo(result.summary())


@app.command()
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable")] = False,
) -> None:
    """Integrity report: the ledger balances and every stored figure matches it."""
    from revcycle.integrity import service as integrity

    report = run(integrity.run)
    if as_json:
        typer.echo(
            json.dumps(
                {"ok": report.ok, "checked": report.checked, "violations": report.violations},
                indent=2,
            )
        )
    else:
        for name, n in report.checked.items():
            typer.echo(f"checked {n} {name}")
        for v in report.violations:
            typer.echo(f"VIOLATION: {v}")
        typer.echo(
            "ledger balanced; no drift" if report.ok else f"{len(report.violations)} violation(s)"
        )
    if not report.ok:
        raise typer.Exit(code=1)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name")],
    role: Annotated[Role, typer.Option(help="admin, billing_staff, insurance_specialist, patient")],
    password: Annotated[str | None, typer.Option(help="Omit to be prompted")] = None,
    patient_id: Annotated[str | None, typer.Option(help="For role patient")] = None,
    practice_id: Annotated[
        list[str] | None, typer.Option(help="Assign to practice (repeat)")
    ] = None,
) -> None:
    """Create a user (the first admin, for instance)."""
    from revcycle.auth import service as auth_service
    from revcycle.auth.schemas import UserCreate

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        data = UserCreate(
            username=username,
            password=password,
            role=role,
            patient_id=_uuid(patient_id, "patient") if patient_id else None,
            practice_ids=[_uuid(p, "practice") for p in practice_id or []],
        )
    except ValidationError as exc:
        raise _validation_exit(exc) from None
    hasher = auth_service.make_hasher(get_settings())
    settings = get_settings()
    user = run(lambda s: auth_service.create_user(s, SYSTEM, data, hasher, settings))
    typer.echo(f"created {user.role} {user.username} ({user.id})")


@practices_app.command("list")
def practices_list() -> None:
    """List practices."""
    from revcycle.practices import service as practices_service

    def work(s: Session) -> list[str]:
        page = practices_service.list_practices(s, SYSTEM, cursor=None, limit=200)
        return [f"{p.id}  {p.npi}  {p.name}" for p in page.items]

    for line in run(work):
        typer.echo(line)


@invoices_app.command("list")
def invoices_list(
    practice_id: Annotated[str | None, typer.Option(help="Only this practice")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses")] = None,
    overdue: Annotated[bool, typer.Option(help="Only overdue invoices")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List invoices, newest first."""
    from revcycle.invoices import service as invoices_service
    from revcycle.money import Money

    def work(s: Session) -> list[str]:
        page = invoices_service.list_invoices(
            s,
            SYSTEM,
            practice_id=_uuid(practice_id, "practice") if practice_id else None,
            patient_id=None,
            statuses=tuple(status or ()),
            issued_from=None,
            issued_to=None,
            overdue=overdue,
            with_lines=False,
            cursor=None,
            limit=limit,
        )
        return [
            f"{v.invoice.display_number or '(draft)':<12} {v.invoice.status:<15} "
            f"due {v.invoice.due_date or '-'}  total "
            f"{Money(v.invoice.total_minor, v.invoice.currency)}  balance "
            f"{Money(v.figures.balance, v.invoice.currency)}"
            f"{'  OVERDUE' if v.overdue else ''}  {v.invoice.id}"
            for v in page.items
        ]

    for line in run(work):
        typer.echo(line)


@invoices_app.command("issue")
def invoices_issue(invoice_id: str) -> None:
    """Issue a draft invoice (assigns its number and posts it to the ledger)."""
    from revcycle.invoices import service as invoices_service
    from revcycle.invoices.schemas import InvoiceIssue

    inv = run(
        lambda s: invoices_service.issue_invoice(
            s, SYSTEM, _uuid(invoice_id, "invoice"), InvoiceIssue()
        )
    )
    typer.echo(f"issued {inv.display_number}, due {inv.due_date}")


@invoices_app.command("void")
def invoices_void(
    invoice_id: str, reason: Annotated[str, typer.Option(help="Why it is voided")]
) -> None:
    """Void an invoice (the ledger gets a reversal entry)."""
    from revcycle.invoices import service as invoices_service
    from revcycle.invoices.schemas import InvoiceVoid

    try:
        data = InvoiceVoid(reason=reason)
    except ValidationError as exc:
        raise _validation_exit(exc) from None
    inv = run(
        lambda s: invoices_service.void_invoice(s, SYSTEM, _uuid(invoice_id, "invoice"), data)
    )
    typer.echo(f"voided {inv.display_number or inv.id}")


@ledger_app.command("trial-balance")
def ledger_trial_balance(
    practice_id: str,
    date_from: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD")] = None,
) -> None:
    """Trial balance of a practice for a period."""
    from revcycle.kit.clock import today
    from revcycle.ledger import service as ledger_service
    from revcycle.money import Money

    try:
        start = dt.date.fromisoformat(date_from) if date_from else None
        end = dt.date.fromisoformat(date_to) if date_to else today()
    except ValueError:
        typer.echo("error: dates are YYYY-MM-DD", err=True)
        raise typer.Exit(code=2) from None
    tb = run(
        lambda s: ledger_service.practice_trial_balance(
            s, SYSTEM, _uuid(practice_id, "practice"), date_from=start, date_to=end
        )
    )
    typer.echo(f"{'account':<42}{'opening':>14}{'debits':>14}{'credits':>14}{'closing':>14}")
    for r in tb.rows:
        typer.echo(
            f"{r.code} {r.name:<37}{Money(r.opening_minor, r.currency).format():>14}"
            f"{Money(r.debits_minor, r.currency).format():>14}"
            f"{Money(r.credits_minor, r.currency).format():>14}"
            f"{Money(r.closing_minor, r.currency).format():>14}"
        )
    for cur in sorted(tb.total_debits_minor):
        typer.echo(
            f"{'totals ' + cur:<56}{Money(tb.total_debits_minor[cur], cur).format():>14}"
            f"{Money(tb.total_credits_minor.get(cur, 0), cur).format():>14}"
        )
    typer.echo("balanced" if tb.balanced else "NOT BALANCED")
    if not tb.balanced:
        raise typer.Exit(code=1)


@patients_app.command("statement")
def patients_statement(patient_id: str) -> None:
    """Print a patient's account statement."""
    from revcycle.invoices import statements
    from revcycle.money import Money

    st = run(lambda s: statements.patient_statement(s, SYSTEM, _uuid(patient_id, "patient")))
    cur = st.currency
    typer.echo(f"Account {st.account_number}")
    for ln in st.lines:
        typer.echo(
            f"{ln.date}  {ln.description:<40}{Money(ln.charges_minor, cur).format():>12}"
            f"{Money(ln.credits_minor, cur).format():>12}"
            f"{Money(ln.balance_minor, cur).format():>12}"
        )
    typer.echo(
        f"amount due {Money(st.amount_due_minor, cur)}; credit held "
        f"{Money(st.credit_balance_minor, cur)}; overdue {Money(st.overdue_minor, cur)}"
    )


@idem_app.command("purge")
def idempotency_purge() -> None:
    """Delete stored Idempotency-Key responses past the retention period."""
    from revcycle.idempotency import service as idem

    hours = get_settings().idempotency_retention_hours
    n = run(lambda s: idem.purge(s, retention_hours=hours))
    typer.echo(f"purged {n} key(s) older than {hours} h")


def main() -> None:
    app()
