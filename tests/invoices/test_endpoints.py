"""The invoice JSON API: exact bodies, every transition, every refusal (problem+json, nothing
written), numbering, Idempotency-Key on POST /invoices, patient access, filters and pagination."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revcycle.invoices.models import Invoice
from revcycle.kit.clock import today
from revcycle.ledger.repository import LedgerRepository
from tests.factories.auth import auth_header, make_user
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.invoices.helpers import (
    World,
    assert_problem,
    count,
    denial,
    entries_of,
    invoice_json,
    line_json,
    pay,
    priced,
    security_events,
    snapshot,
    stored_status,
)

INVOICES = "/api/v1/invoices"

TOMORROW = (today() + dt.timedelta(days=1)).isoformat()


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    session.commit()
    return world


def url(invoice: Invoice | uuid.UUID, suffix: str = "") -> str:
    iid = invoice.id if isinstance(invoice, Invoice) else invoice
    return f"/api/v1/invoices/{iid}{suffix}"


# create / read / update --------------------------------------------------------------------------


def test_create_draft_returns_exact_figures(client: TestClient, session: Session, w: World) -> None:
    body = invoice_json(
        w.patient.id,
        [
            line_json("99213", "125.00", modifiers=["25", "lt"], diagnosis_codes=["e119", "I10"]),
            line_json("36415", "10.05", units=2, discount_percent="12.5", description="Draw"),
        ],
        memo="Follow-up",
    )
    r = client.post("/api/v1/invoices", json=body, headers=w.headers)
    assert r.status_code == 201, r.text
    got = r.json()
    lines = got.pop("lines")
    assert uuid.UUID(got.pop("id"))
    assert got.pop("created_at")
    assert got == {
        "practice_id": str(w.practice.id),
        "patient_id": str(w.patient.id),
        "number": None,
        "status": "draft",
        "overdue": False,
        "currency": "USD",
        "terms": "net",
        "terms_days": 30,
        "issue_date": None,
        "due_date": None,
        "subtotal": "145.10",
        "discount": "2.51",  # 12.5% of 20.10 = 2.5125 -> 2.51
        "total": "142.59",
        "paid": "0.00",
        "adjusted": "0.00",
        "written_off": "0.00",
        "balance": "0.00",
        "memo": "Follow-up",
        "void_reason": None,
    }
    for ln in lines:
        assert uuid.UUID(ln.pop("id"))
    assert lines == [
        {
            "position": 1,
            "service_code": "99213",
            "modifiers": ["25", "LT"],
            "description": "Office visit",
            "units": 1,
            "unit_price": "125.00",
            "gross": "125.00",
            "discount": "0.00",
            "amount": "125.00",
            "diagnosis_codes": ["E11.9", "I10"],
            "date_of_service": "2026-01-05",
            "provider_id": None,
        },
        {
            "position": 2,
            "service_code": "36415",
            "modifiers": [],
            "description": "Draw",
            "units": 2,
            "unit_price": "10.05",
            "gross": "20.10",
            "discount": "2.51",
            "amount": "17.59",
            "diagnosis_codes": ["E11.9"],
            "date_of_service": "2026-01-05",
            "provider_id": None,
        },
    ]
    assert count(session, "journal_entries") == 0
    # GET returns the same document.
    again = client.get(url(uuid.UUID(r.json()["id"])), headers=w.headers)
    assert again.status_code == 200
    assert again.json() == r.json()


def test_create_and_issue_in_one_call(client: TestClient, w: World) -> None:
    r = client.post(
        "/api/v1/invoices",
        json=invoice_json(w.patient.id, issue=True, issue_date="2026-03-10"),
        headers=w.headers,
    )
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["number"], got["status"], got["issue_date"], got["due_date"]) == (
        "INV-000001",
        "open",
        "2026-03-10",
        "2026-04-09",
    )
    assert (got["total"], got["balance"], got["paid"], got["overdue"]) == (
        "125.00",
        "125.00",
        "0.00",
        True,
    )


def test_patch_a_draft(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("draft")
    session.commit()
    r = client.patch(
        url(inv),
        json={
            "memo": "Corrected",
            "terms": "fixed_date",
            "due_date": "2026-12-31",
            "lines": [line_json("99214", "180.00"), line_json("36415", "9.99", units=3)],
        },
        headers=w.headers,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["memo"], got["terms"], got["terms_days"]) == (
        "draft",
        "Corrected",
        "fixed_date",
        None,
    )
    assert (got["subtotal"], got["discount"], got["total"]) == ("209.97", "0.00", "209.97")
    assert [(ln["position"], ln["service_code"], ln["amount"]) for ln in got["lines"]] == [
        (1, "99214", "180.00"),
        (2, "36415", "29.97"),
    ]
    r = client.post(url(inv, "/issue"), json={"issue_date": "2026-03-10"}, headers=w.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["due_date"], r.json()["number"]) == ("2026-12-31", "INV-000001")


# transitions -------------------------------------------------------------------------------------


def test_issue_endpoint_without_body(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("draft")
    session.commit()
    r = client.post(url(inv, "/issue"), headers=w.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["number"], got["balance"]) == ("open", "INV-000001", "125.00")
    assert got["issue_date"] == today().isoformat()


def test_void_a_draft(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("draft")
    session.commit()
    r = client.post(url(inv, "/void"), json={"reason": "Wrong patient"}, headers=w.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["void_reason"], got["number"]) == ("void", "Wrong patient", None)
    assert count(session, "journal_entries") == 0


def test_void_an_open_invoice_reverses_it(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open")
    session.commit()
    r = client.post(url(inv, "/void"), json={"reason": "Duplicate"}, headers=w.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["number"], got["total"], got["balance"]) == (
        "void",
        "INV-000001",
        "125.00",
        "0.00",
    )
    issued, reversal = entries_of(session, inv.id)
    assert (issued.kind, reversal.kind) == ("invoice.issue", "invoice.void")
    assert reversal.reverses_id == issued.id
    assert LedgerRepository(session).invoice_ar_balances([inv.id]) == {inv.id: 0}


def test_credit_note_of_the_full_balance(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open")
    session.commit()
    r = client.post(
        url(inv, "/credit-notes"),
        json={"amount": "125.00", "reason_code": "courtesy", "memo": "Goodwill"},
        headers=w.headers,
    )
    assert r.status_code == 201, r.text
    got = r.json()
    assert uuid.UUID(got.pop("id"))
    assert got.pop("created_at")
    assert got == {
        "invoice_id": str(inv.id),
        "kind": "credit_note",
        "reason_code": "courtesy",
        "amount": "125.00",
        "currency": "USD",
        "memo": "Goodwill",
    }
    got = client.get(url(inv), headers=w.headers).json()
    assert (got["status"], got["adjusted"], got["balance"]) == ("paid", "125.00", "0.00")


@pytest.mark.parametrize(
    ("state", "written_off", "paid"),
    [("open", "125.00", "0.00"), ("partially_paid", "75.00", "50.00")],
)
def test_write_off_the_remaining_balance(
    client: TestClient, session: Session, w: World, state: str, written_off: str, paid: str
) -> None:
    inv = w.invoice(state)
    session.commit()
    r = client.post(
        url(inv, "/write-off"),
        json={"reason_code": "collection_agency", "memo": "Sent out"},
        headers=w.headers,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["written_off"], got["paid"], got["balance"]) == (
        "written_off",
        written_off,
        paid,
        "0.00",
    )


def test_issuing_a_zero_total_invoice_marks_it_paid(client: TestClient, w: World) -> None:
    r = client.post(
        "/api/v1/invoices",
        json=invoice_json(w.patient.id, [line_json(price="0.00")]),
        headers=w.headers,
    )
    assert r.status_code == 201
    r = client.post(url(uuid.UUID(r.json()["id"]), "/issue"), headers=w.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["number"], got["total"], got["balance"]) == (
        "paid",
        "INV-000001",
        "0.00",
        "0.00",
    )


# refusals ----------------------------------------------------------------------------------------

GOOD_CREDIT = {"amount": "1.00", "reason_code": "courtesy"}


@pytest.mark.parametrize(
    ("state", "method", "suffix", "body", "status", "code"),
    [
        ("open", "PATCH", "", {"memo": "x"}, 409, "invoice.not_editable"),
        ("partially_paid", "PATCH", "", {"memo": "x"}, 409, "invoice.not_editable"),
        ("open", "POST", "/issue", None, 409, "invoice.illegal_transition"),
        ("paid", "POST", "/issue", {}, 409, "invoice.illegal_transition"),
        ("void", "POST", "/void", {"reason": "again"}, 409, "invoice.already_void"),
        ("partially_paid", "POST", "/void", {"reason": "x"}, 409, "invoice.has_payments"),
        ("paid", "POST", "/void", {"reason": "x"}, 409, "invoice.has_payments"),
        ("written_off", "POST", "/void", {"reason": "x"}, 409, "invoice.illegal_transition"),
        (
            "open",
            "POST",
            "/credit-notes",
            {"amount": "125.01", "reason_code": "billing_error"},
            409,
            "invoice.credit_exceeds_balance",
        ),
        (
            "partially_paid",
            "POST",
            "/credit-notes",
            {"amount": "75.01", "reason_code": "billing_error"},
            409,
            "invoice.credit_exceeds_balance",
        ),
        ("draft", "POST", "/credit-notes", GOOD_CREDIT, 409, "invoice.not_issued"),
        ("void", "POST", "/credit-notes", GOOD_CREDIT, 409, "invoice.voided"),
        ("written_off", "POST", "/credit-notes", GOOD_CREDIT, 409, "invoice.written_off"),
        ("paid", "POST", "/write-off", {"reason_code": "bad_debt"}, 409, "invoice.nothing_due"),
        ("draft", "POST", "/write-off", {"reason_code": "bad_debt"}, 409, "invoice.not_issued"),
        ("void", "POST", "/write-off", {"reason_code": "bad_debt"}, 409, "invoice.voided"),
        (
            "written_off",
            "POST",
            "/write-off",
            {"reason_code": "bad_debt"},
            409,
            "invoice.written_off",
        ),
        # payload validation
        (
            "open",
            "POST",
            "/credit-notes",
            {**GOOD_CREDIT, "amount": "0"},
            422,
            "money.not_positive",
        ),
        (
            "open",
            "POST",
            "/credit-notes",
            {**GOOD_CREDIT, "amount": "-5.00"},
            422,
            "money.not_positive",
        ),
        (
            "open",
            "POST",
            "/credit-notes",
            {**GOOD_CREDIT, "amount": 12.5},
            422,
            "money.not_a_string",
        ),
        (
            "open",
            "POST",
            "/credit-notes",
            {**GOOD_CREDIT, "amount": "1.005"},
            400,
            "money.too_many_decimals",
        ),
        (
            "open",
            "POST",
            "/credit-notes",
            {**GOOD_CREDIT, "amount": "1 dollar"},
            422,
            "money.invalid",
        ),
        (
            "open",
            "POST",
            "/credit-notes",
            {**GOOD_CREDIT, "extra": 1},
            422,
            "request.unknown_field",
        ),
        ("open", "POST", "/credit-notes", {"amount": "1.00"}, 422, "request.missing_field"),
        ("open", "POST", "/write-off", {"reason_code": "bored"}, 422, "request.invalid"),
        ("open", "POST", "/void", {}, 422, "request.missing_field"),
        ("open", "POST", "/issue", {"issue_date": TOMORROW}, 409, "invoice.illegal_transition"),
        ("draft", "POST", "/issue", {"issue_date": TOMORROW}, 400, "invoice.issue_date_in_future"),
        (
            "draft",
            "POST",
            "/issue",
            {"issue_date": "2026-01-04"},
            400,
            "invoice.issue_before_service",
        ),
        (
            "draft",
            "PATCH",
            "",
            {"lines": [line_json(dos=TOMORROW)]},
            400,
            "invoice.service_date_in_future",
        ),
        ("draft", "PATCH", "", {"lines": []}, 422, "request.invalid"),
        ("draft", "PATCH", "", {"number": "INV-000009"}, 422, "request.unknown_field"),
        ("draft", "PATCH", "", {"status": "paid"}, 422, "request.unknown_field"),
    ],
)
def test_refused_invoice_requests_change_nothing(
    client: TestClient,
    session: Session,
    w: World,
    state: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
    status: int,
    code: str,
) -> None:
    inv = w.invoice(state)
    session.commit()
    before = snapshot(session, inv.id)
    r = client.request(method, url(inv, suffix), json=body, headers=w.headers)
    assert_problem(r, status, code)
    assert snapshot(session, inv.id) == before


def _create_cases() -> list[Any]:
    def case(id_: str, lines: list[dict[str, Any]], st: int, code: str, **top: Any) -> Any:
        return pytest.param(lines, top, st, code, id=id_)

    return [
        case("icd10", [line_json(diagnosis_codes=["XYZ"])], 422, "code.icd10_invalid"),
        case("cpt", [line_json(code="9921")], 422, "code.procedure_invalid"),
        case("modifier", [line_json(modifiers=["2"])], 422, "code.modifier_invalid"),
        case(
            "5-modifiers",
            [line_json(modifiers=["25", "59", "LT", "RT", "76"])],
            422,
            "request.invalid",
        ),
        case(
            "5-diagnoses",
            [line_json(diagnosis_codes=["A00", "A01", "A02", "A03", "A04"])],
            422,
            "request.invalid",
        ),
        case("units-0", [line_json(units=0)], 422, "request.invalid"),
        case("units-negative", [line_json(units=-1)], 422, "request.invalid"),
        case("units-10000", [line_json(units=10000)], 422, "request.invalid"),
        case("price-float", [line_json(price=12.5)], 422, "money.not_a_string"),  # type: ignore[arg-type]
        case("price-negative", [line_json(price="-5.00")], 422, "money.negative"),
        case("price-3-decimals", [line_json(price="10.005")], 400, "money.too_many_decimals"),
        case("dos-future", [line_json(dos=TOMORROW)], 400, "invoice.service_date_in_future"),
        case("no-price", [line_json(price=None)], 400, "invoice.no_price"),
        case(
            "discount-over-line",
            [line_json(discount_amount="125.01")],
            400,
            "invoice.discount_exceeds_line",
        ),
        case(
            "two-discounts",
            [line_json(discount_amount="1.00", discount_percent="5")],
            422,
            "request.invalid",
        ),
        case("percent-over-100", [line_json(discount_percent="100.5")], 422, "request.invalid"),
        case("no-lines", [], 422, "request.invalid"),
        case("unknown-line-field", [line_json(colour="red")], 422, "request.unknown_field"),
        case("unknown-field", [line_json()], 422, "request.unknown_field", status="paid"),
        case("fixed-without-date", [line_json()], 422, "request.invalid", terms="fixed_date"),
        case(
            "issue-date-future",
            [line_json()],
            400,
            "invoice.issue_date_in_future",
            issue=True,
            issue_date=TOMORROW,
        ),
        case(
            "due-before-issue",
            [line_json()],
            400,
            "invoice.due_before_issue",
            issue=True,
            issue_date="2026-03-10",
            terms="fixed_date",
            due_date="2026-03-09",
        ),
        case(
            "unknown-patient", [line_json()], 404, "patient.not_found", patient_id=str(uuid.uuid4())
        ),
    ]


@pytest.mark.parametrize(("lines", "top", "status", "code"), _create_cases())
def test_refused_invoice_creation_changes_nothing(
    client: TestClient,
    session: Session,
    w: World,
    lines: list[dict[str, Any]],
    top: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = snapshot(session)
    body = invoice_json(w.patient.id, lines or None)
    body.update(top)
    if not lines:
        body["lines"] = []
    r = client.post("/api/v1/invoices", json=body, headers=w.headers)
    assert_problem(r, status, code)
    assert snapshot(session) == before


def test_validation_problems_list_each_error_without_echoing_input(
    client: TestClient, w: World
) -> None:
    """api/problems.py: "Never echo the input back: it may be PHI". A diagnosis code on a
    patient's bill is PHI, so neither ``detail`` nor ``errors[].message`` may contain it."""
    body = invoice_json(
        w.patient.id, [line_json(diagnosis_codes=["Q99.ZZZZZ"], description="PHI-NAME")]
    )
    r = client.post("/api/v1/invoices", json=body, headers=w.headers)
    got = assert_problem(r, 422, "code.icd10_invalid")
    assert [(e["loc"], e["type"]) for e in got["errors"]] == [
        (["body", "lines", 0, "diagnosis_codes", 0], "code.icd10_invalid")
    ]
    assert got["errors"][0]["message"]
    assert got["instance"] == "/api/v1/invoices"
    assert "PHI-NAME" not in r.text
    assert "Q99.ZZZZZ" not in r.text


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"memo": "x"}),
        ("POST", "/issue", None),
        ("POST", "/void", {"reason": "x"}),
        ("POST", "/credit-notes", GOOD_CREDIT),
        ("POST", "/write-off", {"reason_code": "bad_debt"}),
        ("GET", "/history", None),
    ],
)
def test_unknown_invoice_is_404(
    client: TestClient,
    session: Session,
    w: World,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    before = snapshot(session)
    r = client.request(method, url(uuid.uuid4(), suffix), json=body, headers=w.headers)
    assert_problem(r, 404, "invoice.not_found")
    assert snapshot(session) == before


def test_malformed_invoice_id_is_422(client: TestClient, w: World) -> None:
    assert_problem(
        client.get("/api/v1/invoices/not-a-uuid", headers=w.headers), 422, "request.invalid"
    )


def test_malformed_json(client: TestClient, session: Session, w: World) -> None:
    before = snapshot(session)
    r = client.post(
        "/api/v1/invoices",
        content=b'{"patient_id": "' + str(w.patient.id).encode() + b'", "lines": [',
        headers={**w.headers, "Content-Type": "application/json"},
    )
    assert_problem(r, 400, "request.malformed_json")
    assert snapshot(session) == before


def test_oversized_body(client: TestClient, session: Session, w: World) -> None:
    before = snapshot(session)
    body = invoice_json(w.patient.id, memo="x" * 1_000_001)
    r = client.post("/api/v1/invoices", json=body, headers=w.headers)
    assert_problem(r, 413, "request.too_large")
    assert snapshot(session) == before


def test_oversized_body_without_content_length(
    client: TestClient, session: Session, w: World
) -> None:
    before = snapshot(session)

    def chunks() -> Any:
        yield b'{"patient_id": "' + str(w.patient.id).encode() + b'", "memo": "'
        for _ in range(11):
            yield b"x" * 100_000
        yield b'"}'

    r = client.post(
        "/api/v1/invoices",
        content=chunks(),
        headers={**w.headers, "Content-Type": "application/json"},
    )
    assert_problem(r, 413, "request.too_large")
    assert snapshot(session) == before


def test_unauthenticated_is_401(client: TestClient, session: Session, w: World) -> None:
    before = snapshot(session)
    r = client.post("/api/v1/invoices", json=invoice_json(w.patient.id))
    assert_problem(r, 401, "auth.unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/api/v1/invoices", headers={"Authorization": "Bearer nope"})
    assert_problem(r, 401, "auth.invalid_token")
    # A presented but unknown token is a security event (no user is known); a missing one is not.
    assert snapshot(session) == {**before, "security_events": before["security_events"] + 1}
    assert security_events(session, before) == [
        (
            "security:token_invalid",
            None,
            {"code": "auth.invalid_token", "status": 401, "method": "GET", "route": INVOICES},
        )
    ]


# numbering ---------------------------------------------------------------------------------------


def test_numbers_are_gap_free_in_issue_order(
    client: TestClient, session: Session, w: World
) -> None:
    ids = []
    for _ in range(4):
        r = client.post("/api/v1/invoices", json=invoice_json(w.patient.id), headers=w.headers)
        assert r.status_code == 201
        ids.append(r.json()["id"])
    a, b, c, dropped = ids
    r = client.post(f"/api/v1/invoices/{dropped}/void", json={"reason": "x"}, headers=w.headers)
    assert r.json()["number"] is None
    got = [
        client.post(f"/api/v1/invoices/{i}/issue", headers=w.headers).json()["number"]
        for i in (c, a, b)
    ]
    assert got == ["INV-000001", "INV-000002", "INV-000003"]
    # A second practice numbers from 1 with its own prefix.
    other = make_practice(session, invoice_prefix="NORTH")
    patient = make_patient(session, other)
    boss = make_user(session, "admin", practices=[other])
    headers = auth_header(session, boss)
    session.commit()
    r = client.post("/api/v1/invoices", json=invoice_json(patient.id, issue=True), headers=headers)
    assert r.json()["number"] == "NORTH-000001"
    r = client.post(
        "/api/v1/invoices", json=invoice_json(w.patient.id, issue=True), headers=w.headers
    )
    assert r.json()["number"] == "INV-000004"


# Idempotency-Key on POST /invoices ---------------------------------------------------------------


def test_idempotent_invoice_creation(client: TestClient, session: Session, w: World) -> None:
    body = invoice_json(w.patient.id, issue=True)
    headers = {**w.headers, "Idempotency-Key": "inv-create-1"}
    first = client.post("/api/v1/invoices", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    after_first = snapshot(session)
    second = client.post("/api/v1/invoices", json=body, headers=headers)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert snapshot(session) == after_first
    assert (after_first["invoices"], after_first["journal_entries"]) == (1, 1)
    # The same key with another body is refused and writes nothing.
    other = client.post(
        "/api/v1/invoices", json=invoice_json(w.patient.id, memo="other"), headers=headers
    )
    assert_problem(other, 422, "idempotency.key_reused")
    assert snapshot(session) == after_first


# access ------------------------------------------------------------------------------------------


def test_patient_sees_only_their_own_invoices(
    client: TestClient, session: Session, w: World
) -> None:
    mine = w.invoice("open")
    sibling = make_patient(session, w.practice, first_name="Sam")
    theirs = w.invoice("open", patient=sibling)
    me = make_user(session, "patient", patient=w.patient)
    headers = auth_header(session, me)
    session.commit()
    before = snapshot(session, mine.id, theirs.id)

    r = client.get(url(mine), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["number"] == mine.display_number
    assert (
        client.get(f"/api/v1/patients/{w.patient.id}/statement", headers=headers).status_code == 200
    )
    assert_problem(client.get(url(theirs), headers=headers), 404, "invoice.not_found")
    assert_problem(client.get(url(theirs, "/history"), headers=headers), 404, "invoice.not_found")
    assert_problem(
        client.get(f"/api/v1/patients/{sibling.id}/statement", headers=headers),
        404,
        "patient.not_found",
    )
    r = client.get("/api/v1/invoices", headers=headers)
    assert [i["id"] for i in r.json()["items"]] == [str(mine.id)]
    r = client.get("/api/v1/invoices", params={"patient_id": str(sibling.id)}, headers=headers)
    assert r.json()["items"] == []
    after_reads = snapshot(session, mine.id, theirs.id)
    for method, path, body in [
        ("POST", "/api/v1/invoices", invoice_json(w.patient.id)),
        ("POST", url(mine, "/void"), {"reason": "x"}),
        ("POST", url(mine, "/credit-notes"), GOOD_CREDIT),
        ("POST", url(mine, "/write-off"), {"reason_code": "bad_debt"}),
        ("PATCH", url(mine), {"memo": "x"}),
    ]:
        assert_problem(
            client.request(method, path, json=body, headers=headers), 403, "auth.forbidden"
        )
    # Refusals write nothing but one security event each.
    assert snapshot(session, mine.id, theirs.id) == {
        **after_reads,
        "security_events": after_reads["security_events"] + 5,
    }
    # Reads are audited: the invoice, its statement, and the list (one event for the one patient
    # it showed; the empty list shows nobody).
    assert after_reads["audit_events"] == before["audit_events"] + 3
    one = f"{INVOICES}/{{invoice_id}}"
    assert security_events(session, before) == [
        denial(
            "patient",
            "GET",
            one,
            404,
            "invoice.not_found",
            object_type="invoice",
            object_id=str(theirs.id),
        ),
        denial(
            "patient",
            "GET",
            f"{one}/history",
            404,
            "invoice.not_found",
            object_type="invoice",
            object_id=str(theirs.id),
        ),
        denial(
            "patient",
            "GET",
            "/api/v1/patients/{patient_id}/statement",
            404,
            "patient.not_found",
            object_type="patient",
            object_id=str(sibling.id),
        ),
        denial("patient", "POST", INVOICES, 403, "auth.forbidden"),
        denial("patient", "POST", f"{one}/void", 403, "auth.forbidden"),
        denial("patient", "POST", f"{one}/credit-notes", 403, "auth.forbidden"),
        denial("patient", "POST", f"{one}/write-off", 403, "auth.forbidden"),
        denial("patient", "PATCH", one, 403, "auth.forbidden"),
    ]


def test_staff_of_another_practice_sees_nothing(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open")
    elsewhere = make_practice(session)
    outsider = make_user(session, "billing_staff", practices=[elsewhere])
    own = make_invoice(session, make_patient(session, elsewhere))
    headers = auth_header(session, outsider)
    session.commit()
    before = snapshot(session, inv.id)
    assert_problem(client.get(url(inv), headers=headers), 404, "invoice.not_found")
    assert_problem(
        client.post(url(inv, "/void"), json={"reason": "x"}, headers=headers),
        404,
        "invoice.not_found",
    )
    assert_problem(
        client.get(f"/api/v1/patients/{w.patient.id}/statement", headers=headers),
        404,
        "patient.not_found",
    )
    assert_problem(
        client.post("/api/v1/invoices", json=invoice_json(w.patient.id), headers=headers),
        404,
        "patient.not_found",
    )
    assert snapshot(session, inv.id) == {**before, "security_events": before["security_events"] + 4}
    one = f"{INVOICES}/{{invoice_id}}"
    invoice = {"object_type": "invoice", "object_id": str(inv.id)}
    patient = {"object_type": "patient", "object_id": str(w.patient.id)}
    assert security_events(session, before) == [
        denial("billing_staff", "GET", one, 404, "invoice.not_found", **invoice),
        denial("billing_staff", "POST", f"{one}/void", 404, "invoice.not_found", **invoice),
        denial(
            "billing_staff",
            "GET",
            "/api/v1/patients/{patient_id}/statement",
            404,
            "patient.not_found",
            **patient,
        ),
        denial("billing_staff", "POST", INVOICES, 404, "patient.not_found", **patient),
    ]
    r = client.get("/api/v1/invoices", headers=headers)
    assert [i["id"] for i in r.json()["items"]] == [str(own.id)]
    r = client.get("/api/v1/invoices", params={"practice_id": str(w.practice.id)}, headers=headers)
    assert r.json()["items"] == []


# list filters and pagination ---------------------------------------------------------------------


@pytest.fixture
def listed(session: Session, w: World) -> dict[str, Invoice]:
    """Invoices in many states for two patients; old ones issued in the past (overdue)."""
    other = make_patient(session, w.practice, first_name="Sam")
    made = {
        "draft": w.invoice("draft"),
        "open": w.invoice("open"),
        "partially_paid": w.invoice("partially_paid"),
        "paid": w.invoice("paid"),
        "void": w.invoice("void"),
        "written_off": w.invoice("written_off"),
        "other_open": w.invoice("open", patient=other),
        # issued 2026-02-01 and 2026-03-01 with net 30: overdue now
        "old_open": make_invoice(
            session, w.patient, lines=priced("40.00"), issue_date=dt.date(2026, 2, 1)
        ),
        "old_partial": make_invoice(
            session, other, lines=priced("60.00"), issue_date=dt.date(2026, 3, 1)
        ),
        "old_paid": make_invoice(
            session, w.patient, lines=priced("10.00"), issue_date=dt.date(2026, 3, 1)
        ),
    }
    pay(session, other, "20.00", [(made["old_partial"], "20.00")])
    pay(session, w.patient, "10.00", [(made["old_paid"], "10.00")])
    session.commit()
    assert stored_status(session, made["old_partial"].id) == "partially_paid"
    return made


def ids_of(r: Any) -> set[str]:
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["items"]}


def expect(listed: dict[str, Invoice], *names: str) -> set[str]:
    return {str(listed[n].id) for n in names}


def test_list_everything_visible(client: TestClient, w: World, listed: dict[str, Invoice]) -> None:
    r = client.get("/api/v1/invoices", headers=w.headers)
    assert ids_of(r) == expect(listed, *listed)
    assert r.json()["next_cursor"] is None
    assert all(i["lines"] is None for i in r.json()["items"])
    r = client.get("/api/v1/invoices", params={"include_lines": "true"}, headers=w.headers)
    assert all(len(i["lines"]) == 1 for i in r.json()["items"])


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"status": "open"}, ["open", "other_open", "old_open"]),
        (
            {"status": ["open", "partially_paid"]},
            ["open", "other_open", "old_open", "partially_paid", "old_partial"],
        ),
        ({"status": ["void", "written_off", "draft"]}, ["void", "written_off", "draft"]),
        ({"status": "paid"}, ["paid", "old_paid"]),
        ({"overdue": "true"}, ["old_open", "old_partial"]),
        ({"overdue": "true", "status": "partially_paid"}, ["old_partial"]),
        (
            {"issued_from": "2026-02-01", "issued_to": "2026-03-01"},
            ["old_open", "old_partial", "old_paid"],
        ),
        ({"issued_from": "2026-02-02", "issued_to": "2026-03-01"}, ["old_partial", "old_paid"]),
        ({"issued_to": "2026-02-01"}, ["old_open"]),
    ],
)
def test_list_filters(
    client: TestClient,
    w: World,
    listed: dict[str, Invoice],
    params: dict[str, Any],
    names: list[str],
) -> None:
    r = client.get("/api/v1/invoices", params=params, headers=w.headers)
    assert ids_of(r) == expect(listed, *names)


