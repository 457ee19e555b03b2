"""The denial work queue: denied claims, and adjudicated claims with denied lines, with their
reason and remark codes explained, the amount at stake, their age and appeal deadline, grouped
by reason, payer or age (docs/denials-appeals.md).

Read from the claims and the ``detail`` of the claim event that moved them to ``denied`` /
``adjudicated`` (the 835 posting's contract, docs/claims.md). Nothing is cached: every read
derives the queue from the rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.claims import carc_actions, reason_codes
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.insurance.models import Payer
from revcycle.kit.clock import today

QUEUE_STATUSES = ("denied", "adjudicated")
# A line is denied when the payer paid nothing and adjusted it as the provider's (CO) or the
# payer's (PI) reduction; PR (the patient's) and OA are not denials.
DENIAL_GROUPS = frozenset({"CO", "PI"})
# The queue is computed in memory from at most this many claims (oldest first) per request.
MAX_SCANNED = 5000
AGE_BUCKETS = ("0-30", "31-60", "61-90", "90+")
GroupBy = Literal["reason", "payer", "age", "action"]


@dataclass(frozen=True)
class Code:
    group: str
    reason: str
    amount_minor: int
    description: str
    # What to do about it (the CARC -> action table, as the posting recorded it).
    action: str = carc_actions.DEFAULT_ACTION

    @property
    def key(self) -> str:
        return f"{self.group}-{self.reason}"


@dataclass(frozen=True)
class Remark:
    code: str
    description: str


@dataclass(frozen=True)
class DeniedLine:
    line_control_number: str
    procedure: str
    modifiers: list[str]
    units: int
    paid_minor: int
    at_stake_minor: int
    adjustments: list[Code]
    action: str = carc_actions.DEFAULT_ACTION


@dataclass(frozen=True)
class Denial:
    """What the payer decided about a claim, as the denial queue and an appeal letter use it."""

    claim: Claim
    event: ClaimEvent  # the 835 event holding the facts
    payer_name: str
    payer_claim_number: str | None
    adjudicated_on: dt.date
    status_code: str | None
    paid_minor: int
    patient_responsibility_minor: int
    adjustments: list[Code]  # claim level
    remarks: list[Remark]
    lines: list[DeniedLine]  # the denied lines only
    at_stake_minor: int
    deadline: dt.date
    age_days: int
    # A lost first-level appeal: the second level's window runs from its decision.
    appeal_decided_on: dt.date | None = None
    all_lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def codes(self) -> list[Code]:
        return self.adjustments + [a for ln in self.lines for a in ln.adjustments]

    @property
    def primary_reason(self) -> str:
        """The group-reason key of the largest non-patient adjustment (``CO-50``), or ``none``."""
        best: Code | None = None
        for c in self.codes:
            if c.group == "PR":
                continue
            if best is None or c.amount_minor > best.amount_minor:
                best = c
        return best.key if best is not None else "none"

    @property
    def action(self) -> str:
        """The action of the primary reason (``review`` when there is none)."""
        best: Code | None = None
        for c in self.codes:
            if c.group == "PR":
                continue
            if best is None or c.amount_minor > best.amount_minor:
                best = c
        return best.action if best is not None else carc_actions.DEFAULT_ACTION

    @property
    def actions(self) -> set[str]:
        """The claim's action and each denied line's."""
        return {self.action, *(ln.action for ln in self.lines)}

    @property
    def age_bucket(self) -> str:
        return age_bucket(self.age_days)

    @property
    def days_left(self) -> int:
        return (self.deadline - today()).days


def age_bucket(days: int) -> str:
    if days <= 30:
        return "0-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "90+"


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return 0


def _codes(raw: Any, recorded: Any, lookup: ActionLookup, remarks: list[str]) -> list[Code]:
    """The adjustments with their actions: as the posting recorded them (``adjustment_actions``,
    parallel to the adjustments), else looked up in the practice's table as it is now."""
    out: list[Code] = []
    if not isinstance(raw, list):
        return out
    actions = recorded if isinstance(recorded, list) and len(recorded) == len(raw) else None
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            continue
        group = str(item.get("group", "")).strip().upper()
        reason = str(item.get("reason", "")).strip().upper()
        if not group or not reason:
            continue
        action = actions[i] if actions is not None else None
        if not isinstance(action, str) or action not in carc_actions.LABELS:
            action = lookup().action_for(group, reason, remarks)
        out.append(
            Code(
                group,
                reason,
                _int(item.get("amount_minor")),
                reason_codes.describe_reason(reason),
                action,
            )
        )
    return out


