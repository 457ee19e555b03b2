"""The payer simulator's crossover (scenario ``XCO``, docs/payer-simulator.md), pure but for the
coverage lookup: the primary payer adjudicates the claim as usual and forwards it to the
member's secondary payer (CLP02 ``19``, ``NM1*TT`` naming that payer, remark ``MA18``); the
secondary payer, as a supplemental plan does, pays the patient's whole share in its own 835
(CLP02 ``2``, claim level: ``OA-23`` what the primary paid, ``CO-45`` the primary's other
reductions), echoing the claim's CLM01.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy.orm import Session

from revcycle.clearinghouse.adjudication import ClaimOutcome
from revcycle.insurance import coverages as coverages_service
from revcycle.insurance.models import Coverage, Payer
from revcycle.x12.payer_files import Cas, ClaimPaymentOut

FORWARDED = "19"
SECONDARY = "2"
FORWARDED_REMARK = "MA18"


def next_payer(
    session: Session, patient_id: uuid.UUID, day: dt.date
) -> tuple[Payer, Coverage] | None:
    """The payer of the patient's secondary coverage on ``day`` (None: nobody to forward to)."""
    found = coverages_service.coverage_on(session, patient_id, day, 2)
    if found is None:
        return None
    payer = session.get(Payer, found.coverage.payer_id)
    return None if payer is None else (payer, found.coverage)


def forwarded(payment: ClaimPaymentOut, payer: Payer) -> ClaimPaymentOut:
    """The primary's CLP loop, saying it forwarded the claim."""
    return dataclasses.replace(
        payment,
        status_code=FORWARDED,
        crossover_payer=(payer.name.upper()[:60], payer.edi_payer_id),
        remarks=(*payment.remarks, FORWARDED_REMARK),
    )


def supplemental(
    primary: ClaimPaymentOut, outcome: ClaimOutcome, member_id: str, payer_claim_number: str
) -> ClaimPaymentOut:
    """The secondary payer's answer: the patient's share paid, balanced at claim level."""
    paid = outcome.patient_minor
    reduced = primary.charge_minor - outcome.paid_minor - paid
    adjustments = tuple(
        Cas(group, reason, amount)
        for group, reason, amount in (("OA", "23", outcome.paid_minor), ("CO", "45", reduced))
        if amount
    )
    return dataclasses.replace(
        primary,
        status_code=SECONDARY,
        paid_minor=paid,
        patient_responsibility_minor=0,
        payer_claim_number=payer_claim_number,
        member_id=member_id,
        adjustments=adjustments,
        lines=(),
        original_reference=None,
        crossover_payer=None,
        remarks=(),
    )
