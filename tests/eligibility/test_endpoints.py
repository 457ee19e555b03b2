"""The API: JSON and FHIR paths state the same facts; raw X12 for staff only; stale flag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revcycle.eligibility import fhir
from revcycle.eligibility.errors import InvalidCheck
from tests.factories.auth import auth_header, make_user
from tests.factories.eligibility import make_coverage
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "fhir"


def _world(session: Session, member_id: str = "W700") -> dict[str, Any]:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    cov = make_coverage(session, patient, member_id=member_id, deductible_met_minor=50_000)
    staff = auth_header(session, make_user(session, "insurance_specialist", practices=[practice]))
    me = auth_header(session, make_user(session, "patient", patient=patient))
    session.commit()
    return {"patient": patient, "coverage": cov, "staff": staff, "me": me}


def test_json_and_fhir_paths_give_the_same_facts(session: Session, client: TestClient) -> None:
    w = _world(session)
    cov, staff = w["coverage"], w["staff"]
    r = client.post(
        f"/api/v1/coverages/{cov.id}/eligibility-checks",
        json={"service_date": "2026-06-01"},
        headers={**staff, "Idempotency-Key": "k1"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "active"
    b = body["benefits"]
    assert (b["deductible"], b["deductible_remaining"], b["oop_max"], b["oop_remaining"]) == (
        "1500.00",
        "1000.00",
        "6000.00",
        "6000.00",
    )
    assert b["coinsurance_percent"] == "20"
    assert b["copays"] == {"5": "0.00", "98": "25.00", "A0": "50.00"}
    assert b["auth_required_codes"] == ["70553"]
    assert body["raw"] is None
    req = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["benefits"],
        "patient": {"reference": f"Patient/{w['patient'].id}"},
        "servicedDate": "2026-06-01",
        "created": "2026-05-30",
        "insurer": {"display": "Acme Health"},
        "insurance": [{"focal": True, "coverage": {"reference": f"Coverage/{cov.id}"}}],
    }
    r = client.post(
        "/api/v1/fhir/CoverageEligibilityRequest",
        json=req,
        headers={**staff, "Idempotency-Key": "k2"},
    )
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["resourceType"] == "CoverageEligibilityResponse"
    assert res["outcome"] == "complete"
    f = fhir.facts_of_response(res)
    assert f["inforce"] is True
    assert (f["deductible"], f["deductible_remaining"], f["oop_max"], f["oop_remaining"]) == (
        150_000,
        100_000,
        600_000,
        600_000,
    )
    assert str(f["coinsurance"]) == "0.2"
    assert f["copays"] == {"5": 0, "98": 2500, "A0": 5000}
    assert f["auth_required_codes"] == ["70553"]
    # the same key replays the same answer; no second check
    again = client.post(
        f"/api/v1/coverages/{cov.id}/eligibility-checks",
        json={"service_date": "2026-06-01"},
        headers={**staff, "Idempotency-Key": "k1"},
    )
    assert again.json()["id"] == body["id"]


def test_raw_for_staff_not_patients_and_stale_flag(session: Session, client: TestClient) -> None:
    w = _world(session, "W701X72")
    cov = w["coverage"]
    r = client.get(f"/api/v1/patients/{w['patient'].id}/eligibility-status", headers=w["me"])
    assert r.status_code == 200
    assert r.json() == [
        {
            "coverage_id": str(cov.id),
            "latest_check_id": None,
            "status": None,
            "checked_at": None,
            "stale": True,
        }
    ]
    r = client.post(
        f"/api/v1/coverages/{cov.id}/eligibility-checks",
        json={"service_date": "2026-06-01"},
        headers={**w["staff"], "Idempotency-Key": "k3"},
    )
    assert r.status_code == 201, r.text
    check = r.json()
    assert check["status"] == "rejected"
    assert [a["reason_code"] for a in check["aaa"]] == ["72"]
    cid = check["id"]
    raw = client.get(f"/api/v1/eligibility-checks/{cid}?include=raw", headers=w["staff"]).json()
    assert raw["raw"]["x270"].startswith("ISA*")
    assert "AAA*N**72*C~" in raw["raw"]["x271"]
    r = client.get(f"/api/v1/eligibility-checks/{cid}?include=raw", headers=w["me"])
    assert (r.status_code, r.json()["code"]) == (403, "eligibility.raw_forbidden")
    mine = client.get(f"/api/v1/eligibility-checks/{cid}", headers=w["me"])
    assert mine.status_code == 200
    assert mine.json()["raw"] is None
    status = client.get(
        f"/api/v1/patients/{w['patient'].id}/eligibility-status", headers=w["me"]
    ).json()
    assert (status[0]["latest_check_id"], status[0]["stale"]) == (cid, False)
    fres = client.post(
        "/api/v1/fhir/CoverageEligibilityRequest",
        json={
            "resourceType": "CoverageEligibilityRequest",
            "status": "active",
            "purpose": ["validation"],
            "patient": {"reference": f"Patient/{w['patient'].id}"},
            "created": "2026-05-30",
            "insurer": {"display": "Acme"},
            "insurance": [{"coverage": {"reference": f"Coverage/{cov.id}"}}],
        },
        headers={**w["staff"], "Idempotency-Key": "k4"},
    ).json()
    assert fres["outcome"] == "error"
    assert fres["error"][0]["code"]["coding"][0]["code"] == "72"


def test_key_required(session: Session, client: TestClient) -> None:
    w = _world(session, "W702")
    r = client.post(
        f"/api/v1/coverages/{w['coverage'].id}/eligibility-checks",
        json={"service_date": "2026-06-01"},
        headers=w["staff"],
    )
    assert (r.status_code, r.json()["code"]) == (428, "eligibility.idempotency_key_required")


@pytest.mark.parametrize(
    "name",
    [
        "coverageeligibilityrequest-example.json",
        "coverageeligibilityresponse-example-benefits.json",
    ],
)
def test_corpus_examples_parse(name: str) -> None:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared FHIR corpus not present ({path})")
    data = json.loads(path.read_text())
    if data["resourceType"] == "CoverageEligibilityResponse":
        f = fhir.facts_of_response(data)
        assert f["inforce"] is True
    else:
        with pytest.raises(InvalidCheck) as info:
            fhir.parse_request(data)  # names Patient/pat1: not a revcycle id
        assert info.value.code == "eligibility.bad_fhir_request"
