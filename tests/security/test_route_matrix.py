"""Walks EVERY route in the OpenAPI document with every role against objects the caller must not
see (another practice's, or another patient's), and asserts the documented outcome:

* the role lacks the route's action          -> 403 auth.forbidden
* the role may act but the object is hidden  -> 404 (existence is never disclosed)
* list routes                                -> 200 without a single hidden id in the body

and that nothing was written (every table's row count is unchanged) except one ``access_denied``
security event per refusal, naming the caller and the route (lists may add read events). A
route missing from ROUTE_ACTIONS fails the test, so new routes cannot skip the matrix.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from revcycle.appeals import service as appeals_service
from revcycle.appeals.schemas import AppealCreate, AttachmentCreate
from revcycle.audit.models import AuditEvent
from revcycle.auth.permissions import Action, allowed
from revcycle.cash import service as cash
from revcycle.cash.schemas import DepositCreate, DrawerClose, DrawerOpen
from revcycle.claims import carc_actions, scrubber
from revcycle.claims import service as claims_service
from revcycle.claims import states as claim_states
from revcycle.claims.carc_schemas import CarcActionPut
from revcycle.claims.models import ClaimBatch
from revcycle.claims.schemas import ClaimCreate
from revcycle.claims.scrub_schemas import EditPairCreate, UnitLimitCreate
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.db import Base
from revcycle.eligibility import service as service_elig
from revcycle.estimates.schemas import EstimateCreate
from revcycle.estimates.service import create_estimate
from revcycle.fraud.models import FraudReview
from revcycle.invoices.schemas import CreditNoteCreate
from revcycle.invoices.service import add_credit_note
from revcycle.payments.schemas import PaymentCreate
from revcycle.payments.service import record_payment
from revcycle.remittances import service as remittances_service
from revcycle.remittances.models import RemittanceUnmatched
from tests.factories.appeals import denied_detail
from tests.factories.auth import auth_header, make_user, principal
from tests.factories.insurance import make_authorization, make_coverage, make_payer, make_plan
from tests.factories.invoices import line, make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice, make_provider, make_service_item
from tests.plans.helpers import accept, propose, stored_card
from tests.refunds.helpers import limits, refund
from tests.remittances.helpers import era_text

# (method, path) -> the action the route needs; None = any signed-in user.
ROUTE_ACTIONS: dict[tuple[str, str], Action | None] = {
    ("POST", "/api/v1/auth/token"): None,
    ("POST", "/api/v1/auth/logout"): None,
    ("GET", "/api/v1/auth/me"): None,
    ("POST", "/api/v1/auth/password"): None,
    ("POST", "/api/v1/auth/totp/enrolment"): Action.MFA_MANAGE,
    ("POST", "/api/v1/auth/totp/confirm"): Action.MFA_MANAGE,
    ("POST", "/api/v1/auth/totp/disable"): Action.MFA_MANAGE,
    ("POST", "/api/v1/users"): Action.USER_MANAGE,
    ("GET", "/api/v1/users"): Action.USER_MANAGE,
    ("GET", "/api/v1/users/{user_id}"): Action.USER_MANAGE,
    ("PATCH", "/api/v1/users/{user_id}"): Action.USER_MANAGE,
    ("POST", "/api/v1/users/{user_id}/practices/{practice_id}"): Action.USER_MANAGE,
    ("GET", "/api/v1/users/{user_id}/credentials"): Action.USER_MANAGE,
    ("POST", "/api/v1/users/{user_id}/credentials/revoke"): Action.USER_MANAGE,
    ("POST", "/api/v1/users/{user_id}/unlock"): Action.USER_MANAGE,
    ("POST", "/api/v1/practices"): Action.PRACTICE_CREATE,
    ("GET", "/api/v1/practices"): Action.PRACTICE_READ,
    ("GET", "/api/v1/practices/{practice_id}"): Action.PRACTICE_READ,
    ("PATCH", "/api/v1/practices/{practice_id}"): Action.PRACTICE_UPDATE,
    ("POST", "/api/v1/practices/{practice_id}/providers"): Action.PROVIDER_WRITE,
    ("GET", "/api/v1/practices/{practice_id}/providers"): Action.PROVIDER_READ,
    ("GET", "/api/v1/providers/{provider_id}"): Action.PROVIDER_READ,
    ("PATCH", "/api/v1/providers/{provider_id}"): Action.PROVIDER_WRITE,
    ("POST", "/api/v1/practices/{practice_id}/service-items"): Action.CATALOG_WRITE,
    ("GET", "/api/v1/practices/{practice_id}/service-items"): Action.CATALOG_READ,
    ("GET", "/api/v1/service-items/{item_id}"): Action.CATALOG_READ,
    ("PATCH", "/api/v1/service-items/{item_id}"): Action.CATALOG_WRITE,
    ("POST", "/api/v1/practices/{practice_id}/patients"): Action.PATIENT_WRITE,
    ("GET", "/api/v1/patients"): Action.PATIENT_READ,
    ("POST", "/api/v1/patients/search"): Action.PATIENT_READ,
    ("GET", "/api/v1/patients/{patient_id}"): Action.PATIENT_READ,
    ("PATCH", "/api/v1/patients/{patient_id}"): Action.PATIENT_WRITE,
    ("GET", "/api/v1/patients/{patient_id}/statement"): Action.STATEMENT_READ,
    ("POST", "/api/v1/invoices"): Action.INVOICE_WRITE,
    ("GET", "/api/v1/invoices"): Action.INVOICE_READ,
    ("GET", "/api/v1/invoices/{invoice_id}"): Action.INVOICE_READ,
    ("PATCH", "/api/v1/invoices/{invoice_id}"): Action.INVOICE_WRITE,
    ("POST", "/api/v1/invoices/{invoice_id}/issue"): Action.INVOICE_ISSUE,
    ("POST", "/api/v1/invoices/{invoice_id}/void"): Action.INVOICE_VOID,
    ("POST", "/api/v1/invoices/{invoice_id}/credit-notes"): Action.INVOICE_ADJUST,
    ("POST", "/api/v1/invoices/{invoice_id}/write-off"): Action.INVOICE_WRITE_OFF,
    ("GET", "/api/v1/invoices/{invoice_id}/history"): Action.INVOICE_READ,
    ("POST", "/api/v1/payments"): Action.PAYMENT_RECORD,
    ("GET", "/api/v1/payments"): Action.PAYMENT_READ,
    ("GET", "/api/v1/payments/{payment_id}"): Action.PAYMENT_READ,
    ("POST", "/api/v1/payments/{payment_id}/refunds"): Action.PAYMENT_REFUND,
    ("GET", "/api/v1/payments/{payment_id}/refunds"): Action.PAYMENT_READ,
    ("GET", "/api/v1/refunds/{refund_id}"): Action.PAYMENT_READ,
    ("POST", "/api/v1/patients/{patient_id}/payment-methods"): Action.PAYMENT_METHOD_WRITE,
    ("GET", "/api/v1/patients/{patient_id}/payment-methods"): Action.PAYMENT_READ,
    ("POST", "/api/v1/patients/{patient_id}/payment-methods/{method_id}/remove"): (
        Action.PAYMENT_METHOD_WRITE
    ),
    ("POST", "/api/v1/payment-plans"): Action.PLAN_WRITE,
    ("GET", "/api/v1/payment-plans"): Action.PLAN_READ,
    ("GET", "/api/v1/payment-plans/{plan_id}"): Action.PLAN_READ,
    ("POST", "/api/v1/payment-plans/{plan_id}/accept"): Action.PLAN_ACCEPT,
    ("POST", "/api/v1/payment-plans/{plan_id}/cancel"): Action.PLAN_WRITE,
    ("POST", "/api/v1/payment-plans/{plan_id}/changes"): Action.PLAN_WRITE,
    ("POST", "/api/v1/payment-plans/{plan_id}/payments"): Action.PAYMENT_RECORD,
    ("POST", "/api/v1/payment-plans/{plan_id}/payoff"): Action.PLAN_WRITE,
    ("GET", "/api/v1/notifications"): Action.PLAN_READ,
    ("GET", "/api/v1/approval-requests"): Action.APPROVAL_READ,
    ("GET", "/api/v1/approval-requests/{request_id}"): Action.APPROVAL_READ,
    ("POST", "/api/v1/approval-requests/{request_id}/approve"): Action.MONEY_APPROVE,
    ("POST", "/api/v1/approval-requests/{request_id}/reject"): Action.MONEY_APPROVE,
    ("GET", "/api/v1/practices/{practice_id}/trial-balance"): Action.LEDGER_READ,
    ("GET", "/api/v1/practices/{practice_id}/journal-entries"): Action.LEDGER_READ,
    ("GET", "/api/v1/journal-entries/{entry_id}"): Action.LEDGER_READ,
    ("GET", "/api/v1/audit-events"): Action.AUDIT_READ,
    ("GET", "/api/v1/security/events"): Action.SECURITY_READ,
    ("GET", "/api/v1/security/summary"): Action.SECURITY_READ,
    ("GET", "/api/v1/metrics"): Action.SECURITY_READ,
    # Insurance (docs/insurance.md).
    ("POST", "/api/v1/payers"): Action.PAYER_WRITE,
    ("GET", "/api/v1/payers"): Action.PAYER_READ,
    ("GET", "/api/v1/payers/{payer_id}"): Action.PAYER_READ,
    ("PATCH", "/api/v1/payers/{payer_id}"): Action.PAYER_WRITE,
    ("POST", "/api/v1/payers/{payer_id}/plans"): Action.PAYER_WRITE,
    ("GET", "/api/v1/payers/{payer_id}/plans"): Action.PAYER_READ,
    ("GET", "/api/v1/plans/{plan_id}"): Action.PAYER_READ,
    ("PATCH", "/api/v1/plans/{plan_id}"): Action.PAYER_WRITE,
    ("POST", "/api/v1/plans/{plan_id}/fee-schedule"): Action.PAYER_WRITE,
    ("GET", "/api/v1/plans/{plan_id}/fee-schedule"): Action.PAYER_READ,
    ("GET", "/api/v1/plans/{plan_id}/allowed/{code}"): Action.PAYER_READ,
    ("POST", "/api/v1/patients/{patient_id}/coverages"): Action.COVERAGE_WRITE,
    ("GET", "/api/v1/patients/{patient_id}/coverages"): Action.COVERAGE_READ,
    ("POST", "/api/v1/patients/{patient_id}/coverage-order"): Action.COVERAGE_WRITE,
    ("GET", "/api/v1/coverages/{coverage_id}"): Action.COVERAGE_READ,
    ("POST", "/api/v1/coverages/{coverage_id}/terminate"): Action.COVERAGE_WRITE,
    ("POST", "/api/v1/coverages/{coverage_id}/accumulators"): Action.COVERAGE_WRITE,
    ("GET", "/api/v1/coverages/{coverage_id}/accumulators"): Action.COVERAGE_READ,
    ("POST", "/api/v1/authorizations"): Action.AUTHORIZATION_WRITE,
    ("GET", "/api/v1/authorizations"): Action.AUTHORIZATION_READ,
    ("GET", "/api/v1/authorizations/warnings"): Action.AUTHORIZATION_READ,
    ("GET", "/api/v1/authorizations/{authorization_id}"): Action.AUTHORIZATION_READ,
    ("POST", "/api/v1/authorizations/{authorization_id}/approve"): Action.AUTHORIZATION_WRITE,
    ("POST", "/api/v1/authorizations/{authorization_id}/deny"): Action.AUTHORIZATION_WRITE,
    ("POST", "/api/v1/authorizations/{authorization_id}/cancel"): Action.AUTHORIZATION_WRITE,
    # Denials and appeals (docs/denials-appeals.md).
    ("POST", "/api/v1/claims/{claim_id}/secondary"): Action.CLAIM_WRITE,
    ("GET", "/api/v1/denials"): Action.CLAIM_READ,
    ("POST", "/api/v1/appeals"): Action.APPEAL_WRITE,
    ("GET", "/api/v1/appeals"): Action.CLAIM_READ,
    ("GET", "/api/v1/appeals/{appeal_id}"): Action.CLAIM_READ,
    ("POST", "/api/v1/appeals/{appeal_id}/send"): Action.APPEAL_WRITE,
    ("POST", "/api/v1/appeals/{appeal_id}/outcome"): Action.APPEAL_WRITE,
    ("POST", "/api/v1/appeals/{appeal_id}/attachments"): Action.APPEAL_WRITE,
    ("GET", "/api/v1/appeals/{appeal_id}/attachments/{attachment_id}"): Action.CLAIM_READ,
    ("GET", "/api/v1/appeals/{appeal_id}/letter"): Action.CLAIM_READ,
    ("GET", "/api/v1/appeals/{appeal_id}/letter.pdf"): Action.CLAIM_READ,
    ("POST", "/api/v1/claims"): Action.CLAIM_WRITE,
    ("GET", "/api/v1/claims"): Action.CLAIM_READ,
    ("GET", "/api/v1/claims/{claim_id}"): Action.CLAIM_READ,
    ("GET", "/api/v1/claims/{claim_id}/events"): Action.CLAIM_READ,
    ("POST", "/api/v1/claims/{claim_id}/transition"): Action.CLAIM_WRITE,
    ("POST", "/api/v1/claims/{claim_id}/status-inquiries"): Action.CLAIM_SUBMIT,
    ("POST", "/api/v1/claims/submit"): Action.CLAIM_SUBMIT,
    ("GET", "/api/v1/claim-batches/{batch_id}"): Action.CLAIM_WRITE,
    ("GET", "/api/v1/claims/rejections"): Action.CLAIM_WRITE,
    ("POST", "/api/v1/claims/{claim_id}/correct"): Action.CLAIM_WRITE,
    ("POST", "/api/v1/claims/{claim_id}/void"): Action.CLAIM_WRITE,
    ("POST", "/api/v1/estimates"): Action.ESTIMATE_CREATE,
    ("GET", "/api/v1/estimates"): Action.ESTIMATE_READ,
    ("GET", "/api/v1/estimates/{estimate_id}"): Action.ESTIMATE_READ,
    ("GET", "/api/v1/practices/{practice_id}/estimate-settings"): Action.ESTIMATE_CREATE,
    ("PUT", "/api/v1/practices/{practice_id}/estimate-settings"): Action.PRACTICE_UPDATE,
    ("POST", "/api/v1/remittances"): Action.REMITTANCE_POST,
    ("GET", "/api/v1/remittances"): Action.REMITTANCE_READ,
    ("GET", "/api/v1/remittances/unmatched"): Action.REMITTANCE_READ,
    ("POST", "/api/v1/remittances/unmatched/{unmatched_id}/match"): Action.REMITTANCE_POST,
    ("GET", "/api/v1/remittances/underpayments"): Action.REMITTANCE_READ,
    ("GET", "/api/v1/remittances/{remittance_id}"): Action.REMITTANCE_READ,
    # Public like the token route: the gateway's signature is the authentication
    # (tests/gateway/test_webhooks.py: every role without a valid signature is refused).
    ("POST", "/api/v1/webhooks/gateway"): None,
    ("GET", "/api/v1/code-sets/icd10cm/{code}"): Action.CATALOG_READ,
    # The claim scrubber (docs/claims-scrubber.md).
    ("POST", "/api/v1/claims/{claim_id}/scrub"): Action.CLAIM_WRITE,
    ("GET", "/api/v1/practices/{practice_id}/claim-edit-pairs"): Action.CLAIM_READ,
    ("POST", "/api/v1/practices/{practice_id}/claim-edit-pairs"): Action.CLAIM_RULES_WRITE,
    ("DELETE", "/api/v1/claim-edit-pairs/{pair_id}"): Action.CLAIM_RULES_WRITE,
    ("GET", "/api/v1/practices/{practice_id}/claim-unit-limits"): Action.CLAIM_READ,
    ("POST", "/api/v1/practices/{practice_id}/claim-unit-limits"): Action.CLAIM_RULES_WRITE,
    ("DELETE", "/api/v1/claim-unit-limits/{limit_id}"): Action.CLAIM_RULES_WRITE,
    # The CARC -> action table (docs/denials-appeals.md).
    ("GET", "/api/v1/practices/{practice_id}/carc-actions"): Action.CLAIM_READ,
    ("PUT", "/api/v1/practices/{practice_id}/carc-actions"): Action.CLAIM_RULES_WRITE,
    ("DELETE", "/api/v1/carc-actions/{carc_action_id}"): Action.CLAIM_RULES_WRITE,
    ("GET", "/api/v1/fraud/reviews"): Action.FRAUD_READ,
    ("GET", "/api/v1/fraud/reviews/{review_id}"): Action.FRAUD_READ,
    ("POST", "/api/v1/fraud/reviews/{review_id}/decide"): Action.FRAUD_REVIEW,
    ("GET", "/api/v1/practices/{practice_id}/fraud-rules"): Action.FRAUD_READ,
    ("PATCH", "/api/v1/practices/{practice_id}/fraud-rules/{code}"): Action.FRAUD_REVIEW,
    ("GET", "/api/v1/reconciliation/settlements"): Action.RECONCILIATION_READ,
    ("GET", "/api/v1/reconciliation/unmatched-refunds"): Action.RECONCILIATION_READ,
    ("POST", "/api/v1/coverages/{coverage_id}/eligibility-checks"): Action.ELIGIBILITY_CHECK,
    ("GET", "/api/v1/eligibility-checks/{check_id}"): Action.COVERAGE_READ,
    ("GET", "/api/v1/patients/{patient_id}/eligibility-checks"): Action.COVERAGE_READ,
    ("GET", "/api/v1/patients/{patient_id}/eligibility-status"): Action.COVERAGE_READ,
    ("POST", "/api/v1/fhir/CoverageEligibilityRequest"): Action.ELIGIBILITY_CHECK,
    ("POST", "/api/v1/fhir/ChargeItem"): Action.INVOICE_WRITE,
    # Staff only (docs/eligibility.md): the matrix has no appointment action.
    ("POST", "/api/v1/practices/{practice_id}/appointments"): Action.PATIENT_WRITE,
    ("GET", "/api/v1/practices/{practice_id}/appointments"): Action.PATIENT_WRITE,
    ("GET", "/api/v1/payments/{payment_id}/receipt"): Action.PAYMENT_READ,
    ("GET", "/api/v1/refunds/{refund_id}/receipt"): Action.PAYMENT_READ,
    ("GET", "/api/v1/patients/{patient_id}/payment-history"): Action.PAYMENT_READ,
    ("GET", "/api/v1/invoices/{invoice_id}/payment-history"): Action.PAYMENT_READ,
    ("POST", "/api/v1/practices/{practice_id}/cash/drawers"): Action.CASH_RECONCILE,
    ("GET", "/api/v1/practices/{practice_id}/cash/drawers"): Action.CASH_RECONCILE,
    ("GET", "/api/v1/cash/drawers/{drawer_id}"): Action.CASH_RECONCILE,
    ("POST", "/api/v1/cash/drawers/{drawer_id}/close"): Action.CASH_RECONCILE,
    ("POST", "/api/v1/practices/{practice_id}/cash/deposits"): Action.CASH_RECONCILE,
    ("GET", "/api/v1/cash/deposits/{deposit_id}"): Action.CASH_RECONCILE,
    ("GET", "/api/v1/practices/{practice_id}/cash/daily-report"): Action.CASH_RECONCILE,
}

# Admin-only monitoring routes: checked by role (their scoping is tested in tests/audit/).
MONITORING_ROUTES = {
    ("GET", "/api/v1/audit-events"),
    ("GET", "/api/v1/security/events"),
    ("GET", "/api/v1/security/summary"),
    ("GET", "/api/v1/metrics"),
}

# Routes that answer with a list (200, without any hidden object in it).
LIST_ROUTES = {("POST", "/api/v1/patients/search")}

# Routes that are not about a hidden object (sign-in, self, creating a practice): checked by role.
NOT_OBJECT_ROUTES = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/totp/enrolment"),
    ("POST", "/api/v1/auth/totp/confirm"),
    ("POST", "/api/v1/auth/totp/disable"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/practices"),
    ("POST", "/api/v1/webhooks/gateway"),
    # Reference data shared by every practice (tests/codesets/: patients are refused).
    ("GET", "/api/v1/code-sets/icd10cm/{code}"),
    *MONITORING_ROUTES,
}

# Bookkeeping that a refused request may write by design: rate-limit and lockout counters.
COUNTERS = {"rate_limit_counters", "login_throttles"}


@dataclass
class World:
    ids: dict[str, str]  # path parameter -> id of an object the callers must not see
    secrets: list[str]  # strings that must never appear in a response to these callers
    headers: dict[str, dict[str, str]]  # role -> auth header


def _build(session: Session, *, same_practice: bool) -> World:
    """Caller side: practice A with one user per role (patient = patient A1).
    Hidden side: practice B (for staff) or patient A2 in practice A (for the patient)."""
    a = make_practice(session, name="Practice A")
    hidden_practice = a if same_practice else make_practice(session, name="Practice B")
    a1 = make_patient(session, a, first_name="Alice", last_name="Owner")
    hidden_patient = make_patient(
        session, hidden_practice, first_name="Zed", last_name="Hiddenperson"
    )
    provider = make_provider(session, hidden_practice, last_name="Hiddendoc")
    item = make_service_item(session, hidden_practice, code="99214", price="180.00")
    inv = make_invoice(session, hidden_patient, lines=[line(price="90.00")])
    draft = make_invoice(session, hidden_patient, issue=False)
    pay = record_payment(
        session,
        SYSTEM,
        PaymentCreate.model_validate(
            {
                "patient_id": hidden_patient.id,
                "amount": "10.00",
                "method": "cash",
                "allocations": [{"invoice_id": inv.id, "amount": "10.00"}],
            }
        ),
    ).payment
    add_credit_note(
        session,
        SYSTEM,
        inv.id,
        CreditNoteCreate.model_validate({"amount": "1.00", "reason_code": "courtesy"}),
    )
    other_staff = make_user(session, "billing_staff", practices=[hidden_practice])
    refunded = refund(session, SYSTEM, pay.id, "1.00", key="matrix")
    requested = refund(
        session,
        principal(session, other_staff),
        pay.id,
        "2.00",
        key="m2",
        limits=limits(refund="0"),
    )
    # the second 10.00 cash payment of the hidden patient in minutes: a fraud review (a flag)
    record_payment(
        session,
        principal(session, other_staff),
        PaymentCreate.model_validate(
            {"patient_id": hidden_patient.id, "amount": "10.00", "method": "cash"}
        ),
    )
    flagged = session.scalars(select(FraudReview)).one()
    payer = make_payer(session, hidden_practice)
    plan = make_plan(session, payer)
    coverage = make_coverage(session, hidden_patient, plan).coverage
    # (its own invoice: a claim is not built for an invoice credited before billing)
    claim_inv = make_invoice(session, hidden_patient, lines=[line(price="90.00")])
    hidden_claim = claims_service.create_claim(
        session, SYSTEM, ClaimCreate(invoice_id=claim_inv.id)
    )
    hidden_batch = ClaimBatch(
        practice_id=hidden_practice.id,
        interchange_control_number=1,
        batch_reference="HIDDEN-1",
        idempotency_key="matrix-batch",
        status="built",
        claim_count=1,
        total_charge_minor=9000,
        currency="USD",
        content_sha256="0" * 64,
        content="ISA*HIDDEN~",
        clearinghouse="simulator",
    )
    session.add(hidden_batch)
    session.flush()
    edit_pair = scrubber.add_edit_pair(
        session,
        SYSTEM,
        hidden_practice.id,
        EditPairCreate(column1_code="80053", column2_code="80048"),
    )
    unit_limit = scrubber.add_unit_limit(
        session, SYSTEM, hidden_practice.id, UnitLimitCreate(code="97110", max_units=4)
    )
    carc_row, _ = carc_actions.put_row(
        session,
        SYSTEM,
        hidden_practice.id,
        CarcActionPut(group="CO", reason="50", action="review", note="Hidden practice's own"),
    )
    posted = remittances_service.post_file(
        session,
        SYSTEM,
        era_text("X1", "1234567893", [["CLP*NOSUCH*1*10*10*0*12*ICN1*11*1"]], "10"),
        practice_id=hidden_practice.id,
    )
    remittance_id = posted.sets[0].remittance_id
    unmatched = session.scalars(select(RemittanceUnmatched)).one()
    # The hidden claim, denied by its payer and appealed, with an attachment.
    for status in ("scrubbed", "submitted"):
        claim_states.transition(
            session, hidden_claim.claim, status, actor=SYSTEM, actor_kind="system"
        )
    claim_states.transition(
        session,
        hidden_claim.claim,
        "denied",
        actor=SYSTEM,
        actor_kind="payer",
        detail=denied_detail(hidden_claim.claim, dt.date.today()),
    )
    hidden_appeal = appeals_service.create_appeal(
        session, SYSTEM, AppealCreate(claim_id=hidden_claim.claim.id, argument="Hiddenargument")
    ).appeal
    hidden_attachment = appeals_service.add_attachment(
        session,
        SYSTEM,
        hidden_appeal.id,
        AttachmentCreate(filename="h.txt", content_type="text/plain", content_base64="aGk="),
    )
    authorization = make_authorization(session, hidden_patient, payer, approve=False)
    estimate = create_estimate(
        session,
        SYSTEM,
        EstimateCreate.model_validate(
            {
                "patient_id": hidden_patient.id,
                "service_date": "2026-01-10",
                "lines": [{"code": "99213"}],
            }
        ),
    )
    # A closed and deposited drawer and an open one, of the hidden practice's clerk.
    clerk = principal(session, make_user(session, "billing_staff", practices=[hidden_practice]))
    closed = cash.open_drawer(
        session,
        clerk,
        hidden_practice.id,
        DrawerOpen(location="Desk", opening_float="0"),
        idempotency_key="m",  # type: ignore[arg-type]
    ).drawer
    record_payment(
        session,
        clerk,
        PaymentCreate.model_validate(
            {"patient_id": hidden_patient.id, "amount": "3.00", "method": "cash"}
        ),
    )
    cash.close_drawer(
        session, clerk, closed.id, DrawerClose(counted_cash="3.00"), idempotency_key="m"
    )  # type: ignore[arg-type]
    deposit = cash.deposit(
        session,
        clerk,
        hidden_practice.id,
        DepositCreate(drawer_ids=[closed.id]),
        idempotency_key="m",
    ).deposit
    open_drawer = cash.open_drawer(
        session,
        clerk,
        hidden_practice.id,
        DrawerOpen(location="Desk", opening_float="0"),
        idempotency_key="m",  # type: ignore[arg-type]
    ).drawer
    planned = make_invoice(session, hidden_patient, lines=[line(price="60.00")])
    card = stored_card(session, hidden_patient)
    payment_plan = accept(
        session, propose(session, hidden_patient, [planned.id]).plan.id, card
    ).plan
    headers = {
        "admin": auth_header(session, make_user(session, "admin", practices=[a])),
        "billing_staff": auth_header(session, make_user(session, "billing_staff", practices=[a])),
        "insurance_specialist": auth_header(
            session, make_user(session, "insurance_specialist", practices=[a])
        ),
        "patient": auth_header(session, make_user(session, "patient", patient=a1)),
    }
    ids = {
        "practice_id": str(hidden_practice.id),
        "patient_id": str(hidden_patient.id),
        "provider_id": str(provider.id),
        "item_id": str(item.id),
        "invoice_id": str(inv.id),
        "draft_id": str(draft.id),
        "payment_id": str(pay.id),
        "entry_id": str(inv.issue_entry_id),
        "user_id": str(other_staff.id),
        "refund_id": str(refunded.refund.id),
        "request_id": str(requested.id),
        "review_id": str(flagged.id),
        "payer_id": str(payer.id),
        "plan_id": str(plan.id),
        "code": "99213",
        "coverage_id": str(coverage.id),
        "authorization_id": str(authorization.authorization.id),
        "estimate_id": str(estimate.id),
        "drawer_id": str(open_drawer.id),
        "deposit_id": str(deposit.id),
        "payment_plan_id": str(payment_plan.id),
        "method_id": str(card.id),
        "planned_invoice_id": str(planned.id),
        "claim_id": str(hidden_claim.claim.id),
        "batch_id": str(hidden_batch.id),
        "pair_id": str(edit_pair.id),
        "limit_id": str(unit_limit.id),
        "carc_action_id": str(carc_row.id),
        "remittance_id": str(remittance_id),
        "unmatched_id": str(unmatched.id),
        "appeal_id": str(hidden_appeal.id),
        "attachment_id": str(hidden_attachment.id),
    }
    secrets = [
        ids[k]
        for k in (
            "patient_id",
            "invoice_id",
            "draft_id",
            "payment_id",
            "entry_id",
            "refund_id",
            "request_id",
            "review_id",
            "coverage_id",
            "authorization_id",
            "estimate_id",
            "drawer_id",
            "deposit_id",
            "payment_plan_id",
            "method_id",
            "planned_invoice_id",
            "claim_id",
            "batch_id",
            "remittance_id",
            "unmatched_id",
            "appeal_id",
            "attachment_id",
        )
    ]
    secrets += ["Hiddenperson", "Hiddendoc", "Hiddenargument"]
    if not same_practice:
        secrets += [
            ids["practice_id"],
            ids["provider_id"],
            ids["item_id"],
            ids["payer_id"],
            ids["plan_id"],
            "Practice B",
            ids["user_id"],
            other_staff.username,
        ]
    check = service_elig.run_check_in(
        session,
        SimulatorClearinghouse(session=session),
        SYSTEM,
        service_elig.CheckRequest(coverage.id, dt.date(2026, 6, 1)),
    )
    ids["check_id"] = str(check.id)
    secrets += [ids["check_id"]]
    session.commit()
    return World(ids, secrets, headers)


def _body(method: str, path: str, w: World) -> dict[str, Any] | None:
    today = dt.date(2026, 1, 10).isoformat()
    bodies: dict[str, dict[str, Any]] = {
        "/api/v1/practices/{practice_id}": {"name": "Renamed"},
        "/api/v1/practices/{practice_id}/providers": {
            "npi": "1234567893",
            "first_name": "New",
            "last_name": "Doc",
        },
        "/api/v1/providers/{provider_id}": {"credential": "DO"},
        "/api/v1/practices/{practice_id}/service-items": {
            "code": "99215",
            "description": "Visit",
            "price": "200.00",
            "effective_from": "2026-01-01",
        },
        "/api/v1/service-items/{item_id}": {"description": "Renamed"},
        "/api/v1/practices/{practice_id}/patients": {
            "first_name": "New",
            "last_name": "Patient",
            "date_of_birth": "1990-01-01",
        },
        "/api/v1/patients/{patient_id}": {"phone": "2175550100"},
        # searching for the hidden patient by name, within the hidden practice
        "/api/v1/patients/search": {
            "last_name": "Hiddenperson",
            "first_name": "Zed",
            "practice_id": w.ids["practice_id"],
        },
        "/api/v1/invoices": {
            "patient_id": w.ids["patient_id"],
            "lines": [
                {
                    "service_code": "99213",
                    "unit_price": "10.00",
                    "description": "Visit",
                    "date_of_service": today,
                }
            ],
        },
        "/api/v1/invoices/{invoice_id}": {"memo": "changed"},
        "/api/v1/invoices/{invoice_id}/issue": {},
        "/api/v1/invoices/{invoice_id}/void": {"reason": "test"},
        "/api/v1/invoices/{invoice_id}/credit-notes": {"amount": "1.00", "reason_code": "courtesy"},
        "/api/v1/invoices/{invoice_id}/write-off": {"reason_code": "bad_debt"},
        "/api/v1/users/{user_id}": {"active": False},
        "/api/v1/payments": {"patient_id": w.ids["patient_id"], "amount": "5.00", "method": "cash"},
        "/api/v1/payments/{payment_id}/refunds": {"amount": "1.00", "reason": "Overpaid"},
        "/api/v1/approval-requests/{request_id}/reject": {"reason": "Not justified"},
        "/api/v1/fraud/reviews/{review_id}/decide": {"decision": "dismiss"},
        "/api/v1/practices/{practice_id}/fraud-rules/{code}": {"enabled": False},
        "/api/v1/coverages/{coverage_id}/eligibility-checks": {"service_date": today},
        "/api/v1/fhir/CoverageEligibilityRequest": {
            "resourceType": "CoverageEligibilityRequest",
            "status": "active",
            "purpose": ["benefits"],
            "patient": {"reference": f"Patient/{w.ids['patient_id']}"},
            "created": today,
            "insurer": {"display": "Acme Health"},
            "insurance": [{"coverage": {"reference": f"Coverage/{w.ids['coverage_id']}"}}],
        },
        "/api/v1/fhir/ChargeItem": {
            "resourceType": "ChargeItem",
            "id": "matrix-1",
            "status": "billable",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
            "subject": {"reference": f"Patient/{w.ids['patient_id']}"},
            "occurrenceDateTime": today,
            "priceOverride": {"value": 10, "currency": "USD"},
        },
        "/api/v1/practices/{practice_id}/appointments": {
            "patient_id": w.ids["patient_id"],
            "provider_id": w.ids["provider_id"],
            "starts_at": "2026-06-02T09:00:00Z",
        },
        "/api/v1/payers": {
            "practice_id": w.ids["practice_id"],
            "name": "New Payer",
            "edi_payer_id": "NEW01",
        },
        "/api/v1/payers/{payer_id}": {"name": "Renamed"},
        "/api/v1/payers/{payer_id}/plans": {"name": "New plan", "product_type": "ppo"},
        "/api/v1/plans/{plan_id}": {"name": "Renamed"},
        "/api/v1/plans/{plan_id}/fee-schedule": {
            "rows": [{"code": "99215", "allowed": "1.00", "effective_from": "2030-01-01"}]
        },
        "/api/v1/patients/{patient_id}/coverages": {
            "plan_id": w.ids["plan_id"],
            "member_id": "M1",
            "effective_from": "2026-01-01",
            "priority": 3,
        },
        "/api/v1/patients/{patient_id}/coverage-order": {
            "effective_from": "2026-02-01",
            "coverage_ids": [w.ids["coverage_id"]],
        },
        "/api/v1/coverages/{coverage_id}/terminate": {"effective_to": "2026-06-30", "reason": "x"},
        "/api/v1/coverages/{coverage_id}/accumulators": {
            "as_of": today,
            "deductible_met": "1.00",
            "oop_met": "1.00",
        },
        "/api/v1/authorizations": {
            "patient_id": w.ids["patient_id"],
            "payer_id": w.ids["payer_id"],
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "services": [{"code": "97110", "units": 1}],
        },
        "/api/v1/authorizations/{authorization_id}/approve": {"number": "A1"},
        "/api/v1/authorizations/{authorization_id}/deny": {"reason": "No"},
        "/api/v1/authorizations/{authorization_id}/cancel": {"reason": "No"},
        "/api/v1/claims": {"invoice_id": w.ids["invoice_id"]},
        "/api/v1/claims/{claim_id}/transition": {"status": "held", "reason": "review"},
        "/api/v1/claims/submit": {"practice_id": w.ids["practice_id"]},
        "/api/v1/practices/{practice_id}/claim-edit-pairs": {
            "column1_code": "97140",
            "column2_code": "97530",
        },
        "/api/v1/practices/{practice_id}/claim-unit-limits": {"code": "97112", "max_units": 2},
        "/api/v1/practices/{practice_id}/carc-actions": {
            "group": "CO",
            "reason": "16",
            "action": "review",
        },
        "/api/v1/remittances": {
            "practice_id": w.ids["practice_id"],
            "content": era_text("X1", "1234567893", [], "0", trace="M2"),
        },
        "/api/v1/remittances/unmatched/{unmatched_id}/match": {"claim_id": w.ids["claim_id"]},
        "/api/v1/appeals": {"claim_id": w.ids["claim_id"], "argument": "Please reconsider."},
        "/api/v1/appeals/{appeal_id}/outcome": {"outcome": "won"},
        "/api/v1/appeals/{appeal_id}/attachments": {
            "filename": "a.txt",
            "content_type": "text/plain",
            "content_base64": "aGk=",
        },
        "/api/v1/estimates": {
            "patient_id": w.ids["patient_id"],
            "service_date": today,
            "lines": [{"code": "99213"}],
        },
        "/api/v1/practices/{practice_id}/estimate-settings": {"self_pay_discount_percent": "10"},
        "/api/v1/practices/{practice_id}/cash/drawers": {
            "location": "Desk",
            "opening_float": "10.00",
        },
        "/api/v1/cash/drawers/{drawer_id}/close": {"counted_cash": "0.00"},
        "/api/v1/practices/{practice_id}/cash/deposits": {"drawer_ids": [w.ids["drawer_id"]]},
        "/api/v1/patients/{patient_id}/payment-methods": {
            "token": "tok_0123456789abcdef",
            "consent_text": "I agree",
        },
        "/api/v1/payment-plans": {
            "patient_id": w.ids["patient_id"],
            "invoice_ids": [w.ids["invoice_id"]],
            "frequency": "monthly",
            "first_due_date": "2099-01-01",
            "installment_count": 3,
        },
        "/api/v1/payment-plans/{plan_id}/cancel": {"reason": "test"},
        "/api/v1/payment-plans/{plan_id}/changes": {"reason": "test", "installment_count": 2},
        "/api/v1/payment-plans/{plan_id}/payments": {"amount": "5.00", "method": "cash"},
        "/api/v1/payment-plans/{plan_id}/payoff": {"method": "cash"},
    }
    if method in {"POST", "PATCH", "PUT"}:
        return bodies.get(path, {})
    return None


AUDIT_TABLES = {"audit_events", "audit_chain_heads"}


def _counts(session: Session) -> dict[str, int]:
    """Row counts of every table but the audit trail's (checked event by event instead)."""
    session.expire_all()
    return {
        t: int(session.execute(text(f"select count(*) from {t}")).scalar_one())
        for t in Base.metadata.tables
        if t not in COUNTERS and t not in AUDIT_TABLES
    }