class ActionLookup:
    """The practice's table, read only when an event lacks the recorded actions (postings made
    before the table existed)."""

    def __init__(self, session: Session | None, practice_id: uuid.UUID) -> None:
        self.session = session
        self.practice_id = practice_id
        self._resolver: carc_actions.Resolver | None = None

    def __call__(self) -> carc_actions.Resolver:
        if self._resolver is None:
            self._resolver = (
                carc_actions.Resolver({})
                if self.session is None
                else carc_actions.resolver(self.session, self.practice_id)
            )
        return self._resolver


def _date(value: Any, fallback: dt.date) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return fallback
    return fallback


def is_denial_event(event: ClaimEvent) -> bool:
    return event.to_status in QUEUE_STATUSES and "adjudicated_on" in (event.detail or {})


def from_event(
    claim: Claim,
    event: ClaimEvent,
    payer: Payer,
    *,
    as_of: dt.date | None = None,
    lookup: ActionLookup | None = None,
) -> Denial:
    """The denial facts of ``claim`` as ``event`` (an 835 posting's, or a lost appeal's copy of
    it) states them."""
    d = event.detail or {}
    lookup = lookup or ActionLookup(None, claim.practice_id)
    remarks_raw = d.get("remarks") or []
    claim_remarks = [str(r) for r in remarks_raw] if isinstance(remarks_raw, list) else []
    adjudicated_on = _date(d.get("adjudicated_on"), event.at.date())
    decided = d.get("appeal_decided_on")
    appeal_decided_on = _date(decided, adjudicated_on) if decided else None
    paid = _int(d.get("paid_minor"))
    pr = _int(d.get("patient_responsibility_minor"))
    raw_lines = [ln for ln in d.get("lines") or [] if isinstance(ln, Mapping)]
    lines: list[DeniedLine] = []
    for ln in raw_lines:
        line_remarks = ln.get("remarks")
        adjustments = _codes(
            ln.get("adjustments"),
            ln.get("adjustment_actions"),
            lookup,
            claim_remarks
            + ([str(r) for r in line_remarks] if isinstance(line_remarks, list) else []),
        )
        line_paid = _int(ln.get("paid_minor"))
        stake = sum(a.amount_minor for a in adjustments if a.group in DENIAL_GROUPS)
        patient = sum(a.amount_minor for a in adjustments if a.group == "PR")
        # Nothing paid and nothing asked of the patient: denied. A line that went to the
        # deductible (or copay, coinsurance) was adjudicated as the contract says.
        if line_paid == 0 and stake > 0 and patient == 0:
            mods = ln.get("modifiers") or []
            lines.append(
                DeniedLine(
                    line_control_number=str(ln.get("line_control_number", "")),
                    procedure=str(ln.get("procedure", "")),
                    modifiers=[str(m) for m in mods] if isinstance(mods, list) else [],
                    units=_int(ln.get("units")) or 1,
                    paid_minor=line_paid,
                    at_stake_minor=stake,
                    adjustments=adjustments,
                    action=_line_action(ln.get("action"), adjustments),
                )
            )
    if event.to_status == "denied":
        at_stake = max(claim.charge_minor - paid - pr, 0)
    else:
        at_stake = sum(ln.at_stake_minor for ln in lines)
    start = appeal_decided_on or adjudicated_on
    day = as_of or today()
    return Denial(
        claim=claim,
        event=event,
        payer_name=payer.name,
        payer_claim_number=d.get("payer_claim_number") or claim.payer_claim_number,
        adjudicated_on=adjudicated_on,
        status_code=None if d.get("status_code") is None else str(d.get("status_code")),
        paid_minor=paid,
        patient_responsibility_minor=pr,
        adjustments=_codes(
            d.get("adjustments"), d.get("adjustment_actions"), lookup, claim_remarks
        ),
        remarks=[
            Remark(str(r).upper(), reason_codes.describe_remark(str(r)))
            for r in (remarks_raw if isinstance(remarks_raw, list) else [])
        ],
        lines=lines,
        at_stake_minor=at_stake,
        deadline=start + dt.timedelta(days=payer.appeal_deadline_days),
        age_days=max((day - adjudicated_on).days, 0),
        appeal_decided_on=appeal_decided_on,
        all_lines=[dict(ln) for ln in raw_lines],
    )


def _line_action(recorded: Any, adjustments: list[Code]) -> str:
    if isinstance(recorded, str) and recorded in carc_actions.LABELS:
        return recorded
    best: Code | None = None
    for c in adjustments:
        if c.group != "PR" and (best is None or c.amount_minor > best.amount_minor):
            best = c
    return best.action if best is not None else carc_actions.DEFAULT_ACTION


