"""Imports every domain's models so Alembic and tests see the whole metadata."""

from revcycle.approvals.models import ApprovalRequest
from revcycle.audit.models import AuditChainHead, AuditEvent
from revcycle.auth.models import ApiToken, User, UserPractice
from revcycle.cash.models import BankDeposit, CashDrawer, CashDrawerItem
from revcycle.gateway.models import GatewayEvent
from revcycle.gateway.testgw.models import TestgwCharge, TestgwRefund, TestgwToken, TestgwWebhook
from revcycle.idempotency.models import IdempotencyKey
from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceLine, InvoiceSequence
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.patients.models import Patient
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.practices.models import Practice, Provider, ServiceItem
from revcycle.receipts.models import Receipt, ReceiptSequence
from revcycle.refunds.models import Refund, RefundPart

__all__ = [
    "Account",
    "ApiToken",
    "ApprovalRequest",
    "AuditChainHead",
    "AuditEvent",
    "BankDeposit",
    "CashDrawer",
    "CashDrawerItem",
    "GatewayEvent",
    "IdempotencyKey",
    "Invoice",
    "InvoiceAdjustment",
    "InvoiceLine",
    "InvoiceSequence",
    "JournalEntry",
    "Patient",
    "Payment",
    "PaymentAllocation",
    "Posting",
    "Practice",
    "Provider",
    "Receipt",
    "ReceiptSequence",
    "Refund",
    "RefundPart",
    "ServiceItem",
    "TestgwCharge",
    "TestgwRefund",
    "TestgwToken",
    "TestgwWebhook",
    "User",
    "UserPractice",
]
