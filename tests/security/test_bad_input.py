"""Hostile input on every route that takes a body (issue 3, "Bad input").

The walker reads ``/openapi.json``, finds every POST/PATCH/PUT route with a JSON body (a route
missing from ROUTES fails the test), builds a body the caller may send (checked: it is accepted),
finds every string-typed field of its schema (``$ref``s, nested objects and arrays of objects
resolved) and sends each hostile value of ``PAYLOADS`` into each field, one request at a time.
For every request:

* never a 5xx; a 4xx is problem+json with a stable dotted code and does not repeat the value;
* a 4xx wrote nothing: every table's row count is unchanged (rate-limit/lockout counters aside)
  and the audit trail gained no change or read event (a refusal may be a security event);
* free text (bounded strings without pattern, format or enumeration) takes SQL, HTML and
  right-to-left override text as data: 2xx, the value reads back byte for byte through the API,
  and the route's table gained exactly the expected rows; over-long text, control characters and
  wrong JSON types are refused everywhere; structured fields (codes, dates, ids, enumerations)
  refuse every hostile value.

Then raw bodies (invalid UTF-8, deep nesting, huge numbers, NaN, duplicate keys), garbage in path
and query parameters, the OAuth2 token form, and HTML escaping in the web UI.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from revcycle.appeals import service as appeals_service
from revcycle.appeals.schemas import AppealCreate
from revcycle.auth import service as auth_service
from revcycle.auth.models import User
from revcycle.cash import service as cash
from revcycle.cash.schemas import DrawerClose, DrawerOpen
from revcycle.claims import service as claims_service
from revcycle.claims import states as claim_states
from revcycle.claims.schemas import ClaimCreate
from revcycle.config import Settings
from revcycle.fraud.models import FraudReview
from revcycle.gateway.testgw.service import tokenize as gw_tokenize
from revcycle.invoices.models import Invoice
from revcycle.kit.clock import today, utcnow
from revcycle.patients.models import Patient
from revcycle.payments.models import Payment
from revcycle.payments.schemas import PaymentCreate
from revcycle.payments.service import record_payment
from revcycle.practices.models import Practice, Provider, ServiceItem
from revcycle.remittances import service as remittances_service
from revcycle.remittances.models import RemittanceClaim, RemittanceUnmatched
from tests.auth.helpers import client_with, code, secret_of
from tests.factories.appeals import denied_detail
from tests.factories.auth import PASSWORD, auth_header, make_user, principal
from tests.factories.insurance import make_authorization, make_coverage, make_payer, make_plan
from tests.factories.invoices import line, make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import (
    SYSTEM,
    make_practice,
    make_provider,
    make_service_item,
    valid_npi,
)
from tests.gateway.helpers import APPROVED, EXP_YEAR
from tests.refunds.helpers import limits, refund
from tests.remittances.helpers import era_text
from tests.security.bad_input import (
    PAYLOADS,
    Payload,
    StringField,
    alternatives,
    audit_counts,
    echoes,
    problem_errors,
    string_fields,
    table_counts,
    value_at,
    with_value,
)

NEW_PASSWORD = "a brand new passphrase 42"
_n = itertools.count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No rate limits and no address lockout: this module sends many requests on purpose."""
    return settings.model_copy(
        update={
            "rate_limit_login_per_minute": 0,
            "rate_limit_payments_per_minute": 0,
            "lockout_addr_threshold": 1_000_000,
        }
    )


@dataclass
class World:
    session: Session
    client: TestClient
    practice: Practice
    patient: Patient
    provider: Provider
    item: ServiceItem
    admin: dict[str, str]  # the admin's auth header: every route is open to it
    draft: Invoice  # patched by PATCH /invoices/{id}
    open_invoice: Invoice  # credited and paid against (a large balance)

    @classmethod
    def build(cls, session: Session, client: TestClient) -> World:
        practice = make_practice(session, name="Bad Input Practice")
        patient = make_patient(session, practice, first_name="Ada", last_name="Input")
        provider = make_provider(session, practice)
        item = make_service_item(session, practice, code="99214", price="180.00")
        admin = auth_header(session, make_user(session, "admin", practices=[practice]))
        draft = make_invoice(session, patient, issue=False)
        open_invoice = make_invoice(session, patient, lines=[line(price="5000.00")])
        session.commit()
        return cls(session, client, practice, patient, provider, item, admin, draft, open_invoice)

    def fresh_invoice(self, *, issue: bool) -> Invoice:
        inv = make_invoice(self.session, self.patient, issue=issue)
        self.session.commit()
        return inv

    def fresh_staff(self) -> tuple[User, dict[str, str]]:
        user = make_user(self.session, "billing_staff", practices=[self.practice])
        header = auth_header(self.session, user)
        self.session.commit()
        return user, header

    def enrolled_staff(self, *, confirmed: bool) -> tuple[dict[str, str], bytes]:
        _, header = self.fresh_staff()
        r = self.client.post("/api/v1/auth/totp/enrolment", headers=header)
        assert r.status_code == 201, r.text
        secret = secret_of(r.json()["otpauth_uri"])
        if confirmed:
            r = self.client.post(
                "/api/v1/auth/totp/confirm", json={"code": code(secret)}, headers=header
            )
            assert r.status_code == 204, r.text
        return header, secret

    def can_sign_in(self, username: str, password: str) -> bool:
        r = self.client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        return r.status_code == 200


@dataclass
class Prepared:
    url: str
    body: dict[str, Any]
    headers: dict[str, str]
    username: str | None = None  # whose password the request sets


# What a 2xx stored, as the API reads it back: a JSON object with the body's field names.
Readback = Callable[[World, Prepared, dict[str, Any]], dict[str, Any]]


