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
import uuid
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from revcycle.clearinghouse import payer
from revcycle.clearinghouse.base import (
    ClearinghouseRejected,
    ClearinghouseTimeout,
    ClearinghouseUnavailable,
    InboundFile,
    SubmittedFile,
)
from revcycle.clearinghouse.models import CHSIM_MEMBER_INDEX, ChsimClaim, ChsimFile
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
from revcycle.kit.clock import utcnow
from revcycle.x12.claim_status import StatusAnswer, StatusInquiry, build_277, parse_276
from revcycle.x12.core import X12Error, iter_segments
from revcycle.x12.eligibility import parse_270
from revcycle.x12.simulator import MemberConfig, Plan, SimulatorConfig, simulate_271
from revcycle.x12.writer import Envelope

T = TypeVar("T")

# A plan without an out-of-pocket maximum: the 271 always carries one; this stands for "none".
NO_OOP_MAX = Decimal("999999.99")

MAX_FILE_BYTES = 50 * 1024 * 1024  # what the simulated clearinghouse accepts per upload

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
        self,
        factory: sessionmaker[Session] | None = None,
        *,
        session: Session | None = None,
        delays: payer.Delays | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        if (factory is None) == (session is None):
            raise ValueError("give the simulator a session factory or a session")
        self._factory = factory
        self._session = session
        self._delays = delays or payer.Delays()
        self._clock = clock

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

    # batch files (docs/payer-simulator.md) --------------------------------------------------
    def _write(self, work: Callable[[Session], T]) -> T:
        """The caller's session (nested in a savepoint), or one transaction of our own."""
        if self._session is not None:
            with self._session.begin_nested():
                return work(self._session)
        assert self._factory is not None
        with unit_of_work(self._factory) as s:
            return work(s)

    def submit_file(self, content: bytes, *, kind: str, idempotency_key: str) -> SubmittedFile:
        """Take an 837 file and answer it (999, 277CA per set, 835 per payer and payee, all
        stored now and available after the configured delays). Idempotent by
        ``idempotency_key`` (a unique constraint): the same key returns the first receipt and
        nothing is processed again, also when two callers race."""
        if kind not in ("837P", "837I"):
            raise ClearinghouseRejected(f"the simulator does not take {kind!r} files")
        if not idempotency_key or len(idempotency_key) > 255:
            raise ClearinghouseRejected("an idempotency key of 1-255 characters is required")
        if len(content) > MAX_FILE_BYTES:
            raise ClearinghouseRejected(f"files over {MAX_FILE_BYTES} bytes are not accepted")
        existing = self._read(partial(_submitted, key=idempotency_key))
        if existing is not None:
            return existing
        now = self._clock()
        try:
            return self._write(
                partial(
                    _submit,
                    content=content,
                    kind=kind,
                    key=idempotency_key,
                    now=now,
                    delays=self._delays,
                )
            )
        except IntegrityError:
            found = self._read(partial(_submitted, key=idempotency_key))
            if found is None:  # pragma: no cover - the unique key is the only constraint hit
                raise
            return found

    def poll_files(self, *, kinds: tuple[str, ...], limit: int) -> list[InboundFile]:
        """Answers available now and not yet acknowledged, oldest first."""
        now = self._clock()
        return self._read(partial(_poll, kinds=kinds, limit=limit, now=now))

    def acknowledge_file(self, file_id: str) -> None:
        now = self._clock()
        self._write(partial(_acknowledge, file_id=file_id, now=now))

    def claim_status(self, x276: str, *, timeout_seconds: float) -> str:  # noqa: ARG002
        """Answer a 276 from the simulator's claims (docs/payer-simulator.md, claim status)."""
        try:
            inquiries = parse_276(x276)
        except X12Error as exc:
            raise ClearinghouseRejected(f"the 276 was rejected: {exc.code}") from None
        if not inquiries:
            raise ClearinghouseRejected("the 276 holds no inquiries")
        now = self._clock()
        answers = self._read(partial(_status_answers, inquiries=inquiries, now=now))
        first = inquiries[0]
        env = Envelope(
            payer.SIM_ID,
            (first.receiver_id or "UNKNOWN")[:15],
            _status_control_number(x276),
            _status_control_number(x276) or 1,
            now,
            usage="T",
        )
        return build_277(answers, env)


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


