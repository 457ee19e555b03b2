"""What a billing office does about an adjustment: the CARC -> action table as data
(docs/denials-appeals.md, "What to do about an adjustment").

:class:`Resolver` answers the action of one adjustment (group, CARC, the remarks around it):
the most specific row wins -- group + CARC + RARC, then group + CARC, then CARC alone, then the
group alone, else ``review``. A practice's own row replaces the default with the same key.

The 835 posting calls :func:`annotate` once per claim: the actions are written into the claim
event's ``detail`` (added keys only), so the denial queue reads them instead of recomputing.
Administrators maintain the practice rows through :func:`put_row` / :func:`delete_row`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.claims import errors
from revcycle.claims.carc_models import ACTIONS, CarcAction
from revcycle.claims.carc_models import DEFAULT_ACTION as DEFAULT_ACTION
from revcycle.claims.carc_repository import CarcActionRepository
from revcycle.claims.carc_schemas import CarcActionPut
from revcycle.errors import out_of_scope
from revcycle.kit.clock import utcnow
from revcycle.kit.dberrors import violates_unique
from revcycle.practices.errors import PracticeNotFound
from revcycle.practices.models import Practice
from revcycle.practices.repository import PracticeRepository

# What each action asks of the staff (labels of the queue's groups).
LABELS: Mapping[str, str] = {
    "write_off": "Contractual: nothing to do",
    "patient": "Moved to the patient's balance",
    "correct_resubmit": "Correct the claim and resubmit",
    "appeal": "Appeal with documentation",
    "check_eligibility": "Check the patient's eligibility and coverage",
    "timely_filing": "Filed late: prove timely filing or write off",
    "duplicate": "Duplicate: find the original claim",
    "coordinate_benefits": "Coordinate benefits with the other payer",
    "review": "Review by hand",
}
assert set(LABELS) == set(ACTIONS)
# Actions that leave nothing for the billing office to recover from the payer.
SETTLED = frozenset({"write_off", "patient"})

Key = tuple[str, str, str]  # (group, reason, remark); "" = any
_CACHE = "revcycle.carc_actions"


def key_text(group: str, reason: str, remark: str) -> str:
    """``CO-16-N4``, ``CO-16``, ``16``, ``PR``."""
    return "-".join(p for p in (group, reason, remark) if p)


@dataclass(frozen=True)
class Resolver:
    """The effective table of one practice: key -> action."""

    table: Mapping[Key, str]

    @classmethod
    def of_rows(cls, rows: Iterable[CarcAction]) -> Resolver:
        table: dict[Key, str] = {}
        # Defaults first, then the practice's rows replace them key by key.
        for row in sorted(rows, key=lambda r: r.practice_id is not None):
            table[(row.group_code, row.reason_code, row.remark_code)] = row.action
        return cls(table)

    def action_for(self, group: str, reason: str, remarks: Iterable[str] = ()) -> str:
        g, r = group.strip().upper(), reason.strip().upper()
        for remark in sorted({m.strip().upper() for m in remarks if m}):
            found = self.table.get((g, r, remark))
            if found is not None:
                return found
        for key in ((g, r, ""), ("", r, ""), (g, "", "")):
            found = self.table.get(key)
            if found is not None:
                return found
        return DEFAULT_ACTION


def resolver(session: Session, practice_id: uuid.UUID) -> Resolver:
    """The practice's table, read once per transaction (every set of an 835 is one)."""
    txn = session.get_transaction()
    cached = session.info.get(_CACHE)
    if cached is None or cached[0] is not txn:
        by_practice: dict[uuid.UUID, Resolver] = {}
        session.info[_CACHE] = (txn, by_practice)
    else:
        by_practice = cached[1]
    found = by_practice.get(practice_id)
    if found is None:
        found = Resolver.of_rows(CarcActionRepository(session).rows_for(practice_id))
        by_practice[practice_id] = found
    return found


def _forget(session: Session) -> None:
    session.info.pop(_CACHE, None)


