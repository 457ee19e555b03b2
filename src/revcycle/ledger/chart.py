"""The per-practice chart of accounts.

Signs: a posting's ``amount_minor`` is positive for a debit and negative for a credit. Assets and
expenses (and contra-revenue) carry debit balances; liabilities and revenue carry credit balances.
"""

from __future__ import annotations

from enum import StrEnum


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    CONTRA_REVENUE = "contra_revenue"
    EXPENSE = "expense"


class AccountCode(StrEnum):
    CASH = "1000"  # cash and undeposited funds (cash, cheques)
    CARD_CLEARING = "1010"  # card / bank-transfer money in flight from the gateway
    BANK_OPERATING = "1020"  # the practice's bank account (gateway payouts land here)
    PATIENT_AR = "1200"  # what patients owe
    INSURANCE_AR = "1210"  # what payers owe
    PATIENT_CREDIT = "2100"  # unapplied patient money (overpayments), a liability
    REFUNDS_PAYABLE = "2200"  # refunds approved but not yet paid out
    # What payers kept back or carried forward at provider level (835 PLB: recoupments WO,
    # forward balances FB, ...), owed to (credit) or by (debit) payers until reconciled.
    PAYER_OFFSETS = "2300"
    SERVICE_REVENUE = "4000"  # gross charges
    DISCOUNTS = "4100"  # discounts given on invoices (contra-revenue)
    CONTRACTUAL_ADJUSTMENTS = "4200"  # payer contractual write-downs (contra-revenue)
    BILLING_ADJUSTMENTS = "4300"  # credit notes: billing errors, courtesy, small balances
    PAYER_INTEREST = "4500"  # interest payers add for late payment (835 PLB L6)
    BAD_DEBT = "6100"  # uncollectible balances written off (expense)
    CARD_FEES = "6200"  # the card gateway's processing fees, kept from its payouts (expense)
    CASH_OVER_SHORT = "6300"  # cash drawer differences at closing (expense; over = credit)


CHART: dict[AccountCode, tuple[str, AccountType]] = {
    AccountCode.CASH: ("Cash and undeposited funds", AccountType.ASSET),
    AccountCode.CARD_CLEARING: ("Card and bank clearing", AccountType.ASSET),
    AccountCode.BANK_OPERATING: ("Bank — operating", AccountType.ASSET),
    AccountCode.PATIENT_AR: ("Patient accounts receivable", AccountType.ASSET),
    AccountCode.INSURANCE_AR: ("Insurance accounts receivable", AccountType.ASSET),
    AccountCode.PATIENT_CREDIT: ("Patient credit (unapplied)", AccountType.LIABILITY),
    AccountCode.REFUNDS_PAYABLE: ("Refunds payable", AccountType.LIABILITY),
    AccountCode.PAYER_OFFSETS: ("Payer offsets and forward balances", AccountType.LIABILITY),
    AccountCode.SERVICE_REVENUE: ("Patient service revenue", AccountType.REVENUE),
    AccountCode.DISCOUNTS: ("Discounts", AccountType.CONTRA_REVENUE),
    AccountCode.CONTRACTUAL_ADJUSTMENTS: ("Contractual adjustments", AccountType.CONTRA_REVENUE),
    AccountCode.BILLING_ADJUSTMENTS: (
        "Billing adjustments (credit notes)",
        AccountType.CONTRA_REVENUE,
    ),
    AccountCode.PAYER_INTEREST: ("Interest from payers", AccountType.REVENUE),
    AccountCode.BAD_DEBT: ("Bad-debt write-offs", AccountType.EXPENSE),
    AccountCode.CARD_FEES: ("Card processing fees", AccountType.EXPENSE),
    AccountCode.CASH_OVER_SHORT: ("Cash over/short", AccountType.EXPENSE),
}

DEBIT_NORMAL = {AccountType.ASSET, AccountType.EXPENSE, AccountType.CONTRA_REVENUE}


class EntryKind(StrEnum):
    INVOICE_ISSUE = "invoice.issue"
    INVOICE_VOID = "invoice.void"
    CREDIT_NOTE = "invoice.credit_note"
    CREDIT_NOTE_VOID = "invoice.credit_note_void"
    WRITE_OFF = "invoice.write_off"
    PAYMENT = "payment"
    # A bank transfer the bank returned after it settled: the reversal of its payment entry, and
    # the correction for money already refunded or spent from it (docs/bank-transfers.md).
    PAYMENT_RETURN = "payment.return"
    # A refund: money taken back from patient credit / invoice receivables becomes owed to the
    # patient (2200); the pay-out settles it from cash or clearing (docs/refunds-approvals.md).
    REFUND = "refund"
    REFUND_PAYOUT = "refund.payout"
    # A card gateway's daily payout: card clearing -> bank, its fees -> card processing fees.
    SETTLEMENT = "settlement"
    # Front desk (docs/front-desk.md): a drawer's counted difference at closing, and a bank
    # deposit of closed drawers (cash and undeposited funds 1000 -> bank 1020).
    CASH_OVER_SHORT = "cash.over_short"
    CASH_DEPOSIT = "cash.deposit"
    # Claims (docs/claims.md): charges billed to a payer move from patient to insurance
    # receivables; an 835 claim payment posts payment, contractual and other adjustments and the
    # patient's responsibility; provider-level adjustments post to their own accounts.
    CLAIM_BILL = "claim.bill"
    CLAIM_UNBILL = "claim.unbill"
    # 835 posting: what the payer paid (insurance AR -> cash/bank), and its contractual and other
    # adjustments (insurance AR -> 4200) and the patient's responsibility (insurance AR -> patient
    # AR), as separate entries so an invoice's figures tell paid from adjusted.
    CLAIM_PAYMENT = "claim.payment"
    CLAIM_ADJUSTMENT = "claim.adjustment"
    CLAIM_PATIENT_RESPONSIBILITY = "claim.patient_responsibility"
    REMITTANCE_PROVIDER_ADJUSTMENT = "remittance.provider_adjustment"
