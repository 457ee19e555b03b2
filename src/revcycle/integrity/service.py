"""`revcycle check`: recompute every invariant from the ledger and compare with what is stored.

L1 each entry balances per currency with >= 2 postings; L2 the whole ledger sums to zero;
L3 no drift: invoice status and totals agree with ledger-derived balances; reversals negate their
originals exactly; invoice numbers are gap-free; payments split exactly into allocations + credit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from revcycle.integrity.repository import IntegrityRepository
from revcycle.invoices import calc
from revcycle.invoices.calc import figures_from_movements
from revcycle.ledger.repository import LedgerRepository


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def run(session: Session) -> Report:
    report = Report()
    ledger = LedgerRepository(session)
    repo = IntegrityRepository(session)

    # L1 / L2 ------------------------------------------------------------------------------
    for entry_id, currency, total in ledger.unbalanced_entries():
        report.violations.append(f"journal entry {entry_id} is off by {total} in {currency}")
    for entry_id, n in ledger.short_entries():
        report.violations.append(f"journal entry {entry_id} has {n} postings (needs >= 2)")
    for currency, total in ledger.totals_by_currency():
        if int(total) != 0:
            report.violations.append(f"the ledger does not balance in {currency}: {total}")
    report.checked["journal_entries"] = repo.count_entries()

    # reversals ------------------------------------------------------------------------------
    pairs = ledger.reversal_pairs()
    for reversal_id, original_id in pairs:
        orig = sorted(
            (p.account_id, p.amount_minor, p.currency, p.invoice_id, p.patient_id)
            for p in ledger.postings_of(original_id)
        )
        rev = sorted(
            (p.account_id, -p.amount_minor, p.currency, p.invoice_id, p.patient_id)
            for p in ledger.postings_of(reversal_id)
        )
        if orig != rev:
            report.violations.append(
                f"reversal {reversal_id} does not exactly negate entry {original_id}"
            )
    report.checked["reversals"] = len(pairs)

    # invoices against the ledger --------------------------------------------------------------
    invoices = repo.all_invoices()
    movements: dict[uuid.UUID, list[tuple[str, int]]] = {}
    ids = [i.id for i in invoices]
    for start in range(0, len(ids), 500):
        movements.update(ledger.invoice_movements_many(ids[start : start + 500]))
    for inv in invoices:
        fig = figures_from_movements(movements.get(inv.id, []))
        label = inv.display_number or str(inv.id)
        if inv.status == "draft":
            if movements.get(inv.id):
                report.violations.append(f"draft invoice {label} has ledger postings")
            continue
        if inv.status == "void":
            if fig.balance != 0:
                report.violations.append(f"void invoice {label} still has balance {fig.balance}")
            continue
        if fig.charged != inv.total_minor:
            report.violations.append(
                f"invoice {label}: total {inv.total_minor} but ledger charged {fig.charged}"
            )
        if fig.balance < 0:
            report.violations.append(f"invoice {label} has a negative balance {fig.balance}")
        expected = calc.derive_status(
            inv.status, total=inv.total_minor, balance=fig.balance, paid=fig.paid
        )
        if inv.status == "written_off":
            if fig.balance != 0:
                report.violations.append(
                    f"written-off invoice {label} still has balance {fig.balance}"
                )
        elif expected != inv.status:
            report.violations.append(
                f"invoice {label} is '{inv.status}' but the ledger says '{expected}'"
            )
    report.checked["invoices"] = len(invoices)

    # gap-free numbering ---------------------------------------------------------------------
    numbers: dict[uuid.UUID, list[int]] = defaultdict(list)
    for inv in invoices:
        if inv.number is not None:
            numbers[inv.practice_id].append(inv.number)
    for practice_id, last in repo.sequences().items():
        got = sorted(numbers.get(practice_id, []))
        if got != list(range(1, last + 1)):
            report.violations.append(
                f"practice {practice_id}: invoice numbers are not exactly 1..{last}"
            )

    # payments -------------------------------------------------------------------------------
    payments = repo.payment_splits()
    for pid, amount, unapplied, allocated in payments:
        if int(allocated) + int(unapplied) != int(amount):
            report.violations.append(
                f"payment {pid}: {allocated} allocated + {unapplied} credit != {amount}"
            )
    report.checked["payments"] = len(payments)

    # refunds: parts add up to the refund; never more refunded than paid (L10) --------------
    refunds = repo.refund_totals()
    for rid, amount, parts in refunds:
        if int(parts) != int(amount):
            report.violations.append(f"refund {rid}: parts {parts} != amount {amount}")
    for pid, paid, refunded in repo.refunded_per_payment():
        if int(refunded) > int(paid):
            report.violations.append(f"payment {pid}: refunded {refunded} > paid {paid}")
    for rid, status in repo.refund_entry_mismatches():
        report.violations.append(f"refund {rid}: ledger entries do not match status {status}")
    report.checked["refunds"] = len(refunds)
    for pid in repo.unsettled_payments_with_money():
        report.violations.append(f"payment {pid}: not succeeded but posted or allocated")
    for pid in repo.returned_unreversed():
        report.violations.append(f"payment {pid}: returned but its money still counts")

    # patient credit never negative ----------------------------------------------------------
    for patient_id, credit in repo.patient_credit_balances():
        if int(credit) > 0:  # a debit balance on a liability: credit handed out twice
            report.violations.append(f"patient {patient_id} has negative credit {credit}")
    return report