def test_list_filter_by_patient(client: TestClient, w: World, listed: dict[str, Invoice]) -> None:
    other_id = listed["other_open"].patient_id
    r = client.get("/api/v1/invoices", params={"patient_id": str(other_id)}, headers=w.headers)
    assert ids_of(r) == expect(listed, "other_open", "old_partial")
    r = client.get(
        "/api/v1/invoices",
        params={"patient_id": str(w.patient.id), "overdue": "true"},
        headers=w.headers,
    )
    assert ids_of(r) == expect(listed, "old_open")
    overdue = r.json()["items"][0]
    assert (overdue["overdue"], overdue["due_date"], overdue["balance"]) == (
        True,
        "2026-03-03",
        "40.00",
    )


def test_list_invalid_status_is_422(client: TestClient, w: World) -> None:
    assert_problem(
        client.get("/api/v1/invoices", params={"status": "late"}, headers=w.headers),
        422,
        "request.invalid",
    )


def test_cursor_pagination_walks_every_row_once(
    client: TestClient, w: World, listed: dict[str, Invoice]
) -> None:
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/api/v1/invoices", params=params, headers=w.headers)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert len(items) == 2 or r.json()["next_cursor"] is None
        seen += [i["id"] for i in items]
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 10
    assert set(seen) == expect(listed, *listed)
    assert seen == sorted(seen, key=uuid.UUID, reverse=True)  # newest id first, stable


