"""PATCH with an explicit null on a field that cannot be empty: 422 request.null_not_allowed,
nothing changed (practices, providers, charge-master items)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revcycle.practices.models import Practice
from tests.factories.auth import auth_header, make_user
from tests.factories.practices import make_practice


@pytest.mark.parametrize(
    "field", ["name", "taxonomy", "address_line1", "city", "state", "postal_code", "default_terms"]
)
def test_practice_fields_that_cannot_be_null(
    client: TestClient, session: Session, field: str
) -> None:
    practice = make_practice(session)
    headers = auth_header(session, make_user(session, "admin", practices=[practice]))
    session.commit()
    before = session.get(Practice, practice.id)
    assert before is not None
    value = getattr(before, field)
    r = client.patch(f"/api/v1/practices/{practice.id}", json={field: None}, headers=headers)
    assert r.status_code == 422
    body = r.json()
    assert (body["code"], body["data"]) == ("request.null_not_allowed", {"fields": [field]})
    assert body["detail"] == f"{field} cannot be null; leave a field out to keep its value"
    session.expire_all()
    after = session.get(Practice, practice.id)
    assert after is not None
    assert getattr(after, field) == value


def test_nullable_fields_can_be_cleared(client: TestClient, session: Session) -> None:
    practice = make_practice(session, address_line2="Suite 5")
    headers = auth_header(session, make_user(session, "admin", practices=[practice]))
    session.commit()
    r = client.patch(
        f"/api/v1/practices/{practice.id}", json={"address_line2": None}, headers=headers
    )
    assert (r.status_code, r.json()["address_line2"]) == (200, None)
