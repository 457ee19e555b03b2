"""Demo eligibility data (called from demo/seed.py right after the insurance demo): real 270/271
checks through the payer simulator, inside the seed's unit of work, for the service date
"tomorrow" (the day after the demo window ends), and tomorrow's appointments for the daily
re-verification (`revcycle eligibility reverify-tomorrow`).

* ``active``: the primary coverage of the first insured adults and of a dependant (a 270 with
  the dependant loop), with their benefits;
* ``inactive``: a former secondary plan that ended a month ago (member id ending ``XTM``: the
  simulator answers terminated with the plan end date);
* ``rejected``: a secondary card entered with a wrong member id (ending ``X72``: AAA 72);
* an estimate for tomorrow built from the first fresh check (its basis names the check);
* five appointments tomorrow: three with a fresh check (the re-verification records them
  ``fresh``), one not checked yet (it gets checked), one cancelled (skipped).

Deterministic: everything derives from the patients' order and the window's end (the raw 270's
ISA date and the checks' times are the clock's, as in production).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.appointments import service as appointments
from revcycle.appointments.schemas import AppointmentCreate
from revcycle.auth.principal import Principal
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.eligibility import service
from revcycle.estimates import service as estimates_service
from revcycle.estimates.schemas import EstimateCreate
from revcycle.insurance import coverages
from revcycle.insurance.models import Coverage, InsurancePlan
from revcycle.insurance.schemas import CoverageCreate
from revcycle.patients.models import Patient
from revcycle.practices.models import Provider

SECONDARY_PLAN = "Lakeshore Indemnity"  # insurance/demo.py PLANS
# (hour, minute) of tomorrow's appointments (UTC)
SLOTS = [(14, 0), (14, 30), (15, 0), (15, 30), (16, 0)]


@dataclass
class EligibilityDemo:
    checks: dict[str, int] = field(default_factory=dict)  # status -> count
    appointments: int = 0
    estimates: int = 0


def seed(
    session: Session, actor: Principal, patients: Sequence[Patient], end: dt.date
) -> EligibilityDemo:
    out = EligibilityDemo()
    tomorrow = end + dt.timedelta(days=1)
    insured = [
        (p, view.coverage)
        for p in patients
        if (view := coverages.coverage_on(session, p.id, tomorrow)) is not None
    ]
    if not insured:
        return out
    sim = SimulatorClearinghouse(session=session)

    def check(coverage: Coverage, types: tuple[str, ...] = ("30",)) -> str:
        done = service.run_check_in(
            session, sim, actor, service.CheckRequest(coverage.id, tomorrow, types)
        )
        out.checks[done.status] = out.checks.get(done.status, 0) + 1
        return done.status

    adults = [(p, c) for p, c in insured if p.guarantor_id is None]
    dependants = [(p, c) for p, c in insured if p.guarantor_id is not None]
    checked = adults[:3] + dependants[:1]
    for n, (_, cov) in enumerate(checked):
        check(cov, ("30", "98") if n == 0 else ("30",))
    # secondary cards on adults with a primary plan only: one ended, one mistyped
    secondary = _plan(session, patients[0].practice_id)
    single = [
        (p, c)
        for p, c in adults[3:]
        if len(coverages.active_coverages(session, p.id, tomorrow)) == 1
    ]
    odd: list[Patient] = []
    if secondary is not None:
        for (patient, _), (suffix, ended) in zip(
            single, [("XTM", True), ("X72", False)], strict=False
        ):
            body = {
                "plan_id": secondary.id,
                "member_id": f"LAK{patient.account_number[-6:]}{suffix}",
                "effective_from": dt.date(end.year - 1, 1, 1).isoformat(),
                "effective_to": (end - dt.timedelta(days=30)).isoformat() if ended else None,
                "priority": 2,
            }
            view = coverages.create_coverage(
                session, actor, patient.id, CoverageCreate.model_validate(body)
            )
            check(view.coverage)
            odd.append(patient)
    if checked:
        first = checked[0][0]
        estimates_service.create_estimate(
            session,
            actor,
            EstimateCreate.model_validate(
                {
                    "patient_id": first.id,
                    "service_date": tomorrow.isoformat(),
                    "lines": [{"code": "99214"}],
                }
            ),
        )
        out.estimates = 1
    out.appointments = _appointments(session, actor, checked, odd, insured, tomorrow)
    return out


def _plan(session: Session, practice_id: uuid.UUID) -> InsurancePlan | None:
    return session.scalar(
        select(InsurancePlan).where(
            InsurancePlan.practice_id == practice_id, InsurancePlan.name == SECONDARY_PLAN
        )
    )


def _appointments(
    session: Session,
    actor: Principal,
    checked: Sequence[tuple[Patient, Coverage]],
    odd: Sequence[Patient],
    insured: Sequence[tuple[Patient, Coverage]],
    tomorrow: dt.date,
) -> int:
    practice_id = insured[0][0].practice_id
    provider = session.scalar(
        select(Provider).where(Provider.practice_id == practice_id).order_by(Provider.npi)
    )
    if provider is None:
        return 0
    seen = {p.id for p, _ in checked}
    unchecked = [p for p, _ in insured if p.id not in seen and p not in odd]
    plan = [(p, "scheduled") for p, _ in checked[:3]]  # fresh checks: recorded "fresh"
    plan += [(p, "scheduled") for p in unchecked[:1]]  # checked by the re-verification
    plan += [(p, "cancelled") for p in unchecked[1:2]]  # skipped
    for n, (patient, status) in enumerate(plan):
        hour, minute = SLOTS[n]
        appointments.create_appointment(
            session,
            actor,
            practice_id,
            AppointmentCreate.model_validate(
                {
                    "patient_id": patient.id,
                    "provider_id": provider.id,
                    "starts_at": dt.datetime.combine(
                        tomorrow, dt.time(hour, minute), dt.UTC
                    ).isoformat(),
                    "external_ref": f"DEMO-{tomorrow:%Y%m%d}-{n + 1}",
                    "status": status,
                }
            ),
        )
    return len(plan)