def test_paginated_filter(client: TestClient, w: World, listed: dict[str, Invoice]) -> None:
    r1 = client.get("/api/v1/invoices", params={"status": "open", "limit": 2}, headers=w.headers)
    r2 = client.get(
        "/api/v1/invoices",
        params={"status": "open", "limit": 2, "cursor": r1.json()["next_cursor"]},
        headers=w.headers,
    )
    assert r2.json()["next_cursor"] is None
    assert ids_of(r1) | ids_of(r2) == expect(listed, "open", "other_open", "old_open")
    assert not ids_of(r1) & ids_of(r2)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "garbage!"}, 400, "pagination.invalid_cursor"),
        ({"cursor": "eyJpZCI6MX0"}, 400, "pagination.invalid_cursor"),  # {"id":1}
        ({"limit": 0}, 422, "request.invalid"),
        ({"limit": 201}, 422, "request.invalid"),
    ],
)
def test_list_bad_paging(
    client: TestClient, w: World, params: dict[str, Any], status: int, code: str
) -> None:
    assert_problem(client.get("/api/v1/invoices", params=params, headers=w.headers), status, code)


def test_list_reads_balances_from_the_ledger(
    client: TestClient, w: World, listed: dict[str, Invoice]
) -> None:
    r = client.get("/api/v1/invoices", headers=w.headers)
    got = {
        i["id"]: (i["status"], i["paid"], i["written_off"], i["balance"]) for i in r.json()["items"]
    }
    assert got[str(listed["partially_paid"].id)] == ("partially_paid", "50.00", "0.00", "75.00")
    assert got[str(listed["written_off"].id)] == ("written_off", "0.00", "125.00", "0.00")
    assert got[str(listed["void"].id)] == ("void", "0.00", "0.00", "0.00")
    assert got[str(listed["draft"].id)] == ("draft", "0.00", "0.00", "0.00")
    assert got[str(listed["old_partial"].id)] == ("partially_paid", "20.00", "0.00", "40.00")