def _last_audit_id(session: Session) -> int:
    return int(session.execute(text("select coalesce(max(id), 0) from audit_events")).scalar_one())


def _audit_since(session: Session, after_id: int) -> list[tuple[str, str, str | None, Any]]:
    rows = session.execute(
        select(AuditEvent.category, AuditEvent.action, AuditEvent.actor_role, AuditEvent.detail)
        .where(AuditEvent.id > after_id)
        .order_by(AuditEvent.id)
    )
    return [(r.category, r.action, r.actor_role, r.detail) for r in rows]


def _assert_denial_recorded(
    session: Session, after_id: int, role: str, method: str, path: str, status: int
) -> list[str]:
    events = _audit_since(session, after_id)
    denials = [e for e in events if e[0] == "security"]
    others = [e for e in events if e[0] != "security"]
    problems = []
    if others:
        problems.append(f"{role} {method} {path}: refused but audited {others}")
    if len(denials) != 1:
        return [*problems, f"{role} {method} {path}: {len(denials)} security events, not 1"]
    _, action, actor_role, detail = denials[0]
    got = (action, actor_role, detail["route"], detail["method"], detail["status"])
    if got != ("security:access_denied", role, path, method, status):
        problems.append(f"{role} {method} {path}: security event {got}")
    return problems