# -- the posting's record ------------------------------------------------------------------------
def _strs(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _adjs(value: Any) -> list[Mapping[str, Any]]:
    return [a for a in value if isinstance(a, Mapping)] if isinstance(value, list) else []


def _amount(a: Mapping[str, Any]) -> int:
    v = a.get("amount_minor")
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def main_action(adjustments: Sequence[Mapping[str, Any]], actions: Sequence[str]) -> str | None:
    """The action of the largest adjustment that is not the patient's (the first on a tie);
    the patient's largest when there is no other; None without adjustments."""
    best: tuple[int, str] | None = None
    best_pr: tuple[int, str] | None = None
    for a, action in zip(adjustments, actions, strict=True):
        amount = _amount(a)
        if str(a.get("group", "")).upper() == "PR":
            if best_pr is None or amount > best_pr[0]:
                best_pr = (amount, action)
        elif best is None or amount > best[0]:
            best = (amount, action)
    chosen = best or best_pr
    return chosen[1] if chosen else None


def annotate(resolver: Resolver, detail: dict[str, Any]) -> None:
    """Write the actions into a posting's ``detail`` (added keys only; the adjustment lists are
    left as they are): ``adjustment_actions`` parallel to ``adjustments`` (claim level and on
    each line, with the line's and the claim's remarks), each line's ``action`` and the claim's
    ``action`` (that of its largest non-patient adjustment)."""
    claim_remarks = _strs(detail.get("remarks"))
    claim_adjs = _adjs(detail.get("adjustments"))
    claim_actions = [
        resolver.action_for(str(a.get("group", "")), str(a.get("reason", "")), claim_remarks)
        for a in claim_adjs
    ]
    detail["adjustment_actions"] = claim_actions
    every_adj: list[Mapping[str, Any]] = list(claim_adjs)
    every_action: list[str] = list(claim_actions)
    for line in detail.get("lines") or []:
        if not isinstance(line, dict):
            continue
        remarks = claim_remarks + _strs(line.get("remarks"))
        adjs = _adjs(line.get("adjustments"))
        actions = [
            resolver.action_for(str(a.get("group", "")), str(a.get("reason", "")), remarks)
            for a in adjs
        ]
        line["adjustment_actions"] = actions
        line["action"] = main_action(adjs, actions)
        every_adj += adjs
        every_action += actions
    detail["action"] = main_action(every_adj, every_action)


# -- the admin table -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TableRow:
    row: CarcAction
    overridden: bool

    @property
    def source(self) -> str:
        return "default" if self.row.practice_id is None else "practice"


def _practice(
    session: Session, actor: Principal, practice_id: uuid.UUID, action: Action
) -> Practice:
    """Staff of that practice only (patients are answered as for a missing practice)."""
    actor.require(action)
    practice = PracticeRepository(session).get(practice_id)
    if practice is None:
        raise PracticeNotFound("No such practice")
    if actor.is_patient or not actor.sees_practice(practice.id):
        raise out_of_scope(PracticeNotFound("No such practice"), "practice", practice.id)
    return practice


def list_table(session: Session, actor: Principal, practice_id: uuid.UUID) -> list[TableRow]:
    """The defaults and the practice's rows, by key; a default with a practice row of the same
    key is marked ``overridden``."""
    practice = _practice(session, actor, practice_id, Action.CLAIM_READ)
    rows = CarcActionRepository(session).rows_for(practice.id)
    own = {(r.group_code, r.reason_code, r.remark_code) for r in rows if r.practice_id}
    out = [
        TableRow(
            r,
            r.practice_id is None and (r.group_code, r.reason_code, r.remark_code) in own,
        )
        for r in rows
    ]
    out.sort(
        key=lambda t: (
            t.row.reason_code.zfill(5),
            t.row.group_code,
            t.row.remark_code,
            t.source,
        )
    )
    return out


def put_row(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: CarcActionPut
) -> tuple[CarcAction, bool]:
    """Set the practice's action for a key (created, or changed in place). Answers the row and
    whether it was created. Concurrent puts of one key make one row (the unique index)."""
    practice = _practice(session, actor, practice_id, Action.CLAIM_RULES_WRITE)
    g, r, m = data.group or "", data.reason or "", data.remark or ""
    repo = CarcActionRepository(session)
    created = False
    row = repo.find(practice.id, g, r, m, for_update=True)
    if row is None:
        row = CarcAction(
            practice_id=practice.id,
            group_code=g,
            reason_code=r,
            remark_code=m,
            action=data.action,
            note=data.note,
            created_by=actor.user_id,
        )
        try:
            with session.begin_nested():  # a concurrent put of the same key loses here
                session.add(row)
                session.flush()
            created = True
        except IntegrityError as exc:
            if not violates_unique(
                exc,
                name="ux_carc_actions_practice_key",
                table="carc_actions",
                columns=["practice_id", "group_code", "reason_code", "remark_code"],
            ):
                raise
            row = repo.find(practice.id, g, r, m, for_update=True)
            assert row is not None
    before = None if created else row.action
    if not created:
        row.action = data.action
        row.note = data.note
        row.updated_at = utcnow()
        row.updated_by = actor.user_id
    audit.record(
        session,
        actor,
        "claim_rules.carc_action_set",
        object_type="carc_action",
        object_id=row.id,
        practice_id=practice.id,
        fields=["action", "note"],
        detail={"key": key_text(g, r, m), "action": data.action, "before": before},
    )
    session.flush()
    _forget(session)
    return row, created


def delete_row(session: Session, actor: Principal, row_id: uuid.UUID) -> None:
    """Remove a practice's row (the default for its key, if any, applies again). Defaults are
    not removed: override them instead."""
    actor.require(Action.CLAIM_RULES_WRITE)
    row = CarcActionRepository(session).get(row_id, for_update=True)
    if row is None:
        raise errors.ClaimRuleNotFound("No such CARC action row")
    if row.practice_id is None:
        raise errors.CarcDefaultReadOnly(
            "A default row cannot be removed; set the practice's own action for its key instead",
            key=key_text(row.group_code, row.reason_code, row.remark_code),
        )
    if actor.is_patient or not actor.sees_practice(row.practice_id):
        raise out_of_scope(
            errors.ClaimRuleNotFound("No such CARC action row"), "carc_action", row.id
        )
    audit.record(
        session,
        actor,
        "claim_rules.carc_action_removed",
        object_type="carc_action",
        object_id=row.id,
        practice_id=row.practice_id,
        detail={
            "key": key_text(row.group_code, row.reason_code, row.remark_code),
            "action": row.action,
        },
    )
    session.delete(row)
    session.flush()
    _forget(session)