# other currencies and limits ---------------------------------------------------------------------


def test_zero_decimal_currency(client: TestClient, session: Session) -> None:
    practice = make_practice(session, currency="JPY")
    patient = make_patient(session, practice)
    headers = auth_header(session, make_user(session, "billing_staff", practices=[practice]))
    session.commit()
    body = invoice_json(
        patient.id, [line_json(price="1500", units=3, discount_percent="10.5")], issue=True
    )
    r = client.post("/api/v1/invoices", json=body, headers=headers)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["currency"], got["subtotal"], got["discount"], got["total"]) == (
        "JPY",
        "4500",
        "473",  # 472.5 rounds half up
        "4027",
    )
    assert got["lines"][0]["unit_price"] == "1500"
    pay_body = {"patient_id": str(patient.id), "amount": "4027.5", "method": "cash"}
    assert_problem(
        client.post("/api/v1/payments", json=pay_body, headers=headers),
        400,
        "money.too_many_decimals",
    )
    r = client.post("/api/v1/payments", json=pay_body | {"amount": "4027"}, headers=headers)
    assert (r.status_code, r.json()["amount"], r.json()["unapplied"]) == (201, "4027", "0")
    got = client.get(url(uuid.UUID(got["id"])), headers=headers).json()
    assert (got["status"], got["paid"], got["balance"]) == ("paid", "4027", "0")