def _url(path: str, w: World, method: str) -> str:
    ids = dict(w.ids)
    if path.startswith("/api/v1/invoices/{invoice_id}") and (method, path) in {
        ("PATCH", "/api/v1/invoices/{invoice_id}"),
        ("POST", "/api/v1/invoices/{invoice_id}/issue"),
    }:
        ids["invoice_id"] = ids["draft_id"]  # a draft, so only authorization can refuse
    if "/fraud-rules/" in path:
        ids["code"] = "duplicate_payment"  # a rule code ({code} is a procedure code elsewhere)
    if path.startswith("/api/v1/payment-plans/"):
        ids["plan_id"] = ids["payment_plan_id"]  # {plan_id} is an insurance plan elsewhere
    return path.format(**ids)


@pytest.mark.parametrize("same_practice", [False, True], ids=["other-practice", "same-practice"])
def test_every_route_every_role(session: Session, client: TestClient, same_practice: bool) -> None:
    spec = client.get("/openapi.json").json()
    routes = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]
    missing = [r for r in routes if r not in ROUTE_ACTIONS]
    assert not missing, f"routes not in the authorization matrix: {missing}"
    assert len(routes) == len(ROUTE_ACTIONS)

    w = _build(session, same_practice=same_practice)
    roles = (
        ["patient"]
        if same_practice
        else ["admin", "billing_staff", "insurance_specialist", "patient"]
    )
    before = _counts(session)
    failures: list[str] = []
    for method, path in routes:
        if (method, path) in NOT_OBJECT_ROUTES:
            continue
        action = ROUTE_ACTIONS[(method, path)]
        is_list = "{" not in path and (method == "GET" or (method, path) in LIST_ROUTES)
        for role in roles:
            url = _url(path, w, method)
            params = {}
            if is_list and method == "GET":
                params = (
                    {"practice_id": w.ids["practice_id"]} if path != "/api/v1/practices" else {}
                )
            if path.endswith("/daily-report"):
                params = {"date": "2026-01-10"}
            if path == "/api/v1/fhir/ChargeItem":
                params = {"practice_id": w.ids["practice_id"]}  # the hidden practice
            audit_mark = _last_audit_id(session)
            r = client.request(
                method, url, json=_body(method, path, w), headers=w.headers[role], params=params
            )
            assert action is not None
            if not allowed(role, action):
                expected = {403}
            elif is_list:
                expected = {200}
            elif same_practice and (method, path) == ("GET", "/api/v1/practices/{practice_id}"):
                expected = {200}  # a patient may read their own practice (name, address)
            elif method == "POST" and path in {"/api/v1/invoices", "/api/v1/payments"}:
                expected = {404}  # the hidden patient named in the body
            else:
                expected = {404}
            if r.status_code not in expected:
                failures.append(f"{role} {method} {path}: {r.status_code} {r.text[:200]}")
                continue
            if r.status_code in {403, 404}:
                assert r.headers["content-type"].startswith("application/problem+json")
                code = r.json()["code"]
                if r.status_code == 403 and code != "auth.forbidden":
                    failures.append(f"{role} {method} {path}: code {code}")
                failures += _assert_denial_recorded(
                    session, audit_mark, role, method, path, r.status_code
                )
            elif any(e[0] == "change" for e in _audit_since(session, audit_mark)):
                failures.append(f"{role} {method} {path}: a list request audited a change")
            sent = url + json.dumps(_body(method, path, w)) + json.dumps(params)
            for secret in w.secrets:
                if secret in r.text and secret not in sent:  # echoing the caller's own input
                    # is not a disclosure; anything else is
                    failures.append(f"{role} {method} {path}: leaked {secret!r}")
    assert not failures, "\n".join(failures)
    assert _counts(session) == before, "a refused request wrote something"