def latest_denial_events(
    session: Session, claim_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ClaimEvent]:
    """Per claim, its latest transition event (the one that put it where it is)."""
    session.flush()  # sessions do not autoflush: see this transaction's events too
    out: dict[uuid.UUID, ClaimEvent] = {}
    for i in range(0, len(claim_ids), 500):
        chunk = claim_ids[i : i + 500]
        for event in session.scalars(
            select(ClaimEvent)
            .where(ClaimEvent.claim_id.in_(chunk), ClaimEvent.kind == "transition")
            .order_by(ClaimEvent.claim_id, ClaimEvent.at, ClaimEvent.id)
        ):
            out[event.claim_id] = event
    return out


def denial_of(session: Session, claim: Claim) -> Denial | None:
    """The claim's current denial facts, or None (not denied, or no 835 facts on file)."""
    if claim.status not in QUEUE_STATUSES:
        return None
    event = latest_denial_events(session, [claim.id]).get(claim.id)
    if event is None or not is_denial_event(event) or event.to_status != claim.status:
        return None
    payer = session.get(Payer, claim.payer_id)
    assert payer is not None
    denial = from_event(claim, event, payer, lookup=ActionLookup(session, claim.practice_id))
    if denial.at_stake_minor <= 0:
        return None
    return denial


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    count: int
    at_stake_minor: int


@dataclass(frozen=True)
class Queue:
    as_of: dt.date
    items: list[Denial]
    groups: list[Group]
    at_stake_minor: int
    currency: str | None
    truncated: bool


def _group(items: Iterable[Denial], by: GroupBy) -> list[Group]:
    buckets: dict[str, tuple[str, list[Denial]]] = {}
    for d in items:
        if by == "reason":
            key = d.primary_reason
            group, _, reason = key.partition("-")
            label = reason_codes.describe_reason(reason) if reason else "no reason code"
        elif by == "action":
            key = d.action
            label = carc_actions.LABELS.get(key, key)
        elif by == "payer":
            key, label = str(d.claim.payer_id), d.payer_name
        else:
            key = label = d.age_bucket
        buckets.setdefault(key, (label, []))[1].append(d)
    groups = [
        Group(key, label, len(ds), sum(x.at_stake_minor for x in ds))
        for key, (label, ds) in buckets.items()
    ]
    if by == "age":
        return sorted(groups, key=lambda g: AGE_BUCKETS.index(g.key))
    return sorted(groups, key=lambda g: (-g.at_stake_minor, g.key))


def queue(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None = None,
    payer_id: uuid.UUID | None = None,
    reason: str | None = None,
    remark: str | None = None,
    age: str | None = None,
    action: str | None = None,
    group_by: GroupBy | None = None,
) -> Queue:
    """The denial work queue the actor may see (patients: their own claims only)."""
    actor.require(Action.CLAIM_READ)
    q = select(Claim).where(Claim.status.in_(QUEUE_STATUSES)).order_by(Claim.id)
    if actor.practice_ids is not None:
        q = q.where(Claim.practice_id.in_(actor.practice_ids))
    if actor.is_patient:
        q = q.where(Claim.patient_id.in_(actor.patient_ids))
    if practice_id is not None:
        q = q.where(Claim.practice_id == practice_id)
    if payer_id is not None:
        q = q.where(Claim.payer_id == payer_id)
    claims = list(session.scalars(q.limit(MAX_SCANNED + 1)))
    truncated = len(claims) > MAX_SCANNED
    claims = claims[:MAX_SCANNED]
    events = latest_denial_events(session, [c.id for c in claims])
    payers = {
        p.id: p
        for p in session.scalars(select(Payer).where(Payer.id.in_({c.payer_id for c in claims})))
    }
    as_of = today()
    lookups: dict[uuid.UUID, ActionLookup] = {}
    items: list[Denial] = []
    for claim in claims:
        event = events.get(claim.id)
        if event is None or not is_denial_event(event) or event.to_status != claim.status:
            continue
        lookup = lookups.setdefault(claim.practice_id, ActionLookup(session, claim.practice_id))
        d = from_event(claim, event, payers[claim.payer_id], as_of=as_of, lookup=lookup)
        if d.at_stake_minor <= 0:
            continue
        if reason is not None and reason.upper() not in {c.reason for c in d.codes}:
            continue
        if remark is not None and remark.upper() not in {r.code for r in d.remarks}:
            continue
        if age is not None and d.age_bucket != age:
            continue
        if action is not None and action not in d.actions:
            continue
        items.append(d)
    items.sort(key=lambda d: (d.deadline, d.claim.id))
    audit.record_list_read(
        session, actor, "denial:list", ((d.claim.practice_id, d.claim.patient_id) for d in items)
    )
    currencies = {d.claim.currency for d in items}
    return Queue(
        as_of=as_of,
        items=items,
        groups=_group(items, group_by) if group_by is not None else [],
        at_stake_minor=sum(d.at_stake_minor for d in items),
        currency=currencies.pop() if len(currencies) == 1 else None,
        truncated=truncated,
    )
