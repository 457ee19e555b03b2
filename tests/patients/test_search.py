"""POST /api/v1/patients/search: exact normalised matches through the blind indexes, the list's
scoping and cursor, no PHI in URLs, refusals that change nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from revcycle.crypto import keyring as kr
from revcycle.db import Base
from revcycle.patients.models import Patient
from revcycle.practices.models import Practice
from tests.factories.auth import auth_header, make_user
from tests.factories.crypto import ROTATED_KEYRING
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice

URL = "/api/v1/patients/search"


def _people(session: Session) -> tuple[Practice, Practice, dict[str, Patient]]:
    a = make_practice(session, name="North Clinic")
    b = make_practice(session, name="South Clinic")
    people = {
        "ana": make_patient(
            session, a, first_name="Ana María", last_name="Núñez", date_of_birth=dt.date(1985, 2, 3)
        ),
        "ana_twin": make_patient(
            session, a, first_name="Lucía", last_name="Núñez", date_of_birth=dt.date(1985, 2, 3)
        ),
        "ana_other": make_patient(
            session, a, first_name="Ana María", last_name="Núñez", date_of_birth=dt.date(1990, 1, 1)
        ),
        "near": make_patient(
            session, a, first_name="Ana", last_name="Nunez", date_of_birth=dt.date(1985, 2, 3)
        ),
        "prefix": make_patient(
            session,
            a,
            first_name="Ana María",
            last_name="Núñez-Ortiz",
            date_of_birth=dt.date(1985, 2, 3),
        ),
        "other_practice": make_patient(
            session, b, first_name="Ana María", last_name="Núñez", date_of_birth=dt.date(1985, 2, 3)
        ),
    }
    session.commit()
    return a, b, people


def _header(session: Session, role: str, **kw: Any) -> dict[str, str]:
    h = auth_header(session, make_user(session, role, **kw))
    session.commit()
    return h


def _ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


def _sorted(*patients: Patient) -> list[str]:
    return sorted(str(p.id) for p in patients)


def test_search_finds_exact_normalised_matches_only(session: Session, client: TestClient) -> None:
    a, _b, p = _people(session)
    staff = _header(session, "billing_staff", practices=[a])

    r = client.post(URL, json={"last_name": "  NÚÑEZ "}, headers=staff)
    assert _ids(r) == _sorted(p["ana"], p["ana_twin"], p["ana_other"])

    r = client.post(URL, json={"last_name": "núñez", "first_name": "ana  maría"}, headers=staff)
    assert _ids(r) == _sorted(p["ana"], p["ana_other"])

    r = client.post(
        URL,
        json={"last_name": "Núñez", "first_name": "ANA MARÍA", "date_of_birth": "1985-02-03"},
        headers=staff,
    )
    assert _ids(r) == [str(p["ana"].id)]

    r = client.post(URL, json={"last_name": "Núñez", "date_of_birth": "1985-02-03"}, headers=staff)
    assert _ids(r) == _sorted(p["ana"], p["ana_twin"])

    # no prefix or partial matches, no accent folding
    assert _ids(client.post(URL, json={"last_name": "Núñ"}, headers=staff)) == []
    r = client.post(URL, json={"last_name": "Nunez", "first_name": "Ana María"}, headers=staff)
    assert _ids(r) == []
    assert _ids(client.post(URL, json={"last_name": "Nunez"}, headers=staff)) == [str(p["near"].id)]


def test_search_pages_with_a_cursor(session: Session, client: TestClient) -> None:
    a, _b, p = _people(session)
    admin = _header(session, "admin", practices=[a])
    expected = _sorted(p["ana"], p["ana_twin"], p["ana_other"])
    r = client.post(URL, json={"last_name": "Núñez", "limit": 2}, headers=admin)
    assert _ids(r) == expected[:2]
    cursor = r.json()["next_cursor"]
    assert cursor
    r = client.post(URL, json={"last_name": "Núñez", "limit": 2, "cursor": cursor}, headers=admin)
    assert _ids(r) == expected[2:]
    assert r.json()["next_cursor"] is None
    # a first name without a date of birth is filtered after the index: pages stay exact
    both = _sorted(p["ana"], p["ana_other"])
    r = client.post(
        URL, json={"last_name": "Núñez", "first_name": "Ana María", "limit": 1}, headers=admin
    )
    assert _ids(r) == both[:1]
    r = client.post(
        URL,
        json={
            "last_name": "Núñez",
            "first_name": "Ana María",
            "limit": 1,
            "cursor": r.json()["next_cursor"],
        },
        headers=admin,
    )
    assert _ids(r) == both[1:]
    assert r.json()["next_cursor"] is None


def test_search_is_scoped_like_the_list(session: Session, client: TestClient) -> None:
    a, b, p = _people(session)
    staff_a = _header(session, "insurance_specialist", practices=[a])
    staff_b = _header(session, "billing_staff", practices=[b])
    patient = _header(session, "patient", patient=p["ana"])
    full = {"last_name": "Núñez", "first_name": "Ana María", "date_of_birth": "1985-02-03"}

    assert _ids(client.post(URL, json=full, headers=staff_a)) == [str(p["ana"].id)]
    assert _ids(client.post(URL, json=full, headers=staff_b)) == [str(p["other_practice"].id)]
    # naming a practice outside one's scope finds nothing (and discloses nothing)
    r = client.post(URL, json={**full, "practice_id": str(b.id)}, headers=staff_a)
    assert _ids(r) == []
    # a patient finds only themself
    assert _ids(client.post(URL, json={"last_name": "Núñez"}, headers=patient)) == [
        str(p["ana"].id)
    ]
    assert _ids(client.post(URL, json={"last_name": "Nunez"}, headers=patient)) == []


def test_search_works_while_keys_rotate(session: Session, client: TestClient) -> None:
    a, _b, p = _people(session)  # indexed under key A
    staff = _header(session, "billing_staff", practices=[a])
    with kr.using(ROTATED_KEYRING):  # B active, nothing rotated yet
        newer = make_patient(
            session, a, first_name="Ana María", last_name="Núñez", date_of_birth=dt.date(1985, 2, 3)
        )
        session.commit()
        raw = session.execute(
            text("select count(*) from patients where name_dob_bidx like 'test-b:%'")
        ).scalar_one()
        assert raw == 1
        r = client.post(
            URL,
            json={"last_name": "Núñez", "first_name": "Ana María", "date_of_birth": "1985-02-03"},
            headers=staff,
        )
        assert _ids(r) == _sorted(p["ana"], newer)


def _counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {
        t: int(session.execute(text(f"select count(*) from {t}")).scalar_one())
        for t in Base.metadata.tables
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, None),
        ({"last_name": ""}, 422, None),
        ({"last_name": "x" * 101}, 422, None),
        ({"last_name": "Núñez", "date_of_birth": "not-a-date"}, 422, None),
        ({"last_name": "Núñez", "ssn": "123-45-6789"}, 422, None),
        ({"last_name": "Núñez", "limit": 0}, 422, None),
        ({"last_name": "Núñez", "cursor": "garbage!"}, 400, "pagination.invalid_cursor"),
    ],
)
def test_refusals_change_nothing_and_echo_nothing(
    session: Session, client: TestClient, body: dict[str, Any], status: int, code: str | None
) -> None:
    a, _b, _p = _people(session)
    staff = _header(session, "billing_staff", practices=[a])
    before = _counts(session)
    r = client.post(URL, json=body, headers=staff)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if code is not None:
        assert r.json()["code"] == code
    for value in ["Núñez", "x" * 101, "not-a-date", "123-45-6789", "garbage!"]:
        if value in str(body):
            assert value not in r.text
    assert _counts(session) == before


def test_unauthenticated_search_is_refused(session: Session, client: TestClient) -> None:
    _people(session)
    before = _counts(session)
    r = client.post(URL, json={"last_name": "Núñez"})
    assert (r.status_code, r.json()["code"]) == (401, "auth.unauthenticated")
    assert "Núñez" not in r.text
    assert _counts(session) == before


def test_no_name_filter_in_the_list_url(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = [
        p["name"]
        for p in spec["paths"]["/api/v1/patients"]["get"]["parameters"]
        if p["in"] == "query"
    ]
    assert params == ["practice_id", "cursor", "limit"]
    search = spec["paths"][URL]["post"]
    assert [p["name"] for p in search.get("parameters", []) if p["in"] != "header"] == []
