"""The CARC -> action table (docs/denials-appeals.md, "What to do about an adjustment"): the
defaults the migration ships, the most specific key winning, a practice's own rows, the admin
routes, the actions the 835 posting records and the denial queue's filter and groups."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.claims import carc_actions, denials, states
from revcycle.claims.carc_models import CarcAction
from revcycle.claims.carc_schemas import CarcActionPut
from revcycle.claims.models import ClaimEvent
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.kit.clock import today
from revcycle.remittances import service as remittances
from tests.factories.appeals import adj, decided_claim, paid_detail
from tests.factories.auth import auth_header, make_user, principal
from tests.factories.claims import make_claim, make_world
from tests.factories.practices import SYSTEM, make_practice
from tests.remittances.helpers import era_text

DEFAULT_ROWS = 42  # the rows of migration 0027


def _rows(session: Session) -> int:
    session.flush()
    return int(session.scalar(select(func.count()).select_from(CarcAction)) or 0)


def test_the_defaults_and_the_most_specific_key(session: Session) -> None:
    practice = make_practice(session)
    assert _rows(session) == DEFAULT_ROWS
    r = carc_actions.resolver(session, practice.id)
    cases = [
        # group + CARC + RARC beats group + CARC
        (("CO", "16", ["N4"]), "coordinate_benefits"),
        (("CO", "16", ["MA130"]), "correct_resubmit"),
        (("CO", "97", ["M15"]), "write_off"),
        (("CO", "97", []), "correct_resubmit"),
        # group + CARC
        (("CO", "45", []), "write_off"),
        (("CO", "50", []), "appeal"),
        (("CO", "197", []), "appeal"),
        (("CO", "4", []), "correct_resubmit"),
        (("OA", "23", []), "coordinate_benefits"),
        # CARC alone (any group) beats the group alone
        (("OA", "18", []), "duplicate"),
        (("CO", "29", []), "timely_filing"),
        (("PR", "27", []), "check_eligibility"),
        (("CO", "31", []), "check_eligibility"),
        (("PI", "22", []), "coordinate_benefits"),
        # the group alone
        (("PR", "1", []), "patient"),
        (("PR", "50", []), "patient"),
        # nothing matches: review
        (("OA", "50", []), "review"),
        (("CO", "999", []), "review"),
    ]
    got = [(args, r.action_for(*args)) for args, _ in cases]
    assert got == cases
    # codes are compared without case or spaces
    assert r.action_for(" co ", "16", [" n4"]) == "coordinate_benefits"


def test_a_practice_overrides_a_key_and_removing_it_restores_the_default(
    session: Session,
) -> None:
    mine, other = make_practice(session), make_practice(session)
    admin = principal(session, make_user(session, "admin", practices=[mine]))
    row, created = carc_actions.put_row(
        session, admin, mine.id, CarcActionPut(group="CO", reason="50", action="review")
    )
    assert (created, row.practice_id, row.action, _rows(session)) == (
        True,
        mine.id,
        "review",
        DEFAULT_ROWS + 1,
    )
    assert carc_actions.resolver(session, mine.id).action_for("CO", "50") == "review"
    assert carc_actions.resolver(session, other.id).action_for("CO", "50") == "appeal"
    # The same key again changes the row in place.
    again, created = carc_actions.put_row(
        session,
        admin,
        mine.id,
        CarcActionPut(group="CO", reason="50", action="correct_resubmit", note="Recode first"),
    )
    assert (again.id, created, again.action, again.note, _rows(session)) == (
        row.id,
        False,
        "correct_resubmit",
        "Recode first",
        DEFAULT_ROWS + 1,
    )
    assert again.updated_by == admin.user_id
    assert carc_actions.resolver(session, mine.id).action_for("CO", "50") == "correct_resubmit"
    listed = carc_actions.list_table(session, admin, mine.id)
    co50 = [(t.source, t.row.action, t.overridden) for t in listed if t.row.reason_code == "50"]
    assert ("default", "appeal", True) in co50
    assert ("practice", "correct_resubmit", False) in co50
    # A new, more general practice row (CARC alone) does not beat the default CO-197.
    carc_actions.put_row(session, admin, mine.id, CarcActionPut(reason="197", action="review"))
    assert carc_actions.resolver(session, mine.id).action_for("CO", "197") == "appeal"
    assert carc_actions.resolver(session, mine.id).action_for("OA", "197") == "review"

    carc_actions.delete_row(session, admin, row.id)
    assert carc_actions.resolver(session, mine.id).action_for("CO", "50") == "appeal"
    audit.flush_pending(session)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("claim_rules.carc_action%"))
    ).all()
    assert sorted(actions) == [
        "claim_rules.carc_action_removed",
        "claim_rules.carc_action_set",
        "claim_rules.carc_action_set",
        "claim_rules.carc_action_set",
    ]


def test_refusals_change_nothing(session: Session) -> None:
    mine, other = make_practice(session), make_practice(session)
    admin = principal(session, make_user(session, "admin", practices=[mine]))
    billing = principal(session, make_user(session, "billing_staff", practices=[mine]))
    theirs, _ = carc_actions.put_row(
        session, SYSTEM, other.id, CarcActionPut(group="CO", reason="16", action="review")
    )
    default = session.scalars(
        select(CarcAction).where(
            CarcAction.practice_id.is_(None),
            CarcAction.group_code == "CO",
            CarcAction.reason_code == "50",
        )
    ).one()
    before = _rows(session)
    body = CarcActionPut(group="CO", reason="50", action="review")
    cases: list[tuple[str, Any]] = [
        ("auth.forbidden", lambda: carc_actions.put_row(session, billing, mine.id, body)),
        ("practice.not_found", lambda: carc_actions.put_row(session, admin, other.id, body)),
        ("claim_rules.not_found", lambda: carc_actions.delete_row(session, admin, theirs.id)),
        (
            "claim_rules.default_read_only",
            lambda: carc_actions.delete_row(session, admin, default.id),
        ),
        ("auth.forbidden", lambda: carc_actions.delete_row(session, billing, theirs.id)),
    ]
    for code, call in cases:
        with pytest.raises(DomainError) as exc:
            call()
        assert exc.value.code == code
    assert _rows(session) == before
    session.refresh(default)
    assert default.action == "appeal"
    for bad in (
        {"action": "review"},  # no key
        {"remark": "N4", "reason": "16", "action": "review"},  # a remark without the group
        {"group": "XX", "reason": "16", "action": "review"},
        {"group": "CO", "reason": "16x", "action": "review"},
        {"group": "CO", "reason": "16", "action": "ignore"},
    ):
        with pytest.raises(ValidationError):
            CarcActionPut.model_validate(bad)


def test_the_posting_records_actions_per_adjustment_line_and_claim(session: Session) -> None:
    w = make_world(session)
    claim = make_claim(session, w).claim
    for status in ("scrubbed", "submitted"):
        states.transition(session, claim, status, actor=SYSTEM, actor_kind="system")
    n = claim.number
    clp = [
        f"CLP*{claim.control_number}*1*210*80*20*12*ICN1*11*1",
        "CAS*OA*23*10",
        "MOA***N4",
        "SVC*HC:99213*150*90**1",
        "CAS*CO*45*40",
        "CAS*PR*2*20",
        f"REF*6R*C{n}L1",
        "SVC*HC:80053*60*0**1",
        "CAS*CO*16*60",
        "LQ*HE*M51",
        f"REF*6R*C{n}L2",
    ]
    content = era_text(w.payer.edi_payer_id, w.practice.npi, [clp], "80")
    result = remittances.post_file(session, SYSTEM, content.encode(), practice_id=w.practice.id)
    assert result.sets[0].outcome == "posted", result.sets[0].message
    session.flush()
    event = session.scalars(
        select(ClaimEvent).where(
            ClaimEvent.claim_id == claim.id, ClaimEvent.to_status == "adjudicated"
        )
    ).one()
    d = event.detail
    assert d["adjustment_actions"] == ["coordinate_benefits"]
    # CO-16 with the claim's N4 remark: coordinate benefits (group + CARC + RARC).
    assert [(ln["adjustment_actions"], ln["action"]) for ln in d["lines"]] == [
        (["write_off", "patient"], "write_off"),
        (["coordinate_benefits"], "coordinate_benefits"),
    ]
    assert d["action"] == "coordinate_benefits"
    # The adjustments themselves are as the contract states them.
    assert d["lines"][1]["adjustments"] == [{"group": "CO", "reason": "16", "amount_minor": 6000}]
    [item] = denials.queue(session, SYSTEM, practice_id=w.practice.id).items
    assert (item.action, [ln.action for ln in item.lines]) == (
        "coordinate_benefits",
        ["coordinate_benefits"],
    )


def test_the_queue_filters_and_groups_by_action(session: Session) -> None:
    w, denied = decided_claim(session, days_ago=10)  # CO-50 150.00 and CO-16 60.00 (no record)
    on = today() - dt.timedelta(days=5)
    w2, paid = decided_claim(session, to="adjudicated", days_ago=5)
    detail = paid_detail(paid, on)
    detail["lines"][1]["adjustments"] = [adj("CO", "29", 6000)]
    detail["lines"][1]["adjustment_actions"] = ["duplicate"]  # as a posting recorded it
    detail["lines"][1]["action"] = "duplicate"
    states.transition(session, paid, "adjudicated", actor=SYSTEM, actor_kind="payer", detail=detail)
    session.flush()
    q = denials.queue(session, SYSTEM, group_by="action")
    assert {d.claim.practice_id for d in q.items} == {w.practice.id, w2.practice.id}
    by_claim = {d.claim.id: d for d in q.items}
    assert by_claim[denied.id].action == "appeal"
    assert [ln.action for ln in by_claim[denied.id].lines] == ["appeal", "correct_resubmit"]
    # The recorded action is read as recorded, not looked up again.
    assert by_claim[paid.id].action == "duplicate"
    assert [(g.key, g.label, g.count, g.at_stake_minor) for g in q.groups] == [
        ("appeal", "Appeal with documentation", 1, 21000),
        ("duplicate", "Duplicate: find the original claim", 1, 6000),
    ]
    only = denials.queue(session, SYSTEM, action="correct_resubmit")
    assert [d.claim.id for d in only.items] == [denied.id]  # a line's action counts
    none = denials.queue(session, SYSTEM, action="timely_filing")
    assert none.items == []


def test_the_table_over_http(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    admin = auth_header(session, make_user(session, "admin", practices=[practice]))
    billing = auth_header(session, make_user(session, "billing_staff", practices=[practice]))
    session.commit()
    url = f"/api/v1/practices/{practice.id}/carc-actions"
    r = client.get(url, headers=billing)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == DEFAULT_ROWS
    [co16n4] = [i for i in items if i["key"] == "CO-16-N4"]
    assert {k: co16n4[k] for k in ("source", "group", "reason", "remark", "action")} == {
        "source": "default",
        "group": "CO",
        "reason": "16",
        "remark": "N4",
        "action": "coordinate_benefits",
    }
    [pr] = [i for i in items if i["key"] == "PR"]
    assert (pr["group"], pr["reason"], pr["remark"], pr["action"]) == ("PR", None, None, "patient")

    body = {"group": "co", "reason": "50", "action": "review", "note": "Our policy"}
    assert client.put(url, json=body, headers=billing).status_code == 403
    r = client.put(url, json=body, headers=admin)
    assert r.status_code == 200, r.text
    row = r.json()
    assert {k: row[k] for k in ("source", "key", "action", "note", "created")} == {
        "source": "practice",
        "key": "CO-50",
        "action": "review",
        "note": "Our policy",
        "created": True,
    }
    r = client.put(url, json={**body, "action": "appeal"}, headers=admin)
    assert (r.status_code, r.json()["id"], r.json()["created"]) == (200, row["id"], False)
    listed = client.get(url, headers=admin).json()["items"]
    assert [(i["source"], i["action"], i["overridden"]) for i in listed if i["key"] == "CO-50"] == [
        ("default", "appeal", True),
        ("practice", "appeal", False),
    ]
    r = client.put(url, json={"remark": "N4", "action": "review"}, headers=admin)
    assert r.status_code == 422
    assert client.delete(f"/api/v1/carc-actions/{row['id']}", headers=admin).status_code == 204
    r = client.delete(f"/api/v1/carc-actions/{co16n4['id']}", headers=admin)
    assert (r.status_code, r.json()["code"]) == (409, "claim_rules.default_read_only")
    assert len(client.get(url, headers=admin).json()["items"]) == DEFAULT_ROWS


def test_concurrent_puts_of_one_key_make_one_row(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice_id = make_practice(s).id
    barrier = threading.Barrier(5)
    actions = ["review", "appeal", "write_off", "duplicate", "timely_filing"]

    def attempt(i: int) -> bool:
        barrier.wait()
        with unit_of_work(factory) as s:
            body = CarcActionPut(group="CO", reason="50", remark="N115", action=actions[i])
            _, created = carc_actions.put_row(s, SYSTEM, practice_id, body)
            return created

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(attempt, range(5)))
    assert sorted(results) == [False, False, False, False, True]
    with unit_of_work(factory) as s:
        [row] = s.scalars(select(CarcAction).where(CarcAction.practice_id == practice_id)).all()
        assert (row.group_code, row.reason_code, row.remark_code) == ("CO", "50", "N115")
        assert row.action in actions
