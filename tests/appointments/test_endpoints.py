"""Appointments over HTTP: staff create and list by day; patients are refused; another
practice's patient answers 404; bad input answers 4xx and writes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.appointments.models import Appointment
from revcycle.audit.models import AuditEvent
from tests.factories.auth import auth_header, make_user
from tests.factories.eligibility import make_coverage
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice, make_provider


@pytest.fixture
def w(session: Session) -> dict[str, Any]:
    practice = make_practice(session)
    other = make_practice(session, name="Other Clinic")
    patient = make_patient(session, practice)
    sibling = make_patient(session, practice)
    stranger = make_patient(session, other)
    out = {
        "practice": practice,
        "other": other,
        "patient": patient,
        "sibling": sibling,
        "stranger": stranger,
        "provider": make_provider(session, practice),
        "other_provider": make_provider(session, other),
        "coverage": make_coverage(session, patient, member_id="W600").id,
        "sibling_coverage": make_coverage(session, sibling, member_id="W601").id,
        "staff": auth_header(session, make_user(session, "billing_staff", practices=[practice])),
        "other_staff": auth_header(session, make_user(session, "admin", practices=[other])),
        "me": auth_header(session, make_user(session, "patient", patient=patient)),
    }
    session.commit()
    return out


def _url(w: dict[str, Any], practice: str = "practice") -> str:
    return f"/api/v1/practices/{w[practice].id}/appointments"


def _body(w: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {
        "patient_id": str(w["patient"].id),
        "provider_id": str(w["provider"].id),
        "starts_at": "2026-06-02T09:00:00-05:00",
        **kw,
    }


def _counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        int(session.scalar(select(func.count()).select_from(Appointment)) or 0),
        int(
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "appointment:create")
            )
            or 0
        ),
    )


def test_staff_create_and_list_by_day(
    session: Session, client: TestClient, w: dict[str, Any]
) -> None:
    r = client.post(
        _url(w),
        json=_body(w, coverage_id=str(w["coverage"]), external_ref="EHR-1"),
        headers=w["staff"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in body if k not in ("id", "created_at")} == {
        "practice_id": str(w["practice"].id),
        "patient_id": str(w["patient"].id),
        "provider_id": str(w["provider"].id),
        "coverage_id": str(w["coverage"]),
        "starts_at": "2026-06-02T14:00:00Z",  # stored in UTC
        "status": "scheduled",
        "external_ref": "EHR-1",
    }
    for starts_at, status in [
        ("2026-06-02T23:59:00Z", "cancelled"),
        ("2026-06-03T00:00:00Z", "scheduled"),
        ("2026-06-01T23:59:59Z", "scheduled"),
    ]:
        r = client.post(
            _url(w), json=_body(w, starts_at=starts_at, status=status), headers=w["staff"]
        )
        assert r.status_code == 201, r.text
    assert _counts(session) == (4, 4)
    audit = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "appointment:create")
    ).first()
    assert audit is not None
    assert audit.object_id == body["id"]

    r = client.get(_url(w), params={"date": "2026-06-02"}, headers=w["staff"])
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["starts_at"], i["status"]) for i in items] == [  # by id: creation order
        ("2026-06-02T14:00:00Z", "scheduled"),
        ("2026-06-02T23:59:00Z", "cancelled"),
    ]
    assert r.json()["next_cursor"] is None
    # paging by one
    r1 = client.get(_url(w), params={"date": "2026-06-02", "limit": 1}, headers=w["staff"])
    page1 = r1.json()
    assert len(page1["items"]) == 1
    assert page1["next_cursor"]
    r2 = client.get(
        _url(w),
        params={"date": "2026-06-02", "limit": 1, "cursor": page1["next_cursor"]},
        headers=w["staff"],
    )
    page2 = r2.json()
    assert [i["id"] for i in page1["items"] + page2["items"]] == [i["id"] for i in items]
    assert page2["next_cursor"] is None
    # another day, and the other practice's staff sees nothing of this practice
    r = client.get(_url(w), params={"date": "2026-06-03"}, headers=w["staff"])
    assert [i["starts_at"] for i in r.json()["items"]] == ["2026-06-03T00:00:00Z"]
    r = client.get(_url(w), params={"date": "2026-06-02"}, headers=w["other_staff"])
    assert r.status_code == 404
    r = client.get(_url(w, "other"), params={"date": "2026-06-02"}, headers=w["other_staff"])
    assert (r.status_code, r.json()["items"]) == (200, [])


def test_patients_are_refused(session: Session, client: TestClient, w: dict[str, Any]) -> None:
    r = client.post(_url(w), json=_body(w), headers=w["me"])
    assert r.status_code == 403
    r = client.get(_url(w), params={"date": "2026-06-02"}, headers=w["me"])
    assert r.status_code == 403
    r = client.get(_url(w), params={"date": "2026-06-02"})
    assert r.status_code == 401
    assert _counts(session) == (0, 0)


def test_another_practices_patient_is_not_found(
    session: Session, client: TestClient, w: dict[str, Any]
) -> None:
    missing = str(uuid.uuid4())
    for headers, patient_id in [
        (w["staff"], str(w["stranger"].id)),  # the staff cannot see this patient
        (w["staff"], missing),
    ]:
        r = client.post(_url(w), json=_body(w, patient_id=patient_id), headers=headers)
        assert (r.status_code, r.json()["code"]) == (404, "patient.not_found"), r.text
    # staff of the other practice posting its patient to a practice it does not belong to
    r = client.post(
        _url(w),
        json=_body(w, patient_id=str(w["stranger"].id), provider_id=str(w["other_provider"].id)),
        headers=w["other_staff"],
    )
    assert r.status_code == 404
    assert _counts(session) == (0, 0)


def test_a_patient_of_another_practice_seen_by_the_caller_is_still_404(
    session: Session, client: TestClient, w: dict[str, Any]
) -> None:
    both = auth_header(
        session, make_user(session, "billing_staff", practices=[w["practice"], w["other"]])
    )
    session.commit()
    r = client.post(_url(w), json=_body(w, patient_id=str(w["stranger"].id)), headers=both)
    assert (r.status_code, r.json()["code"]) == (404, "patient.not_found")
    assert _counts(session) == (0, 0)


BAD: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("naive time", {"starts_at": "2026-06-02T09:00:00"}, 422, None),
    ("a number for a time", {"starts_at": 1780390800}, 422, None),
    ("not a date", {"starts_at": "tomorrow"}, 422, None),
    ("unknown status", {"status": "done"}, 422, None),
    ("bad external ref", {"external_ref": "has space"}, 422, None),
    ("unknown field", {"room": "3"}, 422, None),
    ("not a uuid", {"provider_id": "nope"}, 422, None),
]


@pytest.mark.parametrize(
    ("change", "status", "code"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_writes_nothing(
    session: Session,
    client: TestClient,
    w: dict[str, Any],
    change: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    r = client.post(_url(w), json=_body(w, **change), headers=w["staff"])
    assert r.status_code == status, r.text
    if code:
        assert r.json()["code"] == code
    assert _counts(session) == (0, 0)


def test_refused_references_and_duplicates_write_nothing(
    session: Session, client: TestClient, w: dict[str, Any]
) -> None:
    cases = [
        (_body(w, provider_id=str(w["other_provider"].id)), 400, "appointment.invalid"),
        (_body(w, provider_id=str(uuid.uuid4())), 400, "appointment.invalid"),
        (_body(w, coverage_id=str(w["sibling_coverage"])), 400, "appointment.invalid"),
        (_body(w, coverage_id=str(uuid.uuid4())), 400, "appointment.invalid"),
    ]
    for body, status, code in cases:
        r = client.post(_url(w), json=body, headers=w["staff"])
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert _counts(session) == (0, 0)
    r = client.post(_url(w), json=_body(w, external_ref="EHR-9"), headers=w["staff"])
    assert r.status_code == 201
    r = client.post(_url(w), json=_body(w, external_ref="EHR-9"), headers=w["staff"])
    assert (r.status_code, r.json()["code"]) == (409, "appointment.duplicate")
    assert _counts(session) == (1, 1)
    # the same EHR id in another practice is another appointment
    r = client.post(
        _url(w, "other"),
        json=_body(
            w,
            patient_id=str(w["stranger"].id),
            provider_id=str(w["other_provider"].id),
            external_ref="EHR-9",
        ),
        headers=w["other_staff"],
    )
    assert r.status_code == 201, r.text
    assert _counts(session) == (2, 2)