def test_body_limit_boundary(client: TestClient, session: Session, w: World) -> None:
    body = invoice_json(w.patient.id)
    raw = json.dumps(body).encode()
    exact = raw[:-1] + b" " * (1_000_000 - len(raw)) + b"}"
    assert len(exact) == 1_000_000
    headers = {**w.headers, "Content-Type": "application/json"}
    r = client.post("/api/v1/invoices", content=exact, headers=headers)
    assert r.status_code == 201, r.text
    before = snapshot(session)
    r = client.post("/api/v1/invoices", content=exact + b" ", headers=headers)
    assert_problem(r, 413, "request.too_large")
    assert snapshot(session) == before


def test_void_a_fully_credited_invoice(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open")
    session.commit()
    r = client.post(
        url(inv, "/credit-notes"),
        json={"amount": "125.00", "reason_code": "billing_error"},
        headers=w.headers,
    )
    assert r.status_code == 201
    r = client.post(url(inv, "/void"), json={"reason": "Billed in error"}, headers=w.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["adjusted"], got["balance"]) == ("void", "0.00", "0.00")
    kinds = sorted(e.kind for e in entries_of(session, inv.id))
    assert kinds == [
        "invoice.credit_note",
        "invoice.credit_note_void",
        "invoice.issue",
        "invoice.void",
    ]


def test_key_after_a_validation_error_is_still_free(
    client: TestClient, session: Session, w: World
) -> None:
    """A payload that never reached the service reserved nothing: the fixed retry goes through."""
    headers = {**w.headers, "Idempotency-Key": "retry-after-422"}
    bad = client.post("/api/v1/invoices", json=invoice_json(w.patient.id, memo=""), headers=headers)
    assert_problem(bad, 422, "request.invalid")
    assert count(session, "idempotency_keys") == 0
    good = client.post("/api/v1/invoices", json=invoice_json(w.patient.id), headers=headers)
    assert good.status_code == 201, good.text
    assert "idempotent-replayed" not in good.headers


@pytest.mark.parametrize(
    "lines",
    [
        [line_json(price="999999999999999", units=9999)],  # one line: ~1e21 cents
        [line_json(price="999999999999999")] * 100,  # a total above 2**63 - 1 cents
    ],
    ids=["line", "total"],
)
def test_amounts_beyond_the_storable_range_are_refused_not_a_500(
    client: TestClient, session: Session, w: World, lines: list[dict[str, Any]]
) -> None:
    """Minor units are stored as BIGINT: an invoice whose figures do not fit must be refused as
    invalid input (4xx problem), never crash into a 500 at INSERT time."""
    before = snapshot(session)
    r = client.post(
        "/api/v1/invoices", json=invoice_json(w.patient.id, lines, issue=True), headers=w.headers
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert snapshot(session) == before
