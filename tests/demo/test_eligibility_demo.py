"""The demo's eligibility part: real 270/271 checks through the simulator (active with benefits,
terminated, AAA rejection), an estimate from a fresh check, tomorrow's appointments."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.appointments.models import Appointment
from revcycle.demo import seed as demo
from revcycle.eligibility import benefits as bn
from revcycle.eligibility import service
from revcycle.eligibility.models import EligibilityCheck
from revcycle.estimates.models import Estimate
from revcycle.integrity import service as integrity
from tests.factories.auth import HASHER

PINNED = dt.date(2026, 6, 30)
TOMORROW = dt.date(2026, 7, 1)


def test_demo_eligibility(session: Session) -> None:
    demo.seed(session, HASHER, patients=30, invoices=60, seed=42, today=PINNED)
    session.flush()
    checks = session.scalars(
        select(EligibilityCheck).order_by(EligibilityCheck.interchange_control_number)
    ).all()
    assert [(c.interchange_control_number, c.status, c.aaa_reasons) for c in checks] == [
        (1, "active", []),
        (2, "active", []),
        (3, "active", []),
        (4, "active", []),
        (5, "inactive", []),
        (6, "rejected", ["72"]),
    ]
    assert {c.service_date for c in checks} == {TOMORROW}
    assert checks[0].service_types == ["30", "98"]
    for c in checks:
        assert c.x270.startswith("ISA*")
        assert c.x271 is not None
        assert c.x271.startswith("ISA*")
        assert c.error_code is None
        assert c.completed_at is not None
    assert sum("HL*4*3*23" in c.x270 for c in checks) == 1  # one dependant's inquiry
    assert "AAA*N**72*C~" in (checks[5].x271 or "")
    terminated = service.summary_of(checks[4]) or {}
    assert terminated["plan_end"] == "2026-05-31"  # the coverage ended a month before
    f = bn.facts(service.summary_of(checks[0]) or {})
    assert f == bn.Facts(  # Badger Choice PPO; the accumulator says $75 / $115 met
        status="active",
        deductible=100_000,
        deductible_remaining=92_500,
        family_deductible=200_000,
        family_deductible_remaining=200_000,
        oop_max=400_000,
        oop_remaining=388_500,
        family_oop_max=800_000,
        family_oop_remaining=800_000,
        coinsurance=bn.Decimal("0.2"),
        copays={"98": 2500},  # the copay of the service type asked for
        auth_required_codes=("71046",),
    )
    # the estimate for tomorrow names the fresh check it used
    (est,) = session.scalars(select(Estimate).where(Estimate.service_date == TOMORROW)).all()
    assert est.basis["eligibility_check_id"] == str(checks[0].id)
    assert est.patient_id == checks[0].patient_id
    appts = session.scalars(select(Appointment).order_by(Appointment.starts_at)).all()
    assert [(a.starts_at.date(), a.starts_at.hour, a.starts_at.minute) for a in appts] == [
        (TOMORROW, 14, 0),
        (TOMORROW, 14, 30),
        (TOMORROW, 15, 0),
        (TOMORROW, 15, 30),
        (TOMORROW, 16, 0),
    ]
    assert Counter(a.status for a in appts) == {"scheduled": 4, "cancelled": 1}
    assert [a.patient_id for a in appts[:3]] == [c.patient_id for c in checks[:3]]
    checked = {c.patient_id for c in checks}
    assert appts[3].patient_id not in checked  # the re-verification will check this one
    assert [a.external_ref for a in appts] == [f"DEMO-20260701-{n}" for n in range(1, 6)]
    assert integrity.run(session).ok
