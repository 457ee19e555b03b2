"""Demo insurance data (called from demo/seed.py after the patients and invoices exist): payers
and plans with fee schedules, coverages (self and dependants, primary and secondary, Medicare
with a supplemental secondary), accumulators, prior authorisations in every status, and a few
estimates. Deterministic: everything derives from the patients' order and the window's end.

The payer simulator chooses a scenario by the member id's suffix (docs/payer-simulator.md): the
first self-insured Badger Choice PPO adults with an open invoice seen in the last
``CLAIM_DAYS`` days (the claims demo's window, claims/demo.py) get the member ids ending
``XRV``, ``XIT``, ``XWO``, ``XPP``, ``XDN`` and ``XRJ``, one each, so the demo's claims show a
reversal, interest, a recoupment, a bundled line, a denial and a 277CA rejection; the next
such adult is also on a spouse's plan, so the claims demo has a secondary payer to bill.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.authorizations import service as auth_service
from revcycle.authorizations.schemas import (
    AuthorizationApprove,
    AuthorizationCreate,
    AuthorizationDecision,
)
from revcycle.estimates import service as estimates_service
from revcycle.estimates.schemas import EstimateCreate, EstimateSettingsUpdate
from revcycle.insurance import coverages, service
from revcycle.insurance.models import InsurancePlan, Payer
from revcycle.insurance.schemas import (
    AccumulatorCreate,
    CoverageCreate,
    FeeScheduleCreate,
    PayerCreate,
    PlanCreate,
)
from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceLine
from revcycle.money import Money
from revcycle.patients.models import Patient
from revcycle.practices.repository import PracticeRepository

ADDRESS = {"line1": "PO Box 8000", "city": "Madison", "state": "WI", "postal_code": "53708"}

# name, EDI payer id, timely filing, appeal days, crossover
PAYERS = [
    ("Badger State Health", "39026", 90, 180, False),
    ("Medicare Part B (WPS)", "05302", 365, 120, True),
    ("Lakeshore Mutual", "LKM01", 180, 60, False),
]
# payer index, plan values, share of the charge master paid as the allowed amount (None: no
# fee schedule, out of network)
PLANS: list[tuple[int, dict[str, object], Decimal | None]] = [
    (
        0,
        {
            "name": "Badger Choice PPO",
            "product_type": "ppo",
            "network": "Badger Choice",
            "deductible": "1000.00",
            "family_deductible": "2000.00",
            "oop_max": "4000.00",
            "family_oop_max": "8000.00",
            "coinsurance_percent": "20",
            "copays": {"office_visit": "25.00", "specialist": "50.00", "preventive": "0.00"},
            "cost_share_order": "copay_only",
            "auth_required_codes": ["71046"],
        },
        Decimal("0.70"),
    ),
    (
        0,
        {
            "name": "Badger Saver HDHP",
            "product_type": "hdhp",
            "network": "Badger Choice",
            "deductible": "3000.00",
            "oop_max": "6000.00",
            "coinsurance_percent": "10",
            "copays": {"preventive": "0.00"},
            "cost_share_order": "copay_then_deductible",
            "auth_required_codes": ["71046", "93000"],
        },
        Decimal("0.75"),
    ),
    (
        1,
        {
            "name": "Medicare Part B",
            "product_type": "medicare",
            "deductible": "257.00",
            "coinsurance_percent": "20",
            "cost_share_order": "deductible_then_copay",
        },
        Decimal("0.55"),
    ),
    (
        2,
        {
            "name": "Lakeshore Indemnity",
            "product_type": "other",
            "in_network": False,
            "deductible": "500.00",
            "oop_max": "5000.00",
            "coinsurance_percent": "30",
        },
        None,
    ),
]


# Payer-simulator scenarios given to member ids (module docstring), in this order.
CLAIM_SCENARIOS = ("XRV", "XIT", "XWO", "XPP", "XDN", "XRJ", "XDP")
CLAIM_DAYS = 80  # the claims demo's look-back (claims/demo.py LOOKBACK_DAYS)
OFFICE_VISIT = "992"  # E/M office visit codes: the copay plan pays the rest


@dataclass
class InsuranceDemo:
    payers: int = 0
    plans: int = 0
    fee_rows: int = 0
    coverages: int = 0
    secondary: int = 0
    dependants: int = 0
    authorizations: dict[str, int] = field(default_factory=dict)
    estimates: int = 0


def seed(
    session: Session,
    actor: Principal,
    patients: Sequence[Patient],
    end: dt.date,
    charge_master: dict[str, Decimal],
) -> InsuranceDemo:
    out = InsuranceDemo()
    if not patients:
        return out
    practice = PracticeRepository(session).get(patients[0].practice_id)
    assert practice is not None
    year_start = dt.date(end.year - 1, 1, 1)
    payers: list[Payer] = []
    for name, edi, filing, appeal, crossover in PAYERS:
        payers.append(
            service.create_payer(
                session,
                actor,
                PayerCreate.model_validate(
                    {
                        "practice_id": practice.id,
                        "name": name,
                        "edi_payer_id": edi,
                        "claims_address": ADDRESS,
                        "timely_filing_days": filing,
                        "appeal_deadline_days": appeal,
                        "secondary_crossover": crossover,
                    }
                ),
            )
        )
    plans: list[InsurancePlan] = []
    for payer_index, values, share in PLANS:
        plan = service.create_plan(
            session, actor, payers[payer_index].id, PlanCreate.model_validate(values)
        )
        plans.append(plan)
        if share is not None:
            rows = [
                {
                    "code": code,
                    "allowed": Money.parse(price, practice.currency).times_rate(share).format(),
                    "effective_from": year_start.isoformat(),
                }
                for code, price in sorted(charge_master.items())
            ]
            if "99214" in charge_master:  # a modifier-specific rate (significant, separate E/M)
                rows.append(
                    {
                        "code": "99214",
                        "modifier": "25",
                        "allowed": Money.parse(charge_master["99214"], practice.currency)
                        .times_rate(share - Decimal("0.05"))
                        .format(),
                        "effective_from": year_start.isoformat(),
                    }
                )
            out.fee_rows += len(
                service.add_fee_rows(
                    session, actor, plan.id, FeeScheduleCreate.model_validate({"rows": rows})
                )
            )
    out.payers, out.plans = len(payers), len(plans)
    ppo, hdhp, medicare, indemnity = plans
    by_id = {p.id: p for p in patients}
    primary: dict[object, InsurancePlan] = {}

    def cover(
        patient: Patient, plan: InsurancePlan, priority: int, suffix: str = "", **extra: object
    ) -> None:
        body = {
            "plan_id": plan.id,
            "member_id": f"{plan.name[:3].upper()}{patient.account_number[-6:]}{priority}{suffix}",
            "group_number": "GRP-4410" if plan.product_type in {"ppo", "hdhp"} else None,
            "effective_from": year_start.isoformat(),
            "priority": priority,
            **extra,
        }
        coverages.create_coverage(session, actor, patient.id, CoverageCreate.model_validate(body))
        out.coverages += 1
        out.secondary += priority == 2

    adults = [p for p in patients if p.guarantor_id is None]
    parents = {p.guarantor_id for p in patients if p.guarantor_id is not None}
    claimable = _claimable(session, practice.id, end, set(ppo.auth_required_codes or []))
    scenarios = list(CLAIM_SCENARIOS)
    billed_spouse = False
    for i, patient in enumerate(adults):
        age = end.year - patient.date_of_birth.year
        if patient.id in parents:  # a family plan covering the dependants below
            cover(patient, ppo, 1)
            primary[patient.id] = ppo
        elif age >= 66:
            cover(patient, medicare, 1)
            cover(patient, ppo, 2)
            primary[patient.id] = medicare
        elif i % 5 in (0, 1, 2):
            alone = i % 7 != 0 and patient.id in claimable
            # XPP (bundling) needs a second line to bundle
            fits = [x for x in scenarios if x != "XPP" or claimable.get(patient.id, 0) > 1]
            suffix = fits[0] if alone and fits else ""
            if suffix:
                scenarios.remove(suffix)
            cover(patient, ppo, 1, suffix)
            primary[patient.id] = ppo
            # the first claimable one after the scenarios has a secondary payer to bill
            spouse = i % 7 == 0 or (alone and not suffix and not billed_spouse)
            billed_spouse = billed_spouse or (spouse and alone)
            if spouse:  # also on a spouse's plan
                subscriber = {
                    "first_name": "Sam",
                    "last_name": "Rivera",
                    "date_of_birth": "1975-04-02",
                }
                cover(patient, indemnity, 2, relationship="01", subscriber=subscriber)
        elif i % 5 == 3:
            cover(patient, hdhp, 1)
            primary[patient.id] = hdhp
        # i % 5 == 4: self-pay
    for patient in patients:
        guarantor = by_id.get(patient.guarantor_id) if patient.guarantor_id else None
        if guarantor is None or guarantor.id not in primary:
            continue
        plan = primary[guarantor.id]
        if plan is medicare:
            continue
        subscriber = {
            "first_name": guarantor.first_name,
            "last_name": guarantor.last_name,
            "date_of_birth": guarantor.date_of_birth.isoformat(),
            "patient_id": str(guarantor.id),
        }
        cover(patient, plan, 1, relationship="19", subscriber=subscriber)
        out.dependants += 1
    _accumulators(session, actor, patients, end)
    out.authorizations = _authorizations(session, actor, adults, primary, end)
    out.estimates = _estimates(session, actor, adults, primary, end)
    return out


def _claimable(
    session: Session, practice_id: object, end: dt.date, auth_codes: set[str]
) -> dict[object, int]:
    """Patients with an open invoice (no credit note) seen in the last CLAIM_DAYS days with an
    office visit (992xx, paid after the copay) and no line that needs an authorisation: the
    claims demo sends one of their claims (claims/demo.py picks the same invoice). Each with the
    most lines such an invoice has."""
    since = end - dt.timedelta(days=CLAIM_DAYS)
    rows = session.execute(
        select(
            Invoice.id, Invoice.patient_id, InvoiceLine.service_code, InvoiceLine.date_of_service
        )
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(
            Invoice.practice_id == practice_id,
            Invoice.status == "open",
            Invoice.id.not_in(select(InvoiceAdjustment.invoice_id)),
        )
    ).all()
    recent: dict[object, object] = {}
    lines: Counter[object] = Counter()
    visit: set[object] = set()
    needs_auth: set[object] = set()
    for invoice_id, patient_id, code, day in rows:
        lines[invoice_id] += 1
        if day is not None and day >= since:
            recent[invoice_id] = patient_id
        if code.startswith(OFFICE_VISIT):
            visit.add(invoice_id)
        if code in auth_codes:
            needs_auth.add(invoice_id)
    out: dict[object, int] = {}
    for invoice, patient in recent.items():
        if invoice in visit and invoice not in needs_auth:
            out[patient] = max(out.get(patient, 0), lines[invoice])
    return out


def _accumulators(
    session: Session, actor: Principal, patients: Sequence[Patient], end: dt.date
) -> None:
    for n, patient in enumerate(patients[:12]):
        view = coverages.coverage_on(session, patient.id, end)
        if view is None:
            continue
        met = Decimal(75 * (n + 1))
        coverages.add_accumulator(
            session,
            actor,
            view.coverage.id,
            AccumulatorCreate(as_of=end, deductible_met=met, oop_met=met + 40),
        )


def _authorizations(
    session: Session,
    actor: Principal,
    adults: Sequence[Patient],
    primary: dict[object, InsurancePlan],
    end: dt.date,
) -> dict[str, int]:
    insured = [p for p in adults if p.id in primary and primary[p.id].product_type != "medicare"]
    # (valid from, valid to offsets in days from the end, units, outcome, units consumed)
    specs = [
        (-30, 150, 6, "approved", 2),
        (-60, 120, 5, "approved", 4),  # near exhaustion
        (-20, 10, 4, "approved", 1),  # near expiry
        (-200, -15, 3, "approved", 1),  # expired by date
        (0, 90, 2, "requested", 0),
        (-10, 80, 2, "denied", 0),
        (-40, 60, 3, "cancelled", 0),
    ]
    counts: dict[str, int] = {}
    for n, (lo, hi, units, outcome, used) in enumerate(specs):
        if not insured:
            break
        patient = insured[n % len(insured)]
        payer_id = primary[patient.id].payer_id
        view = auth_service.create_authorization(
            session,
            actor,
            AuthorizationCreate.model_validate(
                {
                    "patient_id": patient.id,
                    "payer_id": payer_id,
                    "unit_kind": "visits",
                    "valid_from": (end + dt.timedelta(days=lo)).isoformat(),
                    "valid_to": (end + dt.timedelta(days=hi)).isoformat(),
                    "services": [{"code": "71046", "units": units}],
                    "notes": "Chest X-ray series",
                }
            ),
        )
        aid = view.authorization.id
        if outcome == "approved":
            view = auth_service.approve(
                session, actor, aid, AuthorizationApprove(number=f"BSH{end.year}{n + 1:05d}")
            )
            for k in range(used):  # demo charges recorded outside invoices
                auth_service.consume_for_charge(
                    session,
                    view.authorization.practice_id,
                    patient.id,
                    "71046",
                    end + dt.timedelta(days=lo + k),
                    1,
                    charge_ref=f"demo:{aid}:{k}",
                )
        if outcome == "denied":
            view = auth_service.deny(
                session, actor, aid, AuthorizationDecision(reason="Not medically necessary")
            )
        if outcome == "cancelled":
            view = auth_service.cancel(
                session, actor, aid, AuthorizationDecision(reason="Procedure cancelled")
            )
        status = view.status_on(end)
        counts[status] = counts.get(status, 0) + 1
    return counts


def _estimates(
    session: Session,
    actor: Principal,
    adults: Sequence[Patient],
    primary: dict[object, InsurancePlan],
    end: dt.date,
) -> int:
    estimates_service.update_settings(
        session,
        actor,
        adults[0].practice_id,
        EstimateSettingsUpdate.model_validate({"self_pay_discount_percent": "20"}),
    )
    insured = [p for p in adults if p.id in primary][:3]
    self_pay = [p for p in adults if p.id not in primary][:2]
    for patient in [*insured, *self_pay]:
        estimates_service.create_estimate(
            session,
            actor,
            EstimateCreate.model_validate(
                {
                    "patient_id": patient.id,
                    "service_date": end.isoformat(),
                    "lines": [{"code": "99214"}, {"code": "80053"}, {"code": "36415"}],
                }
            ),
        )
    return len(insured) + len(self_pay)
