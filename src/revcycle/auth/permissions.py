"""The one permission matrix: role x action. Every adapter (API, CLI, jobs) goes through it via the
service layer; docs/security.md carries the table generated from ``MATRIX``."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    BILLING_STAFF = "billing_staff"
    INSURANCE_SPECIALIST = "insurance_specialist"
    PATIENT = "patient"


STAFF_ROLES = frozenset({Role.ADMIN, Role.BILLING_STAFF, Role.INSURANCE_SPECIALIST})


class Action(StrEnum):
    PRACTICE_READ = "practice:read"
    PRACTICE_CREATE = "practice:create"
    PRACTICE_UPDATE = "practice:update"
    PROVIDER_READ = "provider:read"
    PROVIDER_WRITE = "provider:write"
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    PATIENT_READ = "patient:read"
    PATIENT_WRITE = "patient:write"
    INVOICE_READ = "invoice:read"
    INVOICE_WRITE = "invoice:write"
    INVOICE_ISSUE = "invoice:issue"
    INVOICE_VOID = "invoice:void"
    INVOICE_ADJUST = "invoice:adjust"
    INVOICE_WRITE_OFF = "invoice:write_off"
    PAYMENT_READ = "payment:read"
    PAYMENT_RECORD = "payment:record"
    STATEMENT_READ = "statement:read"
    # Payment plans and their installments (patients: their own).
    PLAN_READ = "plan:read"
    LEDGER_READ = "ledger:read"
    USER_MANAGE = "user:manage"
    AUDIT_READ = "audit:read"
    SECURITY_READ = "security:read"
    # Refunding a payment (above the caller's limit it becomes an approval request instead).
    PAYMENT_REFUND = "payment:refund"
    # Reading the approval requests (refunds / write-offs above a limit) of one's practices.
    APPROVAL_READ = "approval:read"
    # Approving a money movement another user requested (refund or write-off above the approval
    # threshold): admins only, with a second factor, never the requester (auth.policies).
    MONEY_APPROVE = "money:approve"
    # Enrolling / disabling one's own TOTP second factor (staff; patients sign in with a password).
    MFA_MANAGE = "mfa:manage"
    # Payment plans: proposing, changing, cancelling and paying off plans (staff) ...
    PLAN_WRITE = "plan:write"
    # ... and accepting a proposed plan's schedule (staff on the patient's behalf, or the patient).
    PLAN_ACCEPT = "plan:accept"
    # Storing a card / bank token for autopay (staff, or the patient for their own account).
    PAYMENT_METHOD_WRITE = "payment_method:write"
    # Front-desk cash drawer: counting a drawer, recording a bank deposit, the daily report.
    CASH_RECONCILE = "cash:reconcile"
    # Fraud and error review queue: reading it (staff who take money) ...
    FRAUD_READ = "fraud:read"
    # ... and deciding a held or flagged item (admins, never for their own transaction).
    FRAUD_REVIEW = "fraud:review"
    # Daily gateway settlement vs the card-clearing account.
    RECONCILIATION_READ = "reconciliation:read"
    # Insurance: payers, their plans and fee schedules (reading / maintaining).
    PAYER_READ = "payer:read"
    PAYER_WRITE = "payer:write"
    # A patient's coverages (patients: their own).
    COVERAGE_READ = "coverage:read"
    COVERAGE_WRITE = "coverage:write"
    # Running an eligibility and benefits check (X12 270/271 or FHIR) against a payer.
    ELIGIBILITY_CHECK = "eligibility:check"
    # Prior authorisations.
    AUTHORIZATION_READ = "authorization:read"
    AUTHORIZATION_WRITE = "authorization:write"
    # Patient-responsibility and good-faith estimates (patients read their own).
    ESTIMATE_READ = "estimate:read"
    ESTIMATE_CREATE = "estimate:create"
    # Claims (patients read their own): build, scrub, correct and move them by hand.
    CLAIM_READ = "claim:read"
    CLAIM_WRITE = "claim:write"
    # Send claims (837P batches) and ask their status (276).
    CLAIM_SUBMIT = "claim:submit"
    # The scrubber's configurable tables (unbundling pairs, unit limits) and the CARC -> action
    # table: admins.
    CLAIM_RULES_WRITE = "claim_rules:write"
    # Remittances (835): read them, post them, work the unmatched queue.
    REMITTANCE_READ = "remittance:read"
    REMITTANCE_POST = "remittance:post"
    # Denials and appeals.
    APPEAL_WRITE = "appeal:write"


_READ_ALL = {
    Action.PRACTICE_READ,
    Action.PROVIDER_READ,
    Action.CATALOG_READ,
    Action.PATIENT_READ,
    Action.INVOICE_READ,
    Action.PAYMENT_READ,
    Action.STATEMENT_READ,
    Action.PLAN_READ,
}

MATRIX: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.BILLING_STAFF: frozenset(
        _READ_ALL
        | {
            Action.PROVIDER_WRITE,
            Action.CATALOG_WRITE,
            Action.PATIENT_WRITE,
            Action.INVOICE_WRITE,
            Action.INVOICE_ISSUE,
            Action.INVOICE_VOID,
            Action.INVOICE_ADJUST,
            Action.INVOICE_WRITE_OFF,
            Action.PAYMENT_RECORD,
            Action.PAYMENT_REFUND,
            Action.APPROVAL_READ,
            Action.LEDGER_READ,
            Action.MFA_MANAGE,
            Action.PLAN_WRITE,
            Action.PLAN_ACCEPT,
            Action.PAYMENT_METHOD_WRITE,
            Action.CASH_RECONCILE,
            Action.FRAUD_READ,
            Action.RECONCILIATION_READ,
            Action.PAYER_READ,
            Action.CLAIM_READ,
            Action.CLAIM_WRITE,
            Action.CLAIM_SUBMIT,
            Action.REMITTANCE_READ,
            Action.REMITTANCE_POST,
            Action.COVERAGE_READ,
            Action.COVERAGE_WRITE,
            Action.ELIGIBILITY_CHECK,
            Action.AUTHORIZATION_READ,
            Action.ESTIMATE_READ,
            Action.ESTIMATE_CREATE,
        }
    ),
    # Insurance specialists verify coverage and work claims: they read the financial picture and
    # maintain patient (coverage) details, but do not bill patients or take money.
    Role.INSURANCE_SPECIALIST: frozenset(
        _READ_ALL
        | {
            Action.PATIENT_WRITE,
            Action.MFA_MANAGE,
            Action.PAYER_READ,
            Action.CLAIM_READ,
            Action.CLAIM_WRITE,
            Action.CLAIM_SUBMIT,
            Action.REMITTANCE_READ,
            Action.REMITTANCE_POST,
            Action.APPEAL_WRITE,
            Action.PAYER_WRITE,
            Action.COVERAGE_READ,
            Action.COVERAGE_WRITE,
            Action.ELIGIBILITY_CHECK,
            Action.AUTHORIZATION_READ,
            Action.AUTHORIZATION_WRITE,
            Action.ESTIMATE_READ,
            Action.ESTIMATE_CREATE,
        }
    ),
    # Patients read their own records only (ownership is checked on every object).
    Role.PATIENT: frozenset(
        {
            Action.PRACTICE_READ,
            Action.PATIENT_READ,
            Action.INVOICE_READ,
            Action.PAYMENT_READ,
            Action.STATEMENT_READ,
            Action.PLAN_READ,
            Action.PLAN_ACCEPT,
            Action.PAYMENT_METHOD_WRITE,
            Action.COVERAGE_READ,
            Action.ESTIMATE_READ,
            Action.CLAIM_READ,
        }
    ),
}


# Actions a principal may perform only when its sign-in passed the second factor (TOTP), whatever
# the matrix says: refused with 403 auth.mfa_required otherwise.
MFA_REQUIRED_ACTIONS: frozenset[Action] = frozenset({Action.MONEY_APPROVE})


def allowed(role: str, action: Action) -> bool:
    try:
        return action in MATRIX[Role(role)]
    except ValueError:
        return False
