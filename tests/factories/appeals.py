"""Denied and adjudicated claims, made the way the 835 posting leaves them: the claim moved
through the state graph with the posting's event ``detail`` (docs/claims.md), billed to the
payer in the ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from revcycle.claims import service, states
from revcycle.claims.models import Claim
from revcycle.kit.clock import today
from tests.factories.claims import World, make_claim, make_world
from tests.factories.practices import SYSTEM


def adj(group: str, reason: str, minor: int) -> dict[str, Any]:
    return {"group": group, "reason": reason, "amount_minor": minor}


def denied_detail(claim: Claim, adjudicated_on: dt.date, **overrides: Any) -> dict[str, Any]:
    """CLP02=4: nothing paid; line 1 (99213, 150.00) CO-50, line 2 (80053, 60.00) CO-16."""
    n = claim.number
    detail: dict[str, Any] = {
        "payer_claim_number": f"PCN{n:05d}",
        "adjudicated_on": adjudicated_on.isoformat(),
        "status_code": "4",
        "paid_minor": 0,
        "patient_responsibility_minor": 0,
        "adjustments": [],
        "remarks": ["N130", "ZZ999"],
        "lines": [
            {
                "line_control_number": f"C{n}L1",
                "procedure": "99213",
                "modifiers": [],
                "units": 1,
                "paid_minor": 0,
                "adjustments": [adj("CO", "50", 15000)],
            },
            {
                "line_control_number": f"C{n}L2",
                "procedure": "80053",
                "modifiers": [],
                "units": 1,
                "paid_minor": 0,
                "adjustments": [adj("CO", "16", 6000)],
            },
        ],
        "remittance_id": None,
    }
    detail.update(overrides)
    return detail


def paid_detail(
    claim: Claim, adjudicated_on: dt.date, *, deny_line_2: bool = True, **overrides: Any
) -> dict[str, Any]:
    """CLP02=1: line 1 allowed 120.00 (CO-45 30.00), paid 96.00, coinsurance 24.00 (PR-2);
    line 2 paid 0 with CO-97 60.00 (a denied line) unless ``deny_line_2`` is False (then paid
    60.00)."""
    n = claim.number
    line2: dict[str, Any] = {
        "line_control_number": f"C{n}L2",
        "procedure": "80053",
        "modifiers": [],
        "units": 1,
        "paid_minor": 0 if deny_line_2 else 6000,
        "adjustments": [adj("CO", "97", 6000)] if deny_line_2 else [],
    }
    detail: dict[str, Any] = {
        "payer_claim_number": f"PCN{n:05d}",
        "adjudicated_on": adjudicated_on.isoformat(),
        "status_code": "1",
        "paid_minor": 9600 if deny_line_2 else 15600,
        "patient_responsibility_minor": 2400,
        "adjustments": [],
        "remarks": ["M15"] if deny_line_2 else [],
        "lines": [
            {
                "line_control_number": f"C{n}L1",
                "procedure": "99213",
                "modifiers": [],
                "units": 1,
                "paid_minor": 9600,
                "adjustments": [adj("CO", "45", 3000), adj("PR", "2", 2400)],
            },
            line2,
        ],
        "remittance_id": None,
    }
    detail.update(overrides)
    return detail


def submitted_claim(session: Session, world: World | None = None, **kw: Any) -> tuple[World, Claim]:
    w = world or make_world(session, **kw)
    claim = make_claim(session, w).claim
    states.transition(session, claim, "scrubbed", actor=SYSTEM, actor_kind="system")
    service.bill_to_payer(session, claim, SYSTEM)
    states.transition(session, claim, "submitted", actor=SYSTEM, actor_kind="system")
    session.flush()
    return w, claim


def decided_claim(
    session: Session,
    world: World | None = None,
    *,
    to: str = "denied",
    days_ago: int = 10,
    detail: dict[str, Any] | None = None,
    **kw: Any,
) -> tuple[World, Claim]:
    """A submitted claim the payer denied (``to="denied"``) or adjudicated ``days_ago`` days
    ago, with the 835 posting's event detail."""
    w, claim = submitted_claim(session, world, **kw)
    on = today() - dt.timedelta(days=days_ago)
    if detail is None:
        detail = denied_detail(claim, on) if to == "denied" else paid_detail(claim, on)
    states.transition(
        session, claim, to, actor=SYSTEM, actor_kind="payer", reason="835", detail=detail
    )
    claim.payer_claim_number = detail.get("payer_claim_number")
    session.flush()
    return w, claim
