"""Imports every domain's models so Alembic and tests see the whole metadata."""

from revcycle.approvals.models import ApprovalRequest
from revcycle.audit.models import AuditChainHead, AuditEvent
from revcycle.auth.models import ApiToken, User, UserPractice
from revcycle.gateway.models import GatewayEvent
from revcycle.gateway.testgw.models import TestgwCharge, TestgwRefund, TestgwToken, TestgwWebhook
from revcycle.idempotency.models import IdempotencyKey
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
from revcycle.refunds.models import Refund, RefundPart

__all__ = [
    "Account",
    "ApiToken",
    "ApprovalRequest",
    "AuditChainHead",
    "AuditEvent",
    "GatewayEvent",
    "IdempotencyKey",
    "Invoice",
    "InvoiceAdjustment",
    "InvoiceLine",
    "InvoiceSequence",
    "JournalEntry",
    "Notification",
    "Patient",
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
    "Refund",
    "RefundPart",
    "ServiceItem",
    "StoredPaymentMethod",
    "TestgwCharge",
    "TestgwRefund",
    "TestgwToken",
    "TestgwWebhook",
    "User",
    "UserPractice",
]
