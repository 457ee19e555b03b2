"""Imports every domain's models so Alembic and tests see the whole metadata."""

from revcycle.appeals.models import Appeal, AppealAttachment, AppealEvent, AppealReminder
from revcycle.appointments.models import Appointment
from revcycle.approvals.models import ApprovalRequest
from revcycle.audit.models import AuditChainHead, AuditEvent
from revcycle.auth.models import ApiToken, User, UserPractice
from revcycle.authorizations.models import Authorization, AuthorizationService, AuthorizationUsage
from revcycle.cash.models import BankDeposit, CashDrawer, CashDrawerItem
from revcycle.charges.models import ChargeImport
from revcycle.claims.cob_models import ClaimCob
from revcycle.claims.models import (
    Claim,
    ClaimBatch,
    ClaimEvent,
    ClaimLine,
    ClaimSequence,
    ClaimSubmission,
    X12ControlCounter,
)
from revcycle.claims.scrub_models import ClaimEditPair, ClaimUnitLimit
from revcycle.clearinghouse.models import ChsimAccumulator, ChsimClaim, ChsimCounter, ChsimFile
from revcycle.codesets.models import CodeRelease, Icd10cmCode
from revcycle.eligibility.models import (
    EligibilityCheck,
    EligibilityCounter,
    EligibilityReverification,
)
from revcycle.estimates.models import Estimate, EstimateLine, EstimateSettings
from revcycle.fraud.models import FraudReview, FraudRuleConfig
from revcycle.gateway.models import GatewayEvent, GatewayUnmatchedRefund
from revcycle.gateway.testgw.models import (
    TestgwBankDebit,
    TestgwBankToken,
    TestgwCharge,
    TestgwRefund,
    TestgwToken,
    TestgwWebhook,
)
from revcycle.idempotency.models import IdempotencyKey
from revcycle.insurance.models import (
    Coverage,
    CoverageAccumulator,
    CoveragePriority,
    FeeScheduleRow,
    InsurancePlan,
    Payer,
)
from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceLine, InvoiceSequence
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.notifications.models import Notification
from revcycle.patients.models import Patient
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.paymethods.models import StoredPaymentMethod
from revcycle.plans.models import (
    PaymentPlan,
    PlanChargeAttempt,
    PlanEvent,
    PlanInstallment,
    PlanInvoice,
)
from revcycle.practices.models import Practice, Provider, ServiceItem
from revcycle.receipts.models import Receipt, ReceiptSequence
from revcycle.reconciliation.models import (
    ReconciliationDifference,
    ReconciliationRun,
    SettlementPayout,
)
from revcycle.refunds.models import Refund, RefundPart
from revcycle.remittances.models import (
    Remittance,
    RemittanceClaim,
    RemittanceQuarantine,
    RemittanceUnmatched,
    Underpayment,
)

__all__ = [
    "Appeal",
    "AppealAttachment",
    "AppealEvent",
    "AppealReminder",
    "ChargeImport",
    "ClaimCob",
    "X12ControlCounter",
    "ClaimSubmission",
    "ClaimSequence",
    "ClaimLine",
    "ClaimEvent",
    "ClaimBatch",
    "Claim",
    "ClaimEditPair",
    "ClaimUnitLimit",
    "Account",
    "ApiToken",
    "Appointment",
    "ApprovalRequest",
    "AuditChainHead",
    "AuditEvent",
    "Authorization",
    "AuthorizationService",
    "AuthorizationUsage",
    "BankDeposit",
    "CashDrawer",
    "CashDrawerItem",
    "ChsimAccumulator",
    "ChsimClaim",
    "ChsimCounter",
    "ChsimFile",
    "CodeRelease",
    "Coverage",
    "CoverageAccumulator",
    "CoveragePriority",
    "EligibilityCheck",
    "EligibilityCounter",
    "EligibilityReverification",
    "Estimate",
    "EstimateLine",
    "EstimateSettings",
    "FeeScheduleRow",
    "FraudReview",
    "FraudRuleConfig",
    "GatewayEvent",
    "GatewayUnmatchedRefund",
    "Icd10cmCode",
    "IdempotencyKey",
    "InsurancePlan",
    "Invoice",
    "InvoiceAdjustment",
    "InvoiceLine",
    "InvoiceSequence",
    "JournalEntry",
    "Notification",
    "Patient",
    "Payer",
    "Payment",
    "PaymentAllocation",
    "PaymentPlan",
    "PlanChargeAttempt",
    "PlanEvent",
    "PlanInstallment",
    "PlanInvoice",
    "Posting",
    "Practice",
    "Provider",
    "Receipt",
    "ReceiptSequence",
    "ReconciliationDifference",
    "ReconciliationRun",
    "Refund",
    "RefundPart",
    "Remittance",
    "RemittanceClaim",
    "RemittanceQuarantine",
    "RemittanceUnmatched",
    "Underpayment",
    "ServiceItem",
    "SettlementPayout",
    "TestgwBankDebit",
    "TestgwBankToken",
    "StoredPaymentMethod",
    "TestgwCharge",
    "TestgwRefund",
    "TestgwToken",
    "TestgwWebhook",
    "User",
    "UserPractice",
]
