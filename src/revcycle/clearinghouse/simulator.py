"""The built-in payer simulator, the default clearinghouse (``REVCYCLE_CLEARINGHOUSE=simulator``).

It answers a 270 the way the payer would, from what revcycle itself knows: the coverage found by
payer (NM109 of 2100A) and member id (through the member-id blind index), its plan's benefit
parameters and the latest accumulator of the benefit year. The 271 is written by the pure
``x12.simulator.simulate_271``: the same 270 and the same data give byte-identical output.

Per-member scenarios are chosen by a **magic suffix of the member id** (documented in
docs/eligibility.md, "Simulator scenarios"):

=========  ===========================================================================
suffix     behaviour
=========  ===========================================================================
``XIN``    inactive (EB*6)
``XTM``    terminated: EB*6 and the plan end date (the coverage's end, else the day
           before the service date)
``XDM``    deductible met (remaining 0)
``X72``    AAA 72 invalid/missing member id (no benefits)
``X75``    AAA 75 subscriber/insured not found
``X42``    AAA 42 at the payer (source) level: unable to respond now
``XTO``    the clearinghouse times out (:class:`ClearinghouseTimeout`)
``XUN``    the clearinghouse is unavailable (:class:`ClearinghouseUnavailable`)
``XBAD``   the 271 comes back truncated (a malformed interchange)
=========  ===========================================================================

A member id the payer does not know (no coverage of that payer with that member id) is answered
with AAA 75; a coverage whose end date is before the service date is answered as terminated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.clearinghouse.base import (
    ClearinghouseRejected,
    ClearinghouseTimeout,
    ClearinghouseUnavailable,
    InboundFile,
    SubmittedFile,
)
from revcycle.crypto import blind_index as bidx
from revcycle.crypto import keyring as phi_keyring
from revcycle.db import unit_of_work
from revcycle.eligibility.benefits import CATEGORY_SERVICE_TYPES
from revcycle.insurance.models import (
    MEMBER_ID_INDEX,
    Coverage,
    CoverageAccumulator,
    InsurancePlan,
    Payer,
)
from revcycle.x12.core import X12Error
from revcycle.x12.eligibility import parse_270
from revcycle.x12.simulator import MemberConfig, Plan, SimulatorConfig, simulate_271

T = TypeVar("T")

# A plan without an out-of-pocket maximum: the 271 always carries one; this stands for "none".
NO_OOP_MAX = Decimal("999999.99")

SCENARIOS = ("XIN", "XTM", "XDM", "X72", "X75", "X42", "XTO", "XUN", "XBAD")


def scenario_of(member_id: str) -> str | None:
    upper = member_id.upper()
    return next((s for s in SCENARIOS if upper.endswith(s)), None)


def _dollars(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


def benefit_year_start(day: dt.date, start_month: int) -> dt.date:
    year = day.year if day.month >= start_month else day.year - 1
    return dt.date(year, start_month, 1)


class SimulatorClearinghouse:
    """Reads the payer's view of a member from the database (its own read transaction, or the
    caller's session when given one: the demo seeds inside one unit of work)."""

    name = "simulator"

    def __init__(
        self, factory: sessionmaker[Session] | None = None, *, session: Session | None = None
    ) -> None:
        if (factory is None) == (session is None):
            raise ValueError("give the simulator a session factory or a session")
        self._factory = factory
        self._session = session

    def _read(self, work: Callable[[Session], T]) -> T:
        if self._session is not None:
            return work(self._session)
        assert self._factory is not None
        with unit_of_work(self._factory) as s:
            return work(s)

    # real time -------------------------------------------------------------------------------
    def eligibility(self, x270: str, *, timeout_seconds: float) -> str:  # noqa: ARG002
        try:
            parsed = parse_270(x270)
        except X12Error as exc:
            raise ClearinghouseRejected(f"the 270 was rejected: {exc.code}") from None
        if parsed.errors:
            raise ClearinghouseRejected(f"the 270 was rejected: {parsed.errors[0].code}")
        inquiries = [q for r in parsed.requests for q in r.inquiries]
        if not inquiries:
            raise ClearinghouseRejected("the 270 holds no inquiries")
        scenarios = {scenario_of(q.subscriber.member_id or "") for q in inquiries}
        if "XTO" in scenarios:
            raise ClearinghouseTimeout("the payer did not answer in time")
        if "XUN" in scenarios:
            raise ClearinghouseUnavailable("the payer connection is down")
        plans: dict[str, Plan] = {}
        members: dict[str, MemberConfig] = {}
        for q in inquiries:
            member_id = q.subscriber.member_id or ""
            day = q.service_date or dt.date(2000, 1, 1)
            payer_id = q.payer.payer_id
            found = self._read(
                partial(_payer_view, edi_payer_id=payer_id, member_id=member_id, day=day)
            )
            if found is not None:
                plans[member_id] = found[0]
                members[member_id] = replace(found[1], plan=member_id)
        config = SimulatorConfig(
            plans=plans,
            members=members,
            source_reject_reason="42" if "X42" in scenarios else None,
        )
        out = simulate_271(x270, config)
        if "XBAD" in scenarios:
            return out[: len(out) * 2 // 3]  # cut mid-interchange: no SE, GE or IEA
        return out

    # batch files: designed for the claims issue, not offered by the simulator yet ------------
    def submit_file(self, content: bytes, *, kind: str, idempotency_key: str) -> SubmittedFile:
        raise NotImplementedError("the simulator does not take batch files yet (claims issue)")

    def poll_files(self, *, kinds: tuple[str, ...], limit: int) -> list[InboundFile]:
        raise NotImplementedError("the simulator does not offer batch files yet (claims issue)")

    def acknowledge_file(self, file_id: str) -> None:
        raise NotImplementedError("the simulator does not offer batch files yet (claims issue)")


def _payer_view(
    session: Session, edi_payer_id: str, member_id: str, day: dt.date
) -> tuple[Plan, MemberConfig] | None:
    """The plan and member status the payer would report, or None (unknown member: AAA 75)."""
    scenario = scenario_of(member_id)
    if scenario in ("X72", "X75"):
        return Plan(), MemberConfig(reject_reason=scenario[1:])
    digests = bidx.candidates(phi_keyring.installed(), MEMBER_ID_INDEX, member_id)
    rows = session.execute(
        select(Coverage, InsurancePlan)
        .join(Payer, Payer.id == Coverage.payer_id)
        .join(InsurancePlan, InsurancePlan.id == Coverage.plan_id)
        .where(Payer.edi_payer_id == edi_payer_id, Coverage.member_id_bidx.in_(digests))
        .order_by(Coverage.effective_from.desc(), Coverage.id)
    ).all()
    match = next(((c, p) for c, p in rows if c.member_id == member_id), None)
    if match is None:
        return None
    coverage, plan = match
    year_start = benefit_year_start(day, plan.benefit_year_start_month)
    acc = session.scalars(
        select(CoverageAccumulator)
        .where(
            CoverageAccumulator.coverage_id == coverage.id,
            CoverageAccumulator.benefit_year_start == year_start,
            CoverageAccumulator.as_of <= day,
        )
        .order_by(CoverageAccumulator.as_of.desc(), CoverageAccumulator.created_at.desc())
        .limit(1)
    ).first()
    deductible_met = acc.deductible_met_minor if acc else 0
    if scenario == "XDM":
        deductible_met = plan.deductible_minor
    fam_ded = plan.family_deductible_minor
    fam_ded_met = acc.family_deductible_met_minor if acc and acc.family_deductible_met_minor else 0
    if scenario == "XDM" and fam_ded is not None:
        fam_ded_met = fam_ded
    oop = plan.oop_max_minor
    fam_oop = plan.family_oop_max_minor
    sim_plan = Plan(
        name=plan.name.upper()[:50],
        insurance_type="PR" if plan.product_type.lower() == "ppo" else "HM",
        group_number=coverage.group_number,
        plan_begin=max(year_start, coverage.effective_from),
        deductible_individual=_dollars(plan.deductible_minor),
        deductible_individual_met=_dollars(min(deductible_met, plan.deductible_minor)),
        deductible_family=None if fam_ded is None else _dollars(fam_ded),
        deductible_family_met=_dollars(fam_ded_met),
        oop_individual=NO_OOP_MAX if oop is None else _dollars(oop),
        oop_individual_met=_dollars(acc.oop_met_minor if acc else 0),
        oop_family=None if fam_oop is None else _dollars(fam_oop),
        oop_family_met=_dollars(acc.family_oop_met_minor or 0 if acc else 0),
        coinsurance=(Decimal(plan.coinsurance_bp) / 10000).normalize(),
        copays={
            CATEGORY_SERVICE_TYPES[cat]: _dollars(minor)
            for cat, minor in sorted(plan.copays.items())
            if cat in CATEGORY_SERVICE_TYPES
        },
        prior_auth_procedures=tuple(plan.auth_required_codes),
    )
    if scenario == "XIN":
        return sim_plan, MemberConfig(status="inactive")
    ended = coverage.effective_to is not None and coverage.effective_to < day
    if scenario == "XTM" or ended:
        end = coverage.effective_to or day - dt.timedelta(days=1)
        return sim_plan, MemberConfig(status="terminated", plan_end=end)
    return sim_plan, MemberConfig()
