"""Setup for bench/post835_bench.py (not timed): a practice, provider, payer and PPO plan,
patients with primary coverage, and N issued invoices with their claims submitted.

One invoice and claim go through the services; the others are copies of them written with bulk
inserts (fresh ids, invoice and claim numbers 2..N, their own patients and coverages, each
invoice's issue entry through ``ledger.post_entries_bulk``), so 20,000 claims take seconds,
not the ~30 ms each the services need on a loaded 2-core machine.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bench.http_bench import SYSTEM, random_npi
from revcycle.claims import service as claims_service
from revcycle.claims import states
from revcycle.claims.models import Claim, ClaimLine, ClaimSequence
from revcycle.claims.schemas import ClaimCreate
from revcycle.db import unit_of_work
from revcycle.insurance import coverages
from revcycle.insurance import service as insurance
from revcycle.insurance.schemas import CoverageCreate, FeeScheduleCreate, PayerCreate, PlanCreate
from revcycle.invoices import service as invoices
from revcycle.invoices.models import Invoice, InvoiceLine, InvoiceSequence
from revcycle.invoices.schemas import InvoiceCreate
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.money import Money
from revcycle.patients import service as patients
from revcycle.patients.schemas import PatientCreate
from revcycle.practices import service as practices
from revcycle.practices.schemas import PracticeCreate, ProviderCreate

PAYER_ID = "BENCH835"
DOS = dt.date(2026, 1, 5)
SETUP_BATCH = 500


@dataclass(frozen=True)
class Seeded:
    practice_id: uuid.UUID
    npi: str
    control_numbers: list[str]
    line_numbers: list[tuple[str, str]]  # REF*6R per claim line


def _practice(s: Session) -> tuple[uuid.UUID, str, uuid.UUID, uuid.UUID]:
    npi = random_npi()
    practice = practices.create_practice(
        s,
        SYSTEM,
        PracticeCreate.model_validate(
            {
                "name": "Remittance Bench Clinic",
                "npi": npi,
                "tin": "12-3456789",
                "taxonomy": "207Q00000X",
                "address_line1": "1 Posting Way",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62701",
                "default_terms": "net",
                "default_terms_days": 30,
            }
        ),
    )
    provider = practices.create_provider(
        s,
        SYSTEM,
        practice.id,
        ProviderCreate.model_validate(
            {"npi": random_npi(), "first_name": "Ana", "last_name": "Lopez", "credential": "MD"}
        ),
    )
    payer = insurance.create_payer(
        s,
        SYSTEM,
        PayerCreate.model_validate(
            {
                "practice_id": practice.id,
                "name": "Bench Health Plan",
                "edi_payer_id": PAYER_ID,
                "timely_filing_days": 365,
                "appeal_deadline_days": 60,
            }
        ),
    )
    plan = insurance.create_plan(
        s,
        SYSTEM,
        payer.id,
        PlanCreate.model_validate(
            {
                "name": "Bench PPO",
                "product_type": "ppo",
                "deductible": "500.00",
                "oop_max": "3000.00",
                "coinsurance_percent": "20",
                "copays": {"office_visit": "25.00"},
            }
        ),
    )
    insurance.add_fee_rows(
        s,
        SYSTEM,
        plan.id,
        FeeScheduleCreate.model_validate(
            {
                "rows": [
                    {"code": "99213", "allowed": "100.00", "effective_from": "2026-01-01"},
                    {"code": "80053", "allowed": "40.00", "effective_from": "2026-01-01"},
                ]
            }
        ),
    )
    return practice.id, npi, provider.id, plan.id


def _template(s: Session, provider_id: uuid.UUID, patient_id: uuid.UUID) -> Claim:
    """One issued invoice and its submitted claim, through the services (what the clones copy)."""
    invoice = invoices.create_invoice(
        s,
        SYSTEM,
        InvoiceCreate.model_validate(
            {
                "patient_id": patient_id,
                "issue": True,
                "lines": [
                    {
                        "service_code": code,
                        "unit_price": price,
                        "units": 1,
                        "description": "Visit",
                        "date_of_service": DOS,
                        "provider_id": provider_id,
                        "diagnosis_codes": ["E11.9"],
                    }
                    for code, price in (("99213", "150.00"), ("80053", "60.00"))
                ],
            }
        ),
    )
    view = claims_service.create_claim(
        s, SYSTEM, ClaimCreate.model_validate({"invoice_id": invoice.id})
    )
    for to in ("scrubbed", "submitted"):
        states.transition(s, view.claim, to, actor=SYSTEM, actor_kind="system")
    s.flush()
    return view.claim


def _row(s: Session, table: Table, *where: Any) -> dict[str, Any]:
    return dict(s.execute(select(table).where(*where)).mappings().one())


def _clone(
    s: Session, template: Claim, patients_: list[tuple[uuid.UUID, uuid.UUID]], n: int, first: int
) -> None:
    """Copy the template invoice (issued, with its issue entry) and claim (submitted) ``n``
    times with fresh ids and numbers ``first`` .. ``first + n - 1``, the patients in turn."""
    t_inv, t_lines = cast(Table, Invoice.__table__), cast(Table, InvoiceLine.__table__)
    t_claim, t_clines = cast(Table, Claim.__table__), cast(Table, ClaimLine.__table__)
    inv = _row(s, t_inv, t_inv.c.id == template.invoice_id)
    inv_lines = [
        dict(r)
        for r in s.execute(
            select(t_lines).where(t_lines.c.invoice_id == inv["id"]).order_by(t_lines.c.position)
        ).mappings()
    ]
    claim = _row(s, t_claim, t_claim.c.id == template.id)
    claim_lines = [
        dict(r)
        for r in s.execute(
            select(t_clines).where(t_clines.c.claim_id == claim["id"]).order_by(t_clines.c.position)
        ).mappings()
    ]
    invoices_out, lines_out, claims_out, clines_out, specs = [], [], [], [], []
    for number in range(first, first + n):
        patient_id, coverage_id = patients_[(number - 1) // 10 % len(patients_)]
        inv_id, claim_id = uuid7(), uuid7()
        specs.append(
            ledger.EntrySpec(
                practice_id=inv["practice_id"],
                kind=EntryKind.INVOICE_ISSUE.value,
                legs=[
                    ledger.debit(
                        AccountCode.PATIENT_AR,
                        Money(inv["total_minor"], "USD"),
                        patient_id=patient_id,
                        invoice_id=inv_id,
                    ),
                    ledger.credit(
                        AccountCode.SERVICE_REVENUE,
                        Money(inv["total_minor"], "USD"),
                        patient_id=patient_id,
                        invoice_id=inv_id,
                    ),
                ],
                effective_date=inv["issue_date"],
                memo=f"bench invoice {number}",
                source_type="invoice",
                source_id=inv_id,
            )
        )
        invoices_out.append(
            {
                **inv,
                "id": inv_id,
                "patient_id": patient_id,
                "number": number,
                "display_number": f"INV-{number:06d}",
                "issue_entry_id": None,
            }
        )
        line_ids = []
        for ln in inv_lines:
            line_ids.append(uuid7())
            lines_out.append({**ln, "id": line_ids[-1], "invoice_id": inv_id})
        claims_out.append(
            {
                **claim,
                "id": claim_id,
                "patient_id": patient_id,
                "invoice_id": inv_id,
                "coverage_id": coverage_id,
                "number": number,
                "control_number": f"RC{number:08d}",
            }
        )
        for ln, line_id in zip(claim_lines, line_ids, strict=True):
            clines_out.append(
                {
                    **ln,
                    "id": uuid7(),
                    "claim_id": claim_id,
                    "invoice_line_id": line_id,
                    "line_control_number": f"C{number}L{ln['position']}",
                }
            )
    s.execute(insert(t_inv), invoices_out)
    s.execute(insert(t_lines), lines_out)
    entry_ids = ledger.post_entries_bulk(s, specs)
    s.execute(
        update(t_inv)
        .where(t_inv.c.id == bindparam("b_id"))
        .values(issue_entry_id=bindparam("b_entry")),
        [{"b_id": i["id"], "b_entry": e} for i, e in zip(invoices_out, entry_ids, strict=True)],
    )
    s.execute(insert(t_claim), claims_out)
    s.execute(insert(t_clines), clines_out)


def seed(factory: sessionmaker[Session], n: int) -> Seeded:
    """Patients (one per 10 claims) and one claim through the services; the other claims are
    copies of that one written with bulk inserts (their issue entries through
    ``post_entries_bulk``), numbered on, with the invoice and claim sequences moved along."""
    with unit_of_work(factory) as s:
        practice_id, npi, provider_id, plan_id = _practice(s)
    patients_: list[tuple[uuid.UUID, uuid.UUID]] = []
    while len(patients_) < max(1, n // 10):
        with unit_of_work(factory) as s:
            for _ in range(min(SETUP_BATCH, max(1, n // 10) - len(patients_))):
                k = len(patients_)
                patient_id = patients.create_patient(
                    s,
                    SYSTEM,
                    practice_id,
                    PatientCreate.model_validate(
                        {"first_name": "Bench", "last_name": f"P{k}", "date_of_birth": "1980-01-01"}
                    ),
                ).id
                cov = coverages.create_coverage(
                    s,
                    SYSTEM,
                    patient_id,
                    CoverageCreate.model_validate(
                        {
                            "plan_id": plan_id,
                            "member_id": f"M{k:09d}",
                            "effective_from": "2026-01-01",
                            "priority": 1,
                        }
                    ),
                )
                patients_.append((patient_id, cov.coverage.id))
    with unit_of_work(factory) as s:
        template = _template(s, provider_id, patients_[0][0])
        assert template.control_number == "RC00000001"
    made = 1
    while made < n:
        k = min(5_000, n - made)
        with unit_of_work(factory) as s:
            _clone(s, template, patients_, k, made + 1)
            made += k
            for seq in (InvoiceSequence, ClaimSequence):
                s.execute(
                    update(seq).where(seq.practice_id == practice_id).values(last_number=made)
                )
        print(f"[post835] setup: {made:,} of {n:,} claims submitted")
    return Seeded(
        practice_id,
        npi,
        [f"RC{i:08d}" for i in range(1, n + 1)],
        [(f"C{i}L1", f"C{i}L2") for i in range(1, n + 1)],
    )
