"""The whole-suite log scan (tests/phi_log_scan.py) works: it sees records from every logger,
finds demo patients' names in messages, URLs and exception text, and lets ordinary text pass.
Then a real workload: a demo patient's records read and refused through the API, a failing
sign-in, an unhandled error; the scanner must stay silent because the code logs no PHI."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revcycle.demo.seed import FEMALE_NAMES, LAST_NAMES
from tests.factories.auth import auth_header, make_user
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.phi_log_scan import PHI_NAME, Scanner


def test_scanner_finds_names_wherever_they_are_logged(phi_log_findings: Scanner) -> None:
    seen_before = phi_log_findings.records
    log = logging.getLogger("some.library")
    log.info("nothing personal: invoice INV-000123 issued, 2 lines")
    log.info("HTTP Request: GET http://testserver/api/v1/patients?name=Emma%20Smith")
    logging.getLogger("revcycle.api").debug("statement for %s", "Rodriguez, Carlos")
    try:
        raise ValueError("bad value 'Grace Kowalski'")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("failed")
    assert phi_log_findings.records - seen_before == 4
    found = phi_log_findings.take()
    assert [f.split(":")[0] for f in found] == ["some.library", "revcycle.api", "uvicorn.error"]
    assert "'Emma Smith'" in found[0]  # URL-decoded before the search
    assert "'Rodriguez, Carlos'" in found[1]
    assert "'Grace Kowalski'" in found[2]


def test_the_name_pattern() -> None:
    assert len(FEMALE_NAMES) > 50
    assert len(LAST_NAMES) > 50
    for text in ["Emma Smith", "Jordan Casey", "Smith, Emma", "Casey,Jordan", "O'Brien, Liam"]:
        assert PHI_NAME.search(text), text
    for text in ["Smithson Emma", "EmmaSmith", "invoice Smith", "Emma", "Mark as paid"]:
        assert not PHI_NAME.search(text), text


def test_a_patient_workload_logs_no_phi(
    client: TestClient, session: Session, phi_log_findings: Scanner
) -> None:
    practice = make_practice(session)
    other = make_practice(session, name="Elsewhere")
    patient = make_patient(session, practice, first_name="Emma", last_name="Smith")
    staff = make_user(session, "billing_staff", practices=[practice])
    outsider = make_user(session, "billing_staff", practices=[other])
    me = make_user(session, "patient", patient=patient)
    headers, outsider_headers, mine = (
        auth_header(session, staff),
        auth_header(session, outsider),
        auth_header(session, me),
    )
    session.commit()
    seen_before = phi_log_findings.records
    for h in (headers, outsider_headers, mine):
        client.get(f"/api/v1/patients/{patient.id}", headers=h)
        client.get(f"/api/v1/patients/{patient.id}/statement", headers=h)
        client.post(
            "/api/v1/patients/search",
            json={"last_name": "Smith", "first_name": "Emma"},
            headers=h,
        )
        client.patch(f"/api/v1/patients/{patient.id}", json={"first_name": 7}, headers=h)
    client.post("/api/v1/auth/token", data={"username": "Emma Smith", "password": "Emma Smith"})
    client.post(
        f"/api/v1/practices/{practice.id}/patients",
        json={"first_name": "Emma", "last_name": "Smith", "date_of_birth": "not a date"},
        headers=headers,
    )
    assert phi_log_findings.records > seen_before  # the requests were logged (httpx)...
    assert phi_log_findings.take() == []  # ...and none of it named the patient