# -- batch files ---------------------------------------------------------------------------------
def _receipt(row: ChsimFile) -> SubmittedFile:
    return SubmittedFile(row.id, row.created_at)


def _submitted(session: Session, key: str) -> SubmittedFile | None:
    row = session.scalars(select(ChsimFile).where(ChsimFile.idempotency_key == key)).first()
    return None if row is None else _receipt(row)


def _submit(
    session: Session, content: bytes, kind: str, key: str, now: dt.datetime, delays: payer.Delays
) -> SubmittedFile:
    file_id = f"chf_{uuid.uuid4().hex}"
    row = payer.new_file(
        session,
        direction="in",
        kind=kind,
        name=f"{kind}_{file_id}.x12",
        text=content.decode("latin-1"),
        available_at=now,
        idempotency_key=key,
        file_id=file_id,
    )
    row.created_at = now
    session.flush()  # the unique idempotency key is checked here, before any work
    payer.receive_837(session, row, content, now, delays)
    return _receipt(row)


def _poll(
    session: Session, kinds: tuple[str, ...], limit: int, now: dt.datetime
) -> list[InboundFile]:
    rows = session.scalars(
        select(ChsimFile)
        .where(
            ChsimFile.direction == "out",
            ChsimFile.acknowledged_at.is_(None),
            ChsimFile.available_at <= now,
            ChsimFile.kind.in_(kinds),
        )
        .order_by(ChsimFile.available_at, ChsimFile.sequence)
        .limit(max(0, limit))
    ).all()
    return [
        InboundFile(r.id, r.kind, r.name, r.content.encode("latin-1"), r.available_at) for r in rows
    ]


def _acknowledge(session: Session, file_id: str, now: dt.datetime) -> None:
    row = session.get(ChsimFile, file_id, with_for_update=True)
    if row is None or row.direction != "out":
        raise ClearinghouseRejected(f"no file {file_id!r} to acknowledge")
    if row.acknowledged_at is None:
        row.acknowledged_at = now


def _status_control_number(x276: str) -> int:
    for seg in iter_segments(x276):
        if seg.id == "ISA":
            value = seg[13].strip()
            return int(value) if value.isascii() and value.isdigit() else 1
    return 1  # pragma: no cover - parse_276 already required an ISA


def _status_answers(
    session: Session, inquiries: list[StatusInquiry], now: dt.datetime
) -> list[StatusAnswer]:
    out = []
    for q in inquiries:
        digests = bidx.candidates(
            phi_keyring.installed(), CHSIM_MEMBER_INDEX, q.payer_id, q.member_id
        )
        rows = payer.claims_of(session, digests)
        match = [
            r
            for r in rows
            if (q.payer_claim_number and r.payer_claim_number == q.payer_claim_number)
            or (
                not q.payer_claim_number
                and (
                    q.patient_control_number is None
                    or r.patient_control_number == q.patient_control_number
                )
                and r.service_date >= q.service_date
                and r.service_date <= (q.service_date_to or q.service_date)
            )
        ]
        out.append(_answer(q, match[0] if match else None, now))
    return out


def _answer(q: StatusInquiry, row: ChsimClaim | None, now: dt.datetime) -> StatusAnswer:
    """Not found A4:35; received, 277CA not out yet A1:19; rejected with its 277CA status;
    accepted, 835 not out yet P1:20; then the adjudication: paid F1:65, denied F2:107 (F2:88
    when the coverage was not in force), voided or replaced F3:107."""
    if row is None:
        return StatusAnswer(q, "A4", "35", now.date())
    icn = row.payer_claim_number
    if row.acknowledged_at > now:
        return StatusAnswer(q, "A1", "19", now.date(), "PR", row.charge_minor, None, icn)
    if row.status == "rejected":
        when = row.acknowledged_at.date()
        return StatusAnswer(q, row.status_category, row.status_code, when, None, row.charge_minor)
    if row.adjudicated_at is None or row.adjudicated_at > now:
        return StatusAnswer(q, "P1", "20", now.date(), "PR", row.charge_minor, None, icn)
    category, code = row.status_category, row.status_code
    if row.status in ("voided", "replaced"):
        category, code = "F3", "107"
    day = row.adjudicated_at.date()
    paid = row.paid_minor if row.status == "paid" else 0
    return StatusAnswer(q, category, code, day, None, row.charge_minor, paid, icn, day)