def test_not_object_routes_by_role(session: Session, client: TestClient) -> None:
    w = _build(session, same_practice=False)
    practice = {
        "name": "New",
        "npi": "1234567893",
        "tin": "12-3456789",
        "taxonomy": "207Q00000X",
        "address_line1": "1 A St",
        "city": "X",
        "state": "IL",
        "postal_code": "62701",
    }
    user = {"username": "newuser", "password": "long enough password", "role": "billing_staff"}
    for role in ["billing_staff", "insurance_specialist", "patient"]:
        before = _counts(session)
        for path, body in [("/api/v1/practices", practice), ("/api/v1/users", user)]:
            r = client.post(path, json=body, headers=w.headers[role])
            assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden"), (role, path)
        assert _counts(session) == before
    # Two-factor enrolment is for staff: a patient is refused by the matrix, nothing written.
    before = _counts(session)
    for path, body in [
        ("/api/v1/auth/totp/enrolment", None),
        ("/api/v1/auth/totp/confirm", {"code": "123456"}),
        ("/api/v1/auth/totp/disable", {"code": "123456"}),
    ]:
        r = client.post(path, json=body, headers=w.headers["patient"])
        assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden"), path
    assert _counts(session) == before
    # The audit trail and security monitoring: admins only; others are refused (and that
    # refusal is itself a security event, which only admins can then see).
    for method, path in sorted(MONITORING_ROUTES):
        for role in ["billing_staff", "insurance_specialist", "patient"]:
            before = _counts(session)
            r = client.request(method, path, headers=w.headers[role])
            assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden"), (role, path)
            assert _counts(session) == before
        assert client.request(method, path, headers=w.headers["admin"]).status_code == 200, path
    r = client.get("/api/v1/auth/me", headers=w.headers["patient"])
    assert r.status_code == 200
    assert r.json()["role"] == "patient"
    for method, path in [
        ("GET", "/api/v1/invoices"),
        ("GET", "/api/v1/auth/me"),
        ("POST", "/api/v1/payments"),
    ]:
        r = client.request(method, path)
        assert r.status_code == 401
        assert r.json()["code"] == "auth.unauthenticated"
        body = _body(method, path, w)
        r = client.request(
            method, path, json=body, headers={"Authorization": "Bearer forged-token"}
        )
        assert r.status_code == 401
        assert r.json()["code"] == "auth.invalid_token"