def _get(url: str) -> Readback:
    def read(w: World, _p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
        r = w.client.get(url.format(**resp), headers=w.admin)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    return read


def _adjustment(w: World, _p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    r = w.client.get(f"/api/v1/invoices/{resp['invoice_id']}/history", headers=w.admin)
    assert r.status_code == 200, r.text
    (adj,) = [a for a in r.json()["adjustments"] if a["id"] == resp["id"]]
    return dict(adj)


def _written_off(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    r = w.client.get(f"/api/v1/invoices/{resp['id']}/history", headers=w.admin)
    assert r.status_code == 200, r.text
    (adj,) = [a for a in r.json()["adjustments"] if a["kind"] == "write_off"]
    return dict(adj)


def _voided(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    data = _get("/api/v1/invoices/{id}")(w, p, resp)
    return {"reason": data["void_reason"]}


def _password(field_name: str) -> Readback:
    """A password reads back by signing in with it (the account is stored, the hash is not
    readable)."""

    def read(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
        username = p.username or resp["username"]
        sent = p.body[field_name]
        return {field_name: sent if w.can_sign_in(username, sent) else "<sign-in refused>"}

    return read


def _search_result(_w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    assert resp == {"items": [], "next_cursor": None}  # nobody has these names
    return p.body  # nothing stored: a search is a read


@dataclass
class Route:
    prepare: Callable[[World], Prepared]
    table: str  # the table the route writes
    delta: int  # rows a 2xx adds to it
    readback: Readback | None = None
    # Free-text fields that are not stored as sent: every hostile value must be refused there.
    refused_text: frozenset[str] = frozenset()


def _line(**extra: Any) -> dict[str, Any]:
    return {
        "service_code": "99213",
        "modifiers": ["25"],
        "description": "Office visit",
        "units": 1,
        "unit_price": "125.00",
        "diagnosis_codes": ["E11.9"],
        "date_of_service": "2026-01-05",
        **extra,
    }


def _practice_body() -> dict[str, Any]:
    return {
        "name": "New Practice",
        "npi": valid_npi(),
        "tin": "12-3456789",
        "taxonomy": "207Q00000X",
        "address_line1": "1 Main St",
        "address_line2": "Suite 2",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "phone": "2175550100",
    }


def _p(w: World, url: str, body: dict[str, Any], **kw: Any) -> Prepared:
    return Prepared(url, body, kw.pop("headers", w.admin), **kw)


def _password_change(w: World) -> Prepared:
    user, header = w.fresh_staff()
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return Prepared("/api/v1/auth/password", body, header, username=user.username)


def _totp(path: str, *, confirmed: bool) -> Callable[[World], Prepared]:
    def prepare(w: World) -> Prepared:
        header, secret = w.enrolled_staff(confirmed=confirmed)
        # disabling needs a fresh code: the one that confirmed cannot be replayed
        totp = code(secret, 1) if confirmed else code(secret)
        return Prepared(path, {"code": totp}, header)

    return prepare


def _refund(w: World) -> Prepared:
    """A fresh 20.00 cash payment (all patient credit) refunded in part, with a fresh key."""
    view = record_payment(
        w.session,
        SYSTEM,
        PaymentCreate.model_validate(
            {"patient_id": w.patient.id, "amount": "20.00", "method": "cash", "allocations": []}
        ),
    )
    w.session.commit()
    headers = {**w.admin, "Idempotency-Key": f"bad-input-{next(_n)}"}
    return Prepared(
        f"/api/v1/payments/{view.payment.id}/refunds",
        {"amount": "5.00", "reason": "Overpaid at the desk"},
        headers,
    )


def _reject(w: World) -> Prepared:
    """A fresh approval request (a clerk's refund above a zero limit), rejected by an admin
    signed in with a second factor."""
    view = record_payment(
        w.session,
        SYSTEM,
        PaymentCreate.model_validate(
            {"patient_id": w.patient.id, "amount": "20.00", "method": "cash", "allocations": []}
        ),
    )
    clerk, _ = w.fresh_staff()
    request = refund(
        w.session, principal(w.session, clerk), view.payment.id, "5.00", limits=limits(refund="0")
    )
    approver = make_user(w.session, "admin", practices=[w.practice])
    token = auth_service.issue_token(w.session, approver, ttl_minutes=60, mfa=True).token
    w.session.commit()
    return Prepared(
        f"/api/v1/approval-requests/{request.id}/reject",
        {"reason": "Not justified"},
        {"Authorization": f"Bearer {token}"},
    )


def _rejected(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    data = _get("/api/v1/approval-requests/{id}")(w, p, resp)
    return {"reason": data["decision_reason"]}


def _decide(w: World) -> Prepared:
    """A fresh fraud flag (a clerk's second 7.00 cash payment of the patient in minutes; the
    earlier ones are moved out of the window), dismissed by the admin."""
    clerk, _ = w.fresh_staff()
    w.session.execute(update(Payment).values(created_at=utcnow() - dt.timedelta(hours=1)))
    for _ in range(2):
        record_payment(
            w.session,
            principal(w.session, clerk),
            PaymentCreate.model_validate(
                {"patient_id": w.patient.id, "amount": "7.00", "method": "cash"}
            ),
        )
    flag = w.session.scalars(select(FraudReview).where(FraudReview.actor_user_id == clerk.id)).one()
    w.session.commit()
    headers = {**w.admin, "Idempotency-Key": f"bad-input-{next(_n)}"}
    return Prepared(
        f"/api/v1/fraud/reviews/{flag.id}/decide",
        {"decision": "dismiss", "note": "Seen, a family paying twice"},
        headers,
    )


def _review_decided(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    data = _get("/api/v1/fraud/reviews/{id}")(w, p, resp)
    return {"note": data["decision_note"]}


def _rule_update(w: World) -> Prepared:
    """A fresh practice's first setting of a rule, by its admin."""
    practice = make_practice(w.session, name=f"Rules {next(_n)}")
    header = auth_header(w.session, make_user(w.session, "admin", practices=[practice]))
    w.session.commit()
    return Prepared(
        f"/api/v1/practices/{practice.id}/fraud-rules/duplicate_payment",
        {"enabled": True, "action": "hold", "params": {"window_minutes": 15}},
        header,
    )


def _clerk(w: World) -> tuple[Any, dict[str, str]]:
    """A fresh billing clerk (one open drawer per user) and their header with a fresh key."""
    user, header = w.fresh_staff()
    return principal(w.session, user), {**header, "Idempotency-Key": f"bad-input-{next(_n)}"}


def _open_drawer(w: World, clerk: Any, *, takings: str | None = None) -> uuid.UUID:
    drawer = cash.open_drawer(
        w.session,
        clerk,
        w.practice.id,
        DrawerOpen.model_validate({"location": "Desk", "opening_float": "20.00"}),
        idempotency_key="k",
    ).drawer
    if takings is not None:
        record_payment(
            w.session,
            clerk,
            PaymentCreate.model_validate(
                {"patient_id": w.patient.id, "amount": takings, "method": "cash", "allocations": []}
            ),
        )
    w.session.commit()
    return drawer.id


def _drawer_open(w: World) -> Prepared:
    _, headers = _clerk(w)
    body = {"location": "Front desk 2", "opening_float": "20.00"}
    return Prepared(f"/api/v1/practices/{w.practice.id}/cash/drawers", body, headers)


def _drawer_close(w: World) -> Prepared:
    clerk, headers = _clerk(w)
    drawer_id = _open_drawer(w, clerk)
    body = {
        "counted_cash": "20.00",
        "denominations": [{"value": "20.00", "count": 1}],
        "counted_checks": "0.00",
        "note": "Counted twice",
    }
    return Prepared(f"/api/v1/cash/drawers/{drawer_id}/close", body, headers)


def _deposit(w: World) -> Prepared:
    clerk, headers = _clerk(w)
    drawer_id = _open_drawer(w, clerk, takings="5.00")
    cash.close_drawer(
        w.session,
        clerk,
        drawer_id,
        DrawerClose.model_validate({"counted_cash": "25.00"}),
        idempotency_key="k",
    )
    w.session.commit()
    body = {"drawer_ids": [str(drawer_id)], "bank_reference": "Slip 12", "deposited_on": None}
    return Prepared(f"/api/v1/practices/{w.practice.id}/cash/deposits", body, headers)


def _user_update(w: World) -> Prepared:
    user, _ = w.fresh_staff()
    body = {"active": True, "password": NEW_PASSWORD}
    return _p(w, f"/api/v1/users/{user.id}", body, username=user.username)


# Insurance (docs/insurance.md) ------------------------------------------------------------------


def _ins(w: World) -> tuple[Any, Any]:
    """One payer and plan (with fee schedule) per world, created on first use."""
    found = w.__dict__.get("_insurance")
    if found is None:
        payer = make_payer(w.session, w.practice)
        found = (payer, make_plan(w.session, payer, rates={"99214": "150.00"}))
        w.session.commit()
        w.__dict__["_insurance"] = found
    return found


def _fresh_coverage(w: World) -> Any:
    """A new patient with a primary coverage (so coverage routes never hit a COB conflict)."""
    _, plan = _ins(w)
    patient = make_patient(w.session, w.practice, first_name="Cover", last_name="Age")
    view = make_coverage(w.session, patient, plan)
    w.session.commit()
    return view.coverage


def _claimable_invoice(w: World) -> Any:
    """An issued invoice of a patient with a primary coverage in force on its date."""
    c = _fresh_coverage(w)
    patient = w.session.get(Patient, c.patient_id)
    inv = make_invoice(w.session, patient, lines=[line(dos=dt.date(2026, 1, 5))])
    w.session.commit()
    return inv


def _draft_claim(w: World) -> Any:
    view = claims_service.create_claim(
        w.session, SYSTEM, ClaimCreate(invoice_id=_claimable_invoice(w).id)
    )
    w.session.commit()
    return view.claim


def _remittance_upload(w: World) -> Prepared:
    """A fresh (empty, balanced) 835 set with its own trace number, posted with a fresh key."""
    content = era_text("BADIN", w.practice.npi, [], "0", trace=f"BI{next(_n)}")
    return Prepared(
        "/api/v1/remittances",
        {"practice_id": str(w.practice.id), "content": content},
        {**w.admin, "Idempotency-Key": f"bad-input-{next(_n)}"},
    )


def _remittance_match(w: World) -> Prepared:
    """A held (unmatched) remittance claim and a submitted claim to match it to."""
    claim = _draft_claim(w)
    for status in ("scrubbed", "submitted"):
        claim_states.transition(w.session, claim, status, actor=SYSTEM, actor_kind="system")
    payer, _ = _ins(w)
    clp = [f"CLP*NOSUCH{next(_n)}*1*10*10*0*12*ICN1*11*1"]
    posted = remittances_service.post_file(
        w.session,
        SYSTEM,
        era_text(payer.edi_payer_id, w.practice.npi, [clp], "10", trace=f"BM{next(_n)}"),
        practice_id=w.practice.id,
    )
    rc = posted.sets[0].remittance_id
    held = w.session.scalars(
        select(RemittanceUnmatched)
        .join(RemittanceClaim, RemittanceClaim.id == RemittanceUnmatched.remittance_claim_id)
        .where(RemittanceClaim.remittance_id == rc)
    ).one()
    w.session.commit()
    return _p(w, f"/api/v1/remittances/unmatched/{held.id}/match", {"claim_id": str(claim.id)})


def _denied_claim(w: World) -> Any:
    """A claim its payer denied (the 835 posting's event detail)."""
    claim = _draft_claim(w)
    for status in ("scrubbed", "submitted"):
        claim_states.transition(w.session, claim, status, actor=SYSTEM, actor_kind="system")
    claim_states.transition(
        w.session,
        claim,
        "denied",
        actor=SYSTEM,
        actor_kind="payer",
        detail=denied_detail(claim, today()),
    )
    w.session.commit()
    return claim


def _appeal(w: World, *, sent: bool = False) -> Any:
    claim = _denied_claim(w)
    appeal = appeals_service.create_appeal(
        w.session, SYSTEM, AppealCreate(claim_id=claim.id, argument="Please reconsider.")
    ).appeal
    if sent:
        appeals_service.send_appeal(w.session, SYSTEM, appeal.id)
    w.session.commit()
    return appeal


def _outcome_note(w: World, _p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    r = w.client.get(f"/api/v1/appeals/{resp['id']}", headers=w.admin)
    assert r.status_code == 200, r.text
    return {"note": r.json()["events"][-1]["note"]}


def _claim_moved(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    return {"reason": resp["status_reason"]}


def _cpt() -> str:
    """A fresh 5-digit procedure code (the scrubber tables refuse a second row per code)."""
    return f"{10000 + next(_n) % 89000:05d}"


def _note(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    return {"note": resp["note"]}


def _requested_auth(w: World) -> Any:
    payer, _ = _ins(w)
    view = make_authorization(w.session, w.patient, payer, approve=False)
    w.session.commit()
    return view.authorization


def _payer_body(w: World) -> dict[str, Any]:
    address = {
        "line1": "PO Box 1",
        "line2": "Claims",
        "city": "Madison",
        "state": "WI",
        "postal_code": "53701",
    }
    return {
        "practice_id": str(w.practice.id),
        "name": "Badger Health",
        "edi_payer_id": f"BH{next(_n):05d}",
        "claims_address": address,
        "eligibility_address": address,
        "timely_filing_days": 90,
        "appeal_deadline_days": 60,
    }


def _plan_body() -> dict[str, Any]:
    return {
        "name": "Gold PPO",
        "product_type": "ppo",
        "network": "Choice",
        "deductible": "500.00",
        "coinsurance_percent": "20",
        "copays": {"office_visit": "25.00"},
        "auth_required_codes": ["97110"],
    }


def _coverage_create(w: World) -> Prepared:
    _, plan = _ins(w)
    patient = make_patient(w.session, w.practice, first_name="New", last_name="Member")
    w.session.commit()
    return _p(
        w,
        f"/api/v1/patients/{patient.id}/coverages",
        {
            "plan_id": str(plan.id),
            "member_id": "ABC123",
            "group_number": "G-1",
            "relationship": "19",
            "subscriber": {
                "first_name": "Pat",
                "last_name": "Parent",
                "date_of_birth": "1970-01-01",
            },
            "effective_from": "2026-01-01",
            "card_image_ref": "dms-0001",
        },
    )


def _coverage_order(w: World) -> Prepared:
    c = _fresh_coverage(w)
    return _p(
        w,
        f"/api/v1/patients/{c.patient_id}/coverage-order",
        {"effective_from": "2026-03-01", "coverage_ids": [str(c.id)], "reason": "Re-ordered"},
    )


def _ordered(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    return {"reason": resp["items"][0]["priorities"][-1]["reason"]}


def _terminate(w: World) -> Prepared:
    c = _fresh_coverage(w)
    return _p(
        w, f"/api/v1/coverages/{c.id}/terminate", {"effective_to": "2026-06-30", "reason": "Left"}
    )


def _terminated(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    data = _get("/api/v1/coverages/{id}")(w, p, resp)
    return {"reason": data["termination_reason"]}


def _decision(action: str) -> Callable[[World], Prepared]:
    def prepare(w: World) -> Prepared:
        auth = _requested_auth(w)
        return _p(w, f"/api/v1/authorizations/{auth.id}/{action}", {"reason": "Not needed"})

    return prepare


def _decided(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    data = _get("/api/v1/authorizations/{id}")(w, p, resp)
    return {"reason": data["decision_reason"]}


def _fhir_request(w: World) -> Prepared:
    c = _fresh_coverage(w)
    body = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["benefits"],
        "patient": {"reference": f"Patient/{c.patient_id}"},
        "created": "2026-01-10",
        "insurer": {"display": "Payer"},
        "insurance": [{"coverage": {"reference": f"Coverage/{c.id}"}}],
    }
    headers = {**w.admin, "Idempotency-Key": f"bad-input-fhir-{next(_n)}"}
    return Prepared("/api/v1/fhir/CoverageEligibilityRequest", body, headers)


def _fhir_charges(w: World) -> Prepared:
    body = {
        "resourceType": "ChargeItem",
        "identifier": [{"system": "urn:oid:1.2.3.4.ehr", "value": f"bad-input-{next(_n)}"}],
        "status": "billable",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99214"}]},
        "subject": {"reference": f"Patient/{w.patient.id}"},
        "context": {"reference": "Encounter/bad-input"},
        "occurrenceDateTime": "2026-01-05",
    }
    return Prepared(f"/api/v1/fhir/ChargeItem?practice_id={w.practice.id}", body, w.admin)


# --- payment plans and stored payment methods ---------------------------------------------------


def _keyed(w: World, url: str, body: dict[str, Any]) -> Prepared:
    return Prepared(url, body, {**w.admin, "Idempotency-Key": f"bad-input-{next(_n)}"})


def _store_method(w: World) -> Prepared:
    tok = gw_tokenize(
        w.session,
        fingerprint_key=b"k" * 32,
        number=APPROVED,
        exp_month=12,
        exp_year=EXP_YEAR,
        cvc="123",
    )
    w.session.commit()
    return _keyed(
        w,
        f"/api/v1/patients/{w.patient.id}/payment-methods",
        {"token": tok.id, "consent_text": "I agree to autopay"},
    )


def _method_read(w: World, _p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    r = w.client.get(f"/api/v1/patients/{w.patient.id}/payment-methods", headers=w.admin)
    assert r.status_code == 200, r.text
    (m,) = [m for m in r.json()["items"] if m["id"] == resp["id"]]
    return dict(m)


def _payment_plan_body(w: World, invoice_id: Any) -> dict[str, Any]:
    return {
        "patient_id": str(w.patient.id),
        "invoice_ids": [str(invoice_id)],
        "frequency": "monthly",
        "first_due_date": (today() + dt.timedelta(days=3)).isoformat(),
        "installment_count": 3,
        "memo": "Three months",
    }


def _fresh_plan(w: World, *, active: bool) -> str:
    inv = w.fresh_invoice(issue=True)
    r = w.client.post(
        "/api/v1/payment-plans",
        json=_payment_plan_body(w, inv.id),
        headers={**w.admin, "Idempotency-Key": f"bad-input-{next(_n)}"},
    )
    assert r.status_code == 201, r.text
    plan_id = str(r.json()["id"])
    if active:
        r = w.client.post(
            f"/api/v1/payment-plans/{plan_id}/accept",
            json={},
            headers={**w.admin, "Idempotency-Key": f"bad-input-{next(_n)}"},
        )
        assert r.status_code == 200, r.text
    return plan_id


def _plan_reason(w: World, _p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    data = _get("/api/v1/payment-plans/{id}")(w, _p, resp)
    return {"reason": data["history"][-1]["reason"]}


def _plan_payment(w: World, p: Prepared, resp: dict[str, Any]) -> dict[str, Any]:
    data = _get("/api/v1/payment-plans/{id}")(w, p, resp)
    payment_id = data["history"][-1]["detail"]["payment_id"]
    return _get("/api/v1/payments/{id}")(w, p, {"id": payment_id})


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/api/v1/auth/password"): Route(
        _password_change,
        "users",
        0,
        _password("new_password"),
        refused_text=frozenset({"current_password"}),  # must be the current one
    ),
    ("POST", "/api/v1/auth/totp/confirm"): Route(
        _totp("/api/v1/auth/totp/confirm", confirmed=False),
        "users",
        0,
        refused_text=frozenset({"code"}),
    ),
    ("POST", "/api/v1/auth/totp/disable"): Route(
        _totp("/api/v1/auth/totp/disable", confirmed=True),
        "users",
        0,
        refused_text=frozenset({"code"}),
    ),
    ("POST", "/api/v1/users"): Route(
        lambda w: _p(
            w,
            "/api/v1/users",
            {
                "username": f"bad-input-{next(_n)}",
                "password": NEW_PASSWORD,
                "role": "billing_staff",
                "practice_ids": [str(w.practice.id)],
            },
        ),
        "users",
        1,
        _password("password"),
    ),
    ("PATCH", "/api/v1/users/{user_id}"): Route(_user_update, "users", 0, _password("password")),
    ("POST", "/api/v1/practices"): Route(
        lambda w: _p(w, "/api/v1/practices", _practice_body()),
        "practices",
        1,
        _get("/api/v1/practices/{id}"),
    ),
    ("PATCH", "/api/v1/practices/{practice_id}"): Route(
        lambda w: _p(
            w,
            f"/api/v1/practices/{w.practice.id}",
            {k: v for k, v in _practice_body().items() if k not in {"npi", "tin"}},
        ),
        "practices",
        0,
        _get("/api/v1/practices/{id}"),
    ),
    ("POST", "/api/v1/practices/{practice_id}/providers"): Route(
        lambda w: _p(
            w,
            f"/api/v1/practices/{w.practice.id}/providers",
            {"npi": valid_npi(), "first_name": "New", "last_name": "Doc", "credential": "MD"},
        ),
        "providers",
        1,
        _get("/api/v1/providers/{id}"),
    ),
    ("PATCH", "/api/v1/providers/{provider_id}"): Route(
        lambda w: _p(
            w,
            f"/api/v1/providers/{w.provider.id}",
            {"first_name": "Ana", "last_name": "Lopez", "credential": "DO"},
        ),
        "providers",
        0,
        _get("/api/v1/providers/{id}"),
    ),
    ("POST", "/api/v1/practices/{practice_id}/service-items"): Route(
        lambda w: _p(
            w,
            f"/api/v1/practices/{w.practice.id}/service-items",
            {
                "code": f"A{next(_n):04d}",
                "modifiers": ["25"],
                "description": "Visit",
                "price": "200.00",
                "effective_from": "2026-01-01",
            },
        ),
        "service_items",
        1,
        _get("/api/v1/service-items/{id}"),
    ),
    ("PATCH", "/api/v1/service-items/{item_id}"): Route(
        lambda w: _p(w, f"/api/v1/service-items/{w.item.id}", {"description": "Renamed"}),
        "service_items",
        0,
        _get("/api/v1/service-items/{id}"),
    ),
    ("POST", "/api/v1/practices/{practice_id}/patients"): Route(
        lambda w: _p(
            w,
            f"/api/v1/practices/{w.practice.id}/patients",
            {
                "first_name": "New",
                "last_name": "Patient",
                "date_of_birth": "1990-01-01",
                "address_line1": "1 Elm St",
                "city": "Springfield",
            },
        ),
        "patients",
        1,
        _get("/api/v1/patients/{id}"),
    ),
    ("PATCH", "/api/v1/patients/{patient_id}"): Route(
        lambda w: _p(
            w,
            f"/api/v1/patients/{w.patient.id}",
            {"first_name": "Ada", "last_name": "Input", "phone": "2175550100"},
        ),
        "patients",
        0,
        _get("/api/v1/patients/{id}"),
    ),
    ("POST", "/api/v1/patients/search"): Route(
        lambda w: _p(
            w,
            "/api/v1/patients/search",
            {"last_name": "Nobody", "first_name": "Noone", "practice_id": str(w.practice.id)},
        ),
        "patients",
        0,
        _search_result,
        refused_text=frozenset({"cursor"}),  # only cursors this service issued
    ),
    ("POST", "/api/v1/invoices"): Route(
        lambda w: _p(
            w,
            "/api/v1/invoices",
            {"patient_id": str(w.patient.id), "memo": "Thanks", "lines": [_line()]},
        ),
        "invoices",
        1,
        _get("/api/v1/invoices/{id}"),
    ),
    ("PATCH", "/api/v1/invoices/{invoice_id}"): Route(
        lambda w: _p(
            w,
            f"/api/v1/invoices/{w.draft.id}",
            {"memo": "changed", "lines": [_line(provider_id=str(w.provider.id))]},
        ),
        "invoices",
        0,
        _get("/api/v1/invoices/{id}"),
    ),
    ("POST", "/api/v1/invoices/{invoice_id}/issue"): Route(
        lambda w: _p(
            w,
            f"/api/v1/invoices/{w.fresh_invoice(issue=False).id}/issue",
            {"issue_date": "2026-01-10"},
        ),
        "invoices",
        0,
    ),
    ("POST", "/api/v1/invoices/{invoice_id}/void"): Route(
        lambda w: _p(
            w, f"/api/v1/invoices/{w.fresh_invoice(issue=True).id}/void", {"reason": "Twice"}
        ),
        "invoices",
        0,
        _voided,
    ),
    ("POST", "/api/v1/invoices/{invoice_id}/credit-notes"): Route(
        lambda w: _p(
            w,
            f"/api/v1/invoices/{w.open_invoice.id}/credit-notes",
            {"amount": "1.00", "reason_code": "courtesy", "memo": "Goodwill"},
        ),
        "invoice_adjustments",
        1,
        _adjustment,
    ),
    ("POST", "/api/v1/invoices/{invoice_id}/write-off"): Route(
        lambda w: _p(
            w,
            f"/api/v1/invoices/{w.fresh_invoice(issue=True).id}/write-off",
            {"reason_code": "bad_debt", "memo": "Uncollectable"},
        ),
        "invoice_adjustments",
        1,
        _written_off,
    ),
    ("POST", "/api/v1/payments"): Route(
        lambda w: _p(
            w,
            "/api/v1/payments",
            {
                "patient_id": str(w.patient.id),
                "amount": "5.00",
                "currency": "USD",
                "method": "check",
                "received_on": "2026-01-10",
                "reference": "Check 1001",
                "allocations": [{"invoice_id": str(w.open_invoice.id), "amount": "5.00"}],
            },
        ),
        "payments",
        1,
        _get("/api/v1/payments/{id}"),
    ),
    ("POST", "/api/v1/payments/{payment_id}/refunds"): Route(
        _refund, "refunds", 1, _get("/api/v1/refunds/{id}")
    ),
    ("POST", "/api/v1/approval-requests/{request_id}/reject"): Route(
        _reject, "approval_requests", 0, _rejected
    ),
    ("POST", "/api/v1/fraud/reviews/{review_id}/decide"): Route(
        _decide, "fraud_reviews", 0, _review_decided
    ),
    ("PATCH", "/api/v1/practices/{practice_id}/fraud-rules/{code}"): Route(
        _rule_update, "fraud_rule_configs", 1
    ),
    ("POST", "/api/v1/payers"): Route(
        lambda w: _p(w, "/api/v1/payers", _payer_body(w)),
        "payers",
        1,
        _get("/api/v1/payers/{id}"),
    ),
    ("PATCH", "/api/v1/payers/{payer_id}"): Route(
        lambda w: _p(
            w,
            f"/api/v1/payers/{_ins(w)[0].id}",
            {k: v for k, v in _payer_body(w).items() if k not in {"practice_id", "edi_payer_id"}},
        ),
        "payers",
        0,
        _get("/api/v1/payers/{id}"),
    ),
    ("POST", "/api/v1/payers/{payer_id}/plans"): Route(
        lambda w: _p(w, f"/api/v1/payers/{_ins(w)[0].id}/plans", _plan_body()),
        "insurance_plans",
        1,
        _get("/api/v1/plans/{id}"),
    ),
    ("PATCH", "/api/v1/plans/{plan_id}"): Route(
        lambda w: _p(
            w,
            f"/api/v1/plans/{_ins(w)[1].id}",
            {k: v for k, v in _plan_body().items() if k != "product_type"},
        ),
        "insurance_plans",
        0,
        _get("/api/v1/plans/{id}"),
    ),
    ("POST", "/api/v1/plans/{plan_id}/fee-schedule"): Route(
        lambda w: _p(
            w,
            f"/api/v1/plans/{_ins(w)[1].id}/fee-schedule",
            {
                "rows": [
                    {
                        "code": f"A{next(_n):04d}",
                        "modifier": "LT",
                        "allowed": "10.00",
                        "effective_from": "2026-01-01",
                    }
                ]
            },
        ),
        "fee_schedule_rows",
        1,
    ),
    ("POST", "/api/v1/patients/{patient_id}/coverages"): Route(
        _coverage_create, "coverages", 1, _get("/api/v1/coverages/{id}")
    ),
    ("POST", "/api/v1/patients/{patient_id}/coverage-order"): Route(
        _coverage_order, "coverage_priorities", 1, _ordered
    ),
    ("POST", "/api/v1/coverages/{coverage_id}/terminate"): Route(
        _terminate, "coverages", 0, _terminated
    ),
    ("POST", "/api/v1/coverages/{coverage_id}/accumulators"): Route(
        lambda w: _p(
            w,
            f"/api/v1/coverages/{_fresh_coverage(w).id}/accumulators",
            {"as_of": "2026-01-10", "deductible_met": "10.00", "oop_met": "10.00"},
        ),
        "coverage_accumulators",
        1,
    ),
    ("POST", "/api/v1/authorizations"): Route(
        lambda w: _p(
            w,
            "/api/v1/authorizations",
            {
                "patient_id": str(w.patient.id),
                "payer_id": str(_ins(w)[0].id),
                "number": "REF-1",
                "valid_from": "2026-01-01",
                "valid_to": "2026-06-30",
                "services": [{"code": "97110", "units": 12}],
                "notes": "Physical therapy after knee surgery",
            },
        ),
        "prior_authorizations",
        1,
        _get("/api/v1/authorizations/{id}"),
    ),
    ("POST", "/api/v1/authorizations/{authorization_id}/approve"): Route(
        lambda w: _p(
            w, f"/api/v1/authorizations/{_requested_auth(w).id}/approve", {"number": "AUTH-9"}
        ),
        "prior_authorizations",
        0,
    ),
    ("POST", "/api/v1/authorizations/{authorization_id}/deny"): Route(
        _decision("deny"), "prior_authorizations", 0, _decided
    ),
    ("POST", "/api/v1/authorizations/{authorization_id}/cancel"): Route(
        _decision("cancel"), "prior_authorizations", 0, _decided
    ),
    ("POST", "/api/v1/claims"): Route(
        lambda w: _p(w, "/api/v1/claims", {"invoice_id": str(_claimable_invoice(w).id)}),
        "claims",
        1,
    ),
    ("POST", "/api/v1/remittances"): Route(_remittance_upload, "remittances", 1),
    ("POST", "/api/v1/remittances/unmatched/{unmatched_id}/match"): Route(
        _remittance_match, "remittance_unmatched", 0
    ),
    ("POST", "/api/v1/claims/{claim_id}/transition"): Route(
        lambda w: _p(
            w,
            f"/api/v1/claims/{_draft_claim(w).id}/transition",
            {"status": "held", "reason": "Waiting for the chart"},
        ),
        "claim_events",
        1,
        _claim_moved,
    ),
    ("POST", "/api/v1/claims/submit"): Route(
        lambda w: _p(
            w,
            "/api/v1/claims/submit",
            {"practice_id": str(w.practice.id), "claim_ids": [str(_draft_claim(w).id)]},
            headers={**w.admin, "Idempotency-Key": f"bad-input-submit-{next(_n)}"},
        ),
        "claim_batches",
        0,  # the claim is a draft: nothing to send
    ),
    ("POST", "/api/v1/practices/{practice_id}/claim-edit-pairs"): Route(
        lambda w: _p(
            w,
            f"/api/v1/practices/{w.practice.id}/claim-edit-pairs",
            {
                "column1_code": _cpt(),
                "column2_code": _cpt(),
                "modifier_bypass": True,
                "note": "Distinct sessions only",
            },
        ),
        "claim_edit_pairs",
        1,
        _note,
    ),
    ("POST", "/api/v1/practices/{practice_id}/claim-unit-limits"): Route(
        lambda w: _p(
            w,
            f"/api/v1/practices/{w.practice.id}/claim-unit-limits",
            {"code": _cpt(), "max_units": 4, "plan_id": str(_ins(w)[1].id), "note": "Plan cap"},
        ),
        "claim_unit_limits",
        1,
        _note,
    ),
    ("POST", "/api/v1/appeals"): Route(
        lambda w: _p(
            w,
            "/api/v1/appeals",
            {
                "claim_id": str(_denied_claim(w).id),
                "level": 1,
                "argument": "The visit was necessary.",
                "late_reason": "Records came late",
            },
        ),
        "appeals",
        1,
        _get("/api/v1/appeals/{id}"),
    ),
    ("POST", "/api/v1/appeals/{appeal_id}/outcome"): Route(
        lambda w: _p(
            w,
            f"/api/v1/appeals/{_appeal(w, sent=True).id}/outcome",
            {"outcome": "partially_won", "expected_amount": "1.00", "note": "Payer agreed"},
        ),
        "appeal_events",
        1,
        _outcome_note,
    ),
    ("POST", "/api/v1/appeals/{appeal_id}/attachments"): Route(
        lambda w: _p(
            w,
            f"/api/v1/appeals/{_appeal(w).id}/attachments",
            {"filename": "notes.txt", "content_type": "text/plain", "content_base64": "aGk="},
        ),
        "appeal_attachments",
        1,
    ),
    ("POST", "/api/v1/estimates"): Route(
        lambda w: _p(
            w,
            "/api/v1/estimates",
            {
                "patient_id": str(w.patient.id),
                "service_date": "2026-01-10",
                "lines": [
                    {"code": "99214", "modifier": "25", "units": 1, "category": "specialist"}
                ],
            },
        ),
        "estimates",
        1,
    ),
    ("PUT", "/api/v1/practices/{practice_id}/estimate-settings"): Route(
        lambda w: _p(
            w,
            f"/api/v1/practices/{w.practice.id}/estimate-settings",
            {"self_pay_discount_percent": "12.5", "valid_days": 30},
        ),
        "estimate_settings",
        0,
    ),
    ("POST", "/api/v1/coverages/{coverage_id}/eligibility-checks"): Route(
        lambda w: _p(
            w,
            f"/api/v1/coverages/{_fresh_coverage(w).id}/eligibility-checks",
            {"service_date": "2026-01-10", "service_types": ["30", "98"]},
            headers={**w.admin, "Idempotency-Key": f"bad-input-elig-{next(_n)}"},
        ),
        "eligibility_checks",
        1,
    ),
    ("POST", "/api/v1/fhir/CoverageEligibilityRequest"): Route(
        _fhir_request, "eligibility_checks", 1
    ),
    ("POST", "/api/v1/fhir/ChargeItem"): Route(_fhir_charges, "charge_imports", 1),
    ("POST", "/api/v1/practices/{practice_id}/appointments"): Route(
        lambda w: _p(
            w,
            f"/api/v1/practices/{w.practice.id}/appointments",
            {
                "patient_id": str(w.patient.id),
                "provider_id": str(w.provider.id),
                "starts_at": "2026-06-02T09:00:00Z",
                "external_ref": f"EHR-{next(_n)}",
            },
        ),
        "appointments",
        1,
        refused_text=frozenset({"external_ref"}),
    ),
    ("POST", "/api/v1/practices/{practice_id}/cash/drawers"): Route(
        _drawer_open, "cash_drawers", 1, _get("/api/v1/cash/drawers/{id}")
    ),
    ("POST", "/api/v1/cash/drawers/{drawer_id}/close"): Route(
        _drawer_close, "cash_drawers", 0, _get("/api/v1/cash/drawers/{id}")
    ),
    ("POST", "/api/v1/practices/{practice_id}/cash/deposits"): Route(
        _deposit, "bank_deposits", 1, _get("/api/v1/cash/deposits/{id}")
    ),
    ("POST", "/api/v1/patients/{patient_id}/payment-methods"): Route(
        _store_method, "payment_methods", 1, _method_read
    ),
    ("POST", "/api/v1/payment-plans"): Route(
        lambda w: _keyed(w, "/api/v1/payment-plans", _payment_plan_body(w, w.open_invoice.id)),
        "payment_plans",
        1,
        _get("/api/v1/payment-plans/{id}"),
    ),
    ("POST", "/api/v1/payment-plans/{plan_id}/accept"): Route(
        lambda w: _keyed(w, f"/api/v1/payment-plans/{_fresh_plan(w, active=False)}/accept", {}),
        "payment_plans",
        0,
    ),
    ("POST", "/api/v1/payment-plans/{plan_id}/cancel"): Route(
        lambda w: _keyed(
            w,
            f"/api/v1/payment-plans/{_fresh_plan(w, active=True)}/cancel",
            {"reason": "Patient asked"},
        ),
        "payment_plans",
        0,
        _plan_reason,
    ),
    ("POST", "/api/v1/payment-plans/{plan_id}/changes"): Route(
        lambda w: _keyed(
            w,
            f"/api/v1/payment-plans/{_fresh_plan(w, active=True)}/changes",
            {"reason": "Moved", "installment_count": 2},
        ),
        "payment_plans",
        0,
        _plan_reason,
    ),
    ("POST", "/api/v1/payment-plans/{plan_id}/payments"): Route(
        lambda w: _keyed(
            w,
            f"/api/v1/payment-plans/{_fresh_plan(w, active=True)}/payments",
            {"amount": "5.00", "method": "check", "reference": "Check 1002"},
        ),
        "payments",
        1,
        _plan_payment,
    ),
    ("POST", "/api/v1/payment-plans/{plan_id}/payoff"): Route(
        lambda w: _keyed(
            w,
            f"/api/v1/payment-plans/{_fresh_plan(w, active=True)}/payoff",
            {"method": "check", "reference": "Check 1003"},
        ),
        "payments",
        1,
        _plan_payment,
    ),
}

# The OAuth2 password form: walked separately (form fields, not JSON).
FORM_ROUTES = {("POST", "/api/v1/auth/token")}


def _body_routes(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {})
            if method.upper() in {"POST", "PATCH", "PUT"} and content:
                out.append((method.upper(), path, content))
    return out


def _expect_stored(route: Route, f: StringField, payload: Payload) -> bool:
    """Whether the request must be accepted with the value stored as sent."""
    return (
        payload.storable
        and isinstance(payload.value, str)
        and f.free_text
        and f.name not in route.refused_text
        and f.fits(payload.value)
    )


def _mutations(f: StringField) -> Iterator[Payload]:
    for payload in PAYLOADS:
        if payload.name == "number" and f.allows_number:
            continue  # a number is this field's other type (amounts), not a wrong one
        yield payload


def _check_refusal(r: httpx.Response, sent: Any, what: str) -> list[str]:
    problems = [f"{what}: {e}" for e in problem_errors(r)]
    if echoes(r, sent):
        problems.append(f"{what}: the answer repeats the submitted value")
    return problems


def _family(path: str) -> str:
    for word in ("patients", "invoices", "payments", "payment-plans"):
        if f"/{word}" in path:
            return word
    return "identity" if "/auth/" in path or "/users" in path else "practices"


FAMILIES = ["identity", "practices", "patients", "invoices", "payments", "payment-plans"]


def _json_routes(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, c) for m, p, c in _body_routes(spec) if (m, p) not in FORM_ROUTES]


def test_every_body_route_is_walked(client: TestClient) -> None:
    """Every POST/PATCH/PUT route with a body is in ROUTES (or is the token form), takes JSON,
    has string fields to walk, and belongs to a family below."""
    spec = client.get("/openapi.json").json()
    routes = _body_routes(spec)
    json_routes = _json_routes(spec)
    assert {(m, p) for m, p, _ in routes} - {(m, p) for m, p, _ in json_routes} == FORM_ROUTES
    for m, p, content in json_routes:
        assert list(content) == ["application/json"], (m, p)
    missing = sorted({(m, p) for m, p, _ in json_routes} - ROUTES.keys())
    assert not missing, f"routes with a JSON body that this test does not walk: {missing}"
    assert len(json_routes) == len(ROUTES)
    fields = {
        (m, p): string_fields(spec, c["application/json"]["schema"]) for m, p, c in json_routes
    }
    assert all(fields.values()), [r for r, f in fields.items() if not f]
    assert {_family(p) for _, p, _ in json_routes} == set(FAMILIES)
    # A guard against a silent shrink (a schema refactor hiding fields from the walker).
    assert sum(len(f) for f in fields.values()) >= 120


@pytest.mark.parametrize("family", FAMILIES)
def test_every_string_field_of_every_body(
    session: Session, client: TestClient, family: str
) -> None:
    spec = client.get("/openapi.json").json()
    json_routes = [(m, p, c) for m, p, c in _json_routes(spec) if _family(p) == family]
    assert json_routes

    w = World.build(session, client)
    failures: list[str] = []
    sent_requests = 0
    fields_walked = 0
    for method, path, content in json_routes:
        route = ROUTES[(method, path)]
        fields = string_fields(spec, content["application/json"]["schema"])
        assert fields, (method, path)
        names = {f.name for f in fields}
        assert route.refused_text <= names, (method, path, route.refused_text - names)

        # The body as built is accepted: only the hostile value can make a request fail.
        base = route.prepare(w)
        r = client.request(method, base.url, json=base.body, headers=base.headers)
        assert r.status_code < 300, (method, path, r.status_code, r.text)

        for f in fields:
            fields_walked += 1
            for payload in _mutations(f):
                p = route.prepare(w)
                value = [payload.value] if f.array else payload.value
                body = with_value(p.body, f.path, value)
                p = Prepared(p.url, body, p.headers, p.username)
                what = f"{method} {path} {f.name} <- {payload.name}"
                before, (audited, security) = table_counts(session), audit_counts(session)
                r = client.request(method, p.url, json=body, headers=p.headers)
                sent_requests += 1
                after, (audited_after, security_after) = (
                    table_counts(session),
                    audit_counts(session),
                )
                expect_stored = _expect_stored(route, f, payload)
                if r.status_code >= 500:
                    failures.append(f"{what}: {r.status_code} {r.text[:200]}")
                elif r.status_code >= 400:
                    if expect_stored:
                        failures.append(f"{what}: refused {r.status_code} {r.text[:200]}")
                    failures += _check_refusal(r, payload.value, what)
                    if after != before:
                        changed = {t for t in after if after[t] != before[t]}
                        failures.append(f"{what}: refused but wrote to {sorted(changed)}")
                    if audited_after != audited:
                        failures.append(f"{what}: refused but audited a change or read")
                    # A refused sign-in secret (401) is a security event; invalid input is not.
                    expected_events = 1 if r.status_code == 401 else 0
                    if security_after - security != expected_events:
                        failures.append(f"{what}: {security_after - security} security events")
                elif not expect_stored:
                    failures.append(f"{what}: accepted {r.status_code} {r.text[:200]}")
                else:
                    delta = after[route.table] - before[route.table]
                    if delta != route.delta:
                        failures.append(f"{what}: {route.table} changed by {delta}")
                    if route.readback is None:
                        failures.append(f"{what}: stored, but the route has no readback")
                    else:
                        stored = route.readback(w, p, r.json() if r.content else {})
                        got = value_at(stored, f.path)
                        if got != payload.value:
                            failures.append(f"{what}: reads back as {got!r}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert sent_requests >= 9 * fields_walked  # every field got (nearly) every payload


# Raw bodies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    name: str
    method: str
    url: Callable[[World], str]
    content: Callable[[World], bytes]
    status: int
    code: str | None  # the problem's code (None: a 2xx)
    content_type: str = "application/json"


def _draft_url(w: World) -> str:
    return f"/api/v1/invoices/{w.draft.id}"


def _payment(amount: bytes) -> Callable[[World], bytes]:
    return lambda w: (
        b'{"patient_id": "%s", "method": "cash", "amount": %s}'
        % (str(w.patient.id).encode(), amount)
    )


def _invoice_line(key: bytes, value: bytes) -> Callable[[World], bytes]:
    def content(w: World) -> bytes:
        line_json = json.dumps(_line()).encode()[:-1] + b', "%s": %s}' % (key, value)
        return b'{"patient_id": "%s", "lines": [%s]}' % (str(w.patient.id).encode(), line_json)

    return content


def _const(data: bytes) -> Callable[[World], bytes]:
    return lambda _w: data


NESTED = b"[" * 10_000 + b"]" * 10_000
RAW_CASES = [
    # invalid UTF-8 inside a JSON string, and as the whole body
    Raw(
        "utf8-memo",
        "PATCH",
        _draft_url,
        _const(b'{"memo": "\xff\xfe"}'),
        400,
        "request.malformed_body",
    ),
    Raw(
        "utf8-overlong-slash",
        "PATCH",
        _draft_url,
        _const(b'{"memo": "\xc0\xaf"}'),
        400,
        "request.malformed_body",
    ),
    # (Python's JSON decoder passes encoded surrogates through; the string type refuses them)
    Raw(
        "utf8-surrogate",
        "PATCH",
        _draft_url,
        _const(b'{"memo": "\xed\xa0\x80"}'),
        422,
        "request.invalid",
    ),
    Raw(
        "utf8-escaped-surrogate",
        "PATCH",
        _draft_url,
        _const(b'{"memo": "\\ud800"}'),
        422,
        "request.invalid",
    ),
    Raw(
        "utf8-body", "PATCH", _draft_url, _const(b"\xff\xfe\x00\x00"), 400, "request.malformed_json"
    ),
    # not an object, not JSON, nothing
    Raw("empty", "PATCH", _draft_url, _const(b""), 422, "request.missing_field"),
    Raw("null", "PATCH", _draft_url, _const(b"null"), 422, "request.invalid"),
    Raw("array", "PATCH", _draft_url, _const(b"[]"), 422, "request.invalid"),
    Raw("string", "PATCH", _draft_url, _const(b'"memo"'), 422, "request.invalid"),
    Raw("truncated", "PATCH", _draft_url, _const(b'{"memo": "a'), 400, "request.malformed_json"),
    Raw(
        "text-plain",
        "PATCH",
        _draft_url,
        _const(b'{"memo": "a"}'),
        422,
        "request.invalid",
        "text/plain",
    ),
    # size and depth
    Raw(
        "over-limit",
        "PATCH",
        _draft_url,
        _const(b'{"memo": "' + b"A" * 1_100_000 + b'"}'),
        413,
        "request.too_large",
    ),
    Raw("nested-body", "PATCH", _draft_url, _const(NESTED), 400, "request.malformed_body"),
    Raw(
        "nested-field",
        "PATCH",
        _draft_url,
        _const(b'{"memo": ' + NESTED + b"}"),
        400,
        "request.malformed_body",
    ),
    # numbers no amount can be
    Raw(
        "amount-1e400",
        "POST",
        lambda _w: "/api/v1/payments",
        _payment(b"1e400"),
        422,
        "money.not_a_string",
    ),
    Raw(
        "amount-huge-int",
        "POST",
        lambda _w: "/api/v1/payments",
        _payment(b"1" * 30),
        422,
        "money.invalid",
    ),
    Raw(
        "amount-huge-str",
        "POST",
        lambda _w: "/api/v1/payments",
        _payment(b'"1' * 1 + b"2" * 29 + b'"'),
        422,
        "money.invalid",
    ),
    Raw(
        "amount-nan",
        "POST",
        lambda _w: "/api/v1/payments",
        _payment(b"NaN"),
        422,
        "money.not_a_string",
    ),
    Raw(
        "amount-inf",
        "POST",
        lambda _w: "/api/v1/payments",
        _payment(b"Infinity"),
        422,
        "money.not_a_string",
    ),
    Raw(
        "amount-neg-inf",
        "POST",
        lambda _w: "/api/v1/payments",
        _payment(b"-Infinity"),
        422,
        "money.not_a_string",
    ),
    Raw(
        "amount-tiny",
        "POST",
        lambda _w: "/api/v1/payments",
        _payment(b"1e-400"),
        422,
        "money.not_a_string",
    ),
    Raw(
        "units-huge",
        "POST",
        lambda _w: "/api/v1/invoices",
        _invoice_line(b"units", b"1" * 30),
        422,
        "request.invalid",
    ),
    Raw(
        "units-nan",
        "POST",
        lambda _w: "/api/v1/invoices",
        _invoice_line(b"units", b"NaN"),
        422,
        "request.invalid",
    ),
    Raw(
        "percent-inf",
        "POST",
        lambda _w: "/api/v1/invoices",
        _invoice_line(b"discount_percent", b"Infinity"),
        422,
        "request.invalid",
    ),
    Raw(
        "percent-nan",
        "POST",
        lambda _w: "/api/v1/invoices",
        _invoice_line(b"discount_percent", b"NaN"),
        422,
        "request.invalid",
    ),
    Raw(
        "price-1e400",
        "POST",
        lambda _w: "/api/v1/invoices",
        _invoice_line(b"unit_price", b'"1e400"'),
        422,
        "money.invalid",
    ),
    # duplicate keys: the last one wins (checked below), a bad last one is refused
    Raw(
        "dup-bad-last",
        "PATCH",
        _draft_url,
        _const(b'{"memo": "ok", "memo": 5}'),
        422,
        "request.invalid",
    ),
    Raw(
        "dup-good-last", "PATCH", _draft_url, _const(b'{"memo": 5, "memo": "last wins"}'), 200, None
    ),
]


def test_raw_bodies(session: Session, client: TestClient) -> None:
    w = World.build(session, client)
    failures: list[str] = []
    for case in RAW_CASES:
        before, (audited, security) = table_counts(session), audit_counts(session)
        r = client.request(
            case.method,
            case.url(w),
            content=case.content(w),
            headers={**w.admin, "Content-Type": case.content_type},
        )
        after, now = table_counts(session), audit_counts(session)
        got = (r.status_code, r.json().get("code") if r.status_code >= 400 else None)
        if got != (case.status, case.code):
            failures.append(f"{case.name}: {r.status_code} {r.text[:200]}")
            continue
        if r.status_code >= 400:
            failures += [f"{case.name}: {e}" for e in problem_errors(r)]
            if after != before or now != (audited, security):
                failures.append(f"{case.name}: refused but wrote something")
    assert not failures, "\n".join(failures)
    r = client.get(_draft_url(w), headers=w.admin)
    assert r.json()["memo"] == "last wins"


# The token form ----------------------------------------------------------------------------------


def test_token_form(session: Session, client: TestClient) -> None:
    """Sign-in: hostile values in every form field, invalid UTF-8 and percent-encoded garbage.
    A refusal is 401 (one security event), or 422 for a malformed form (none); nothing else is
    written but the lockout counters."""
    w = World.build(session, client)
    spec = client.get("/openapi.json").json()
    (form_schema,) = [
        c["schema"]
        for m, p, content in _body_routes(spec)
        if (m, p) == ("POST", "/api/v1/auth/token")
        for c in content.values()
    ]
    fields = [f.name for f in string_fields(spec, form_schema)]
    assert fields == ["username", "password", "totp"]
    failures: list[str] = []

    def send(what: str, sent: str | None, **kw: Any) -> None:
        before, (audited, security) = table_counts(session), audit_counts(session)
        r = client.post("/api/v1/auth/token", **kw)
        after, (audited_after, security_after) = table_counts(session), audit_counts(session)
        if r.status_code not in {401, 422}:
            failures.append(f"{what}: {r.status_code} {r.text[:200]}")
            return
        failures.extend(_check_refusal(r, sent, what))
        if after != before or audited_after != audited:
            failures.append(f"{what}: refused but wrote something")
        if security_after - security != (1 if r.status_code == 401 else 0):
            failures.append(f"{what}: {security_after - security} security events")

    for name in fields:
        for payload in PAYLOADS:
            if not isinstance(payload.value, str):
                continue  # a form has only strings
            user, _ = w.fresh_staff()  # a fresh name each time: no lockout in the way
            data = {"username": user.username, "password": PASSWORD, "totp": "123456"}
            if name != "totp":
                del data["totp"]
            data[name] = payload.value
            send(f"token {name} <- {payload.name}", payload.value, data=data)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    user, _ = w.fresh_staff()
    name = user.username.encode()
    for label, content in [
        ("utf8-username", b"username=\xff\xfe&password=x"),
        ("utf8-password", b"username=" + name + b"&password=\xff\xfe\xc0\xaf"),
        ("pct-username", b"username=%FF%FE&password=x"),
        ("pct-password", b"username=" + name + b"&password=%FF%FE%00"),
        ("pct-nul-username", b"username=ab%00cd&password=x"),
    ]:
        send(label, None, content=content, headers=form)
    assert not failures, "\n".join(failures)


# Garbage in path and query parameters ------------------------------------------------------------

GARBAGE = ["%FF", "%FF%FE", "%C0%AE", "%00", "%ED%A0%80", "'%20OR%20'1'%3D'1", "%3Cscript%3E"]


def _is_free_string(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    """A query parameter that is any text (a filter): garbage matches nothing, a 200."""
    alts = [a for a in alternatives(spec, schema) if a.get("type") != "null"]
    return all(
        a.get("type") == "string" and not {"format", "pattern", "enum"} & a.keys() for a in alts
    )


def test_garbage_in_path_and_query_parameters(session: Session, client: TestClient) -> None:
    """Every route with a path parameter, every query parameter of every GET route: invalid
    UTF-8, NUL and percent-encoded injection text are a 4xx problem (an opaque cursor included),
    or a 200 for free-text filters; never a 5xx, nothing written."""
    w = World.build(session, client)
    spec = client.get("/openapi.json").json()
    ids = {
        "practice_id": w.practice.id,
        "patient_id": w.patient.id,
        "provider_id": w.provider.id,
        "item_id": w.item.id,
        "invoice_id": w.draft.id,
        "payment_id": w.draft.id,
        "entry_id": w.open_invoice.issue_entry_id,
        "user_id": w.draft.id,
        "refund_id": w.draft.id,
        "request_id": w.draft.id,
        "review_id": w.draft.id,
        "payer_id": w.draft.id,
        "plan_id": w.draft.id,
        "code": "99213",
        "coverage_id": w.draft.id,
        "authorization_id": w.draft.id,
        "estimate_id": w.draft.id,
        "check_id": w.draft.id,
        "drawer_id": w.draft.id,
        "deposit_id": w.draft.id,
        "method_id": w.draft.id,
        "claim_id": w.draft.id,
        "pair_id": w.draft.id,
        "limit_id": w.draft.id,
        "batch_id": w.draft.id,
        "remittance_id": w.draft.id,
        "unmatched_id": w.draft.id,
        "appeal_id": w.draft.id,
        "attachment_id": w.draft.id,
    }
    failures: list[str] = []
    sent = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            in_path = [p["name"] for p in params if p["in"] == "path"]
            query = [p for p in params if p["in"] == "query"]
            requests: list[tuple[str, str, bool]] = []  # url, label, may a 200 answer?
            for name in in_path:
                for junk in GARBAGE:
                    url = path.format(**{**{k: str(v) for k, v in ids.items()}, name: junk})
                    requests.append((url, f"{name}={junk}", False))
            if method == "get":
                base = path.format(**{k: str(v) for k, v in ids.items()})
                for p in query:
                    free = p["name"] != "cursor" and _is_free_string(p["schema"], spec)
                    for junk in GARBAGE:
                        requests.append((f"{base}?{p['name']}={junk}", f"?{p['name']}", free))
            for url, label, free in requests:
                before, audit_before = table_counts(session), audit_counts(session)
                r = client.request(method.upper(), url, headers=w.admin)
                sent += 1
                what = f"{method.upper()} {path} {label}: {url}"
                if free and r.status_code == 200:
                    continue
                if not 400 <= r.status_code < 500:
                    failures.append(f"{what}: {r.status_code} {r.text[:200]}")
                    continue
                failures += [f"{what}: {e}" for e in problem_errors(r)]
                if table_counts(session) != before or audit_counts(session) != audit_before:
                    failures.append(f"{what}: refused but wrote something")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert sent > 300, sent


# The web UI escapes what users typed ------------------------------------------------------------


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def test_web_pages_escape_user_input(
    session: Session, client: TestClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    """Practice names typed through the API as HTML show as text on a staff member's home page;
    the sign-in form posted with hostile names answers with the form again, never a 5xx."""
    w = World.build(session, client)
    staff = make_user(session, "billing_staff", practices=[w.practice])
    session.commit()
    names = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
    for name in names:
        body = {**_practice_body(), "name": name}
        r = client.post("/api/v1/practices", json=body, headers=w.admin)
        assert r.status_code == 201, r.text
        r = client.post(f"/api/v1/users/{staff.id}/practices/{r.json()['id']}", headers=w.admin)
        assert r.status_code == 204, r.text

    with client_with(settings, factory) as web:
        data = {"username": staff.username, "password": PASSWORD}
        r = web.post("/login", data={**data, "csrf_token": _csrf(web.get("/login").text)})
        assert r.status_code == 200, r.text  # followed the redirect home
        assert str(r.url).endswith("/home")
        items = re.findall(r"<li>(.*?)</li>", r.text)
        assert sorted(items) == [
            "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "Bad Input Practice",
        ]
        for name in names:
            assert name not in r.text
        assert "<img" not in r.text
        assert "<script>" not in r.text

    with client_with(settings, factory) as web:
        for payload in PAYLOADS:
            if not isinstance(payload.value, str):
                continue
            before, audit_before = table_counts(session), audit_counts(session)
            form = {"username": payload.value, "password": "x", "csrf_token": ""}
            form["csrf_token"] = _csrf(web.get("/login").text)
            r = web.post("/login", data=form)
            what = f"web sign-in as {payload.name}"
            assert r.status_code in {200, 401, 422}, (what, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("text/html"), what
            assert 'name="username"' in r.text, what  # the form again
            assert not echoes(r, payload.value), what
            assert table_counts(session) == before, what
            assert audit_counts(session)[0] == audit_before[0], what
