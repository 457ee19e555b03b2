"""Front-desk cash drawers and bank deposits (docs/front-desk.md).

* A user opens a drawer with a float; while it is open, every cash or cheque payment they take
  and every refund they pay out of cash (account 1000) is recorded in it (:func:`attach_payment`,
  :func:`attach_refund`, called when the money moves, under the drawer's row lock).
* Closing counts it: the over/short is computed exactly and posted (1000 <-> 6300).
* A bank deposit takes closed drawers' takings (counted cash less float, plus cheques) from 1000
  to the bank account 1020.

Lock order: patient -> invoices -> payment/refund -> drawer -> receipt sequence (payments and
refunds attach last); closing locks the drawer alone; deposits lock drawers by ascending id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.cash import calc, errors
from revcycle.cash.models import CLOSED, OPEN, BankDeposit, CashDrawer, CashDrawerItem
from revcycle.cash.repository import DRAWER_METHODS, CashRepository
from revcycle.cash.schemas import DepositCreate, DrawerClose, DrawerOpen
from revcycle.errors import InvalidInput, out_of_scope
from revcycle.kit.clock import today, utcnow
from revcycle.kit.dberrors import violates_unique
from revcycle.kit.ids import uuid7
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.payments.models import Payment
from revcycle.practices.errors import PracticeNotFound
from revcycle.practices.models import Practice
from revcycle.practices.repository import PracticeRepository
from revcycle.receipts.repository import ReceiptRepository
from revcycle.refunds.models import Refund


@dataclass(frozen=True)
class DrawerView:
    drawer: CashDrawer
    items: list[CashDrawerItem]
    receipts: dict[uuid.UUID, str]  # payment / refund id -> receipt number

    @property
    def expected(self) -> calc.Expected:
        return calc.expected((i.method, i.amount_minor) for i in self.items)


@dataclass(frozen=True)
class CheckLineView:
    payment_id: uuid.UUID
    receipt_number: str | None
    check_number: str | None
    amount_minor: int


@dataclass(frozen=True)
class DepositView:
    deposit: BankDeposit
    drawer_ids: list[uuid.UUID]
    checks: list[CheckLineView]


def _require_key(idempotency_key: str | None) -> None:
    if idempotency_key is None:
        raise errors.IdempotencyKeyRequired(
            "Cash drawer and deposit requests need an Idempotency-Key header"
        )


def _practice(session: Session, actor: Principal, practice_id: uuid.UUID) -> Practice:
    actor.require(Action.CASH_RECONCILE)
    actor.check_practice(practice_id)
    practice = PracticeRepository(session).get(practice_id)
    if practice is None:
        raise PracticeNotFound("No such practice")
    return practice


def _drawer(
    session: Session, actor: Principal, drawer_id: uuid.UUID, *, lock: bool = False
) -> CashDrawer:
    actor.require(Action.CASH_RECONCILE)
    repo = CashRepository(session)
    drawer = repo.lock(drawer_id) if lock else repo.get(drawer_id)
    if drawer is None:
        raise errors.DrawerNotFound("No such cash drawer")
    if not actor.sees_practice(drawer.practice_id):
        raise out_of_scope(errors.DrawerNotFound("No such cash drawer"), "cash_drawer", drawer_id)
    return drawer


def _view(session: Session, drawer: CashDrawer) -> DrawerView:
    items = CashRepository(session).items([drawer.id])[drawer.id]
    return DrawerView(drawer, items, _receipts(session, items))


def _receipts(session: Session, items: list[CashDrawerItem]) -> dict[uuid.UUID, str]:
    return ReceiptRepository(session).numbers_for(
        [i.payment_id for i in items if i.payment_id is not None],
        [i.refund_id for i in items if i.refund_id is not None],
    )


# the money moving through a drawer ---------------------------------------------------------------


def _attach(
    session: Session,
    *,
    user_id: uuid.UUID | None,
    practice_id: uuid.UUID,
    currency: str,
    item: CashDrawerItem,
) -> None:
    if user_id is None:
        return
    repo = CashRepository(session)
    drawer = repo.open_for_user(user_id, lock=True)
    if drawer is None or drawer.practice_id != practice_id or drawer.currency != currency:
        return  # taken outside a drawer: the daily report shows it as such
    item.drawer_id = drawer.id
    repo.add_item(item)


def attach_payment(session: Session, payment: Payment) -> None:
    """A settled cash or cheque payment goes into its taker's open drawer, if any."""
    if payment.method not in DRAWER_METHODS:
        return
    _attach(
        session,
        user_id=payment.created_by,
        practice_id=payment.practice_id,
        currency=payment.currency,
        item=CashDrawerItem(
            id=uuid7(),
            payment_id=payment.id,
            method=payment.method,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            reference=payment.reference,
        ),
    )


def attach_refund(session: Session, refund: Refund) -> None:
    """A paid refund of a cash or cheque payment is paid out in cash from the refunder's drawer
    (its payout credits account 1000, like the drawer's takings)."""
    if refund.method not in DRAWER_METHODS:
        return
    _attach(
        session,
        user_id=refund.created_by,
        practice_id=refund.practice_id,
        currency=refund.currency,
        item=CashDrawerItem(
            id=uuid7(),
            refund_id=refund.id,
            method="cash",
            amount_minor=-refund.amount_minor,
            currency=refund.currency,
        ),
    )


# opening and closing -----------------------------------------------------------------------------


def open_drawer(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    data: DrawerOpen,
    *,
    idempotency_key: str | None,
) -> DrawerView:
    practice = _practice(session, actor, practice_id)
    _require_key(idempotency_key)
    if actor.user_id is None:
        raise errors.NeedsUser("A cash drawer belongs to a signed-in user")
    repo = CashRepository(session)
    existing = repo.open_for_user(actor.user_id)
    if existing is not None:
        raise errors.DrawerAlreadyOpen(
            "You already have an open cash drawer; close it first", drawer_id=str(existing.id)
        )
    drawer = CashDrawer(
        id=uuid7(),
        practice_id=practice.id,
        user_id=actor.user_id,
        location=data.location,
        business_date=today(),
        currency=practice.currency,
        opening_float_minor=Money.parse(data.opening_float, practice.currency).amount_minor,
        status=OPEN,
    )
    try:
        with session.begin_nested():  # a concurrent open by the same user loses here
            session.add(drawer)
            session.flush()
    except IntegrityError as exc:
        if violates_unique(
            exc, name="ux_cash_drawers_open_user", table="cash_drawers", columns=["user_id"]
        ):
            raise errors.DrawerAlreadyOpen(
                "You already have an open cash drawer; close it first"
            ) from None
        raise
    audit.record(
        session,
        actor,
        "cash:drawer_open",
        object_type="cash_drawer",
        object_id=drawer.id,
        practice_id=practice.id,
        fields=["location", "opening_float"],
    )
    return DrawerView(drawer, [], {})


def _counted_cash(
    data: DrawerClose, currency: str
) -> tuple[int, list[dict[str, str | int]] | None]:
    by_denomination: int | None = None
    denominations: list[dict[str, str | int]] | None = None
    if data.denominations is not None:
        parsed = [(Money.parse(d.value, currency), d.count) for d in data.denominations]
        by_denomination = calc.denominations_total((m.amount_minor, n) for m, n in parsed)
        denominations = [{"value": m.format(), "count": n} for m, n in parsed]
    total = None if data.counted_cash is None else Money.parse(data.counted_cash, currency)
    if total is None and by_denomination is None:
        raise InvalidInput(
            "Give the counted cash, as a total or by denomination", code="cash.count_required"
        )
    if total is not None and by_denomination is not None and total.amount_minor != by_denomination:
        raise errors.CountMismatch(
            f"The denominations add up to {Money(by_denomination, currency).format()}, "
            f"not {total.format()}",
            by_denomination=Money(by_denomination, currency).format(),
        )
    counted = total.amount_minor if total is not None else by_denomination
    assert counted is not None
    return counted, denominations


def close_drawer(
    session: Session,
    actor: Principal,
    drawer_id: uuid.UUID,
    data: DrawerClose,
    *,
    idempotency_key: str | None,
) -> DrawerView:
    """Count a drawer and close it (once: the row lock and the status check make a concurrent
    second close a 409 that writes nothing)."""
    drawer = _drawer(session, actor, drawer_id, lock=True)
    _require_key(idempotency_key)
    if drawer.status != OPEN:
        raise errors.DrawerClosed("This cash drawer is already closed")
    currency = drawer.currency
    counted_cash, denominations = _counted_cash(data, currency)
    view = _view(session, drawer)
    exp = view.expected
    counted_checks = (
        exp.checks_minor
        if data.counted_checks is None
        else Money.parse(data.counted_checks, currency).amount_minor
    )
    count = calc.Count(counted_cash, counted_checks)
    cash_os, checks_os = calc.over_short(drawer.opening_float_minor, exp, count)
    total_os = cash_os + checks_os
    if total_os != 0:
        amount = Money(abs(total_os), currency)
        legs = (
            [
                ledger.debit(AccountCode.CASH, amount),
                ledger.credit(AccountCode.CASH_OVER_SHORT, amount),
            ]
            if total_os > 0
            else [
                ledger.debit(AccountCode.CASH_OVER_SHORT, amount),
                ledger.credit(AccountCode.CASH, amount),
            ]
        )
        drawer.over_short_entry_id = ledger.post_entry(
            session,
            ledger.EntrySpec(
                practice_id=drawer.practice_id,
                kind=EntryKind.CASH_OVER_SHORT.value,
                legs=legs,
                effective_date=drawer.business_date,
                memo="Cash drawer over" if total_os > 0 else "Cash drawer short",
                created_by=actor.user_id,
                source_type="cash_drawer",
                source_id=drawer.id,
            ),
        )
    drawer.status = CLOSED
    drawer.closed_at = utcnow()
    drawer.closed_by = actor.user_id
    drawer.expected_cash_minor = exp.cash_minor
    drawer.expected_checks_minor = exp.checks_minor
    drawer.counted_cash_minor = counted_cash
    drawer.counted_checks_minor = counted_checks
    drawer.over_short_minor = total_os
    drawer.denominations = None if denominations is None else {"counts": denominations}
    drawer.note = data.note
    session.flush()
    audit.record(
        session,
        actor,
        "cash:drawer_close",
        object_type="cash_drawer",
        object_id=drawer.id,
        practice_id=drawer.practice_id,
        fields=["counted_cash", "counted_checks", "denominations", "note"],
        detail={"over_short": Money(total_os, currency).format()},
    )
    return view


# deposits ----------------------------------------------------------------------------------------


def deposit(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    data: DepositCreate,
    *,
    idempotency_key: str | None,
) -> DepositView:
    """Take closed drawers' takings to the bank: one entry, 1000 -> 1020. Each drawer is
    deposited once (row locks, ascending id; the status checks run under them)."""
    practice = _practice(session, actor, practice_id)
    _require_key(idempotency_key)
    on = data.deposited_on or today()
    if on > today():
        raise errors.InvalidDate("The deposit date is in the future")
    drawers = CashRepository(session).lock_many(data.drawer_ids)
    found = {d.id: d for d in drawers}
    for drawer_id in data.drawer_ids:
        d = found.get(drawer_id)
        if d is None or d.practice_id != practice.id:
            raise errors.DrawerNotFound("No such cash drawer", drawer_id=str(drawer_id))
        if d.status != CLOSED:
            raise errors.DrawerNotClosed(
                "Close this cash drawer before depositing it", drawer_id=str(d.id)
            )
        if d.deposit_id is not None:
            raise errors.AlreadyDeposited(
                "This cash drawer was already deposited", drawer_id=str(d.id)
            )
        if d.business_date > on:
            raise errors.InvalidDate(
                "The deposit date is before the drawer's day", drawer_id=str(d.id)
            )
    cash, checks = calc.deposit_parts(
        (d.opening_float_minor, calc.Count(d.counted_cash_minor or 0, d.counted_checks_minor or 0))
        for d in drawers
    )
    if cash < 0 or cash + checks <= 0:
        raise errors.NothingToDeposit(
            "These drawers hold nothing to deposit beyond their floats",
            cash=Money(cash, practice.currency).format(),
        )
    total = Money(cash + checks, practice.currency)
    deposit_id = uuid7()
    entry_id = ledger.post_entry(
        session,
        ledger.EntrySpec(
            practice_id=practice.id,
            kind=EntryKind.CASH_DEPOSIT.value,
            legs=[
                ledger.debit(AccountCode.BANK_OPERATING, total),
                ledger.credit(AccountCode.CASH, total),
            ],
            effective_date=on,
            memo="Bank deposit",
            created_by=actor.user_id,
            source_type="bank_deposit",
            source_id=deposit_id,
        ),
    )
    row = BankDeposit(
        id=deposit_id,
        practice_id=practice.id,
        deposited_on=on,
        bank_reference=data.bank_reference,
        cash_minor=cash,
        checks_minor=checks,
        total_minor=total.amount_minor,
        currency=practice.currency,
        entry_id=entry_id,
        created_by=actor.user_id,
    )
    CashRepository(session).add_deposit(row)
    for d in drawers:
        d.deposit_id = row.id
    session.flush()
    audit.record(
        session,
        actor,
        "cash:deposit",
        object_type="bank_deposit",
        object_id=row.id,
        practice_id=practice.id,
        fields=["drawer_ids", "deposited_on", "bank_reference"],
        detail={"total": total.format(), "drawers": len(drawers)},
    )
    return _deposit_view(session, row)


def _deposit_view(session: Session, row: BankDeposit) -> DepositView:
    repo = CashRepository(session)
    drawers = repo.of_deposits([row.id])
    items = [i for lst in repo.items([d.id for d in drawers]).values() for i in lst]
    cheques = [i for i in items if i.method == "check" and i.payment_id is not None]
    numbers = _receipts(session, cheques)
    return DepositView(
        row,
        [d.id for d in drawers],
        [
            CheckLineView(i.payment_id, numbers.get(i.payment_id), i.reference, i.amount_minor)
            for i in cheques
            if i.payment_id is not None
        ],
    )


# reading -----------------------------------------------------------------------------------------


def get_drawer(session: Session, actor: Principal, drawer_id: uuid.UUID) -> DrawerView:
    drawer = _drawer(session, actor, drawer_id)
    audit.record_read(
        session,
        actor,
        "cash:drawer_read",
        object_type="cash_drawer",
        object_id=drawer.id,
        practice_id=drawer.practice_id,
    )
    return _view(session, drawer)


def list_drawers(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    *,
    business_date: dt.date | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[DrawerView]:
    practice = _practice(session, actor, practice_id)
    limit = min(limit, MAX_LIMIT)
    repo = CashRepository(session)
    rows = repo.search(
        practice.id,
        business_date=business_date,
        status=status,
        before=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(rows, limit)
    items = repo.items([d.id for d in page.items])
    all_items = [i for lst in items.values() for i in lst]
    numbers = _receipts(session, all_items)
    audit.record_read(
        session,
        actor,
        "cash:drawer_list",
        object_type="practice",
        object_id=practice.id,
        practice_id=practice.id,
        detail={"rows": len(page.items)},
    )
    return Page([DrawerView(d, items[d.id], numbers) for d in page.items], page.next_cursor)


def get_deposit(session: Session, actor: Principal, deposit_id: uuid.UUID) -> DepositView:
    actor.require(Action.CASH_RECONCILE)
    row = CashRepository(session).get_deposit(deposit_id)
    if row is None:
        raise errors.DepositNotFound("No such bank deposit")
    if not actor.sees_practice(row.practice_id):
        raise out_of_scope(errors.DepositNotFound("No such bank deposit"), "bank_deposit", row.id)
    audit.record_read(
        session,
        actor,
        "cash:deposit_read",
        object_type="bank_deposit",
        object_id=row.id,
        practice_id=row.practice_id,
    )
    return _deposit_view(session, row)


# the daily report --------------------------------------------------------------------------------


@dataclass
class RowFigures:
    taken: int = 0
    refunded: int = 0
    expected: int = 0
    counted: int = 0
    over_short: int = 0
    deposited: int = 0
    undeposited: int = 0
    outside_drawers: int = 0


@dataclass(frozen=True)
class LedgerDayFigures:
    payments: int
    refunds: int
    over_short: int
    deposits: int
    other: int

    @property
    def net(self) -> int:
        return self.payments - self.refunds + self.over_short - self.deposits + self.other


@dataclass(frozen=True)
class DailyReportView:
    practice: Practice
    day: dt.date
    rows: dict[tuple[uuid.UUID | None, str], RowFigures]
    usernames: dict[uuid.UUID, str]
    drawers: list[DrawerView]
    deposits: list[DepositView]
    totals: LedgerDayFigures
    ledger: LedgerDayFigures

    @property
    def reconciled(self) -> bool:
        return self.totals == self.ledger


def _drawer_figures(rows: dict[tuple[uuid.UUID | None, str], RowFigures], view: DrawerView) -> None:
    d = view.drawer
    exp = view.expected
    cash = rows[(d.user_id, "cash")]
    checks = rows[(d.user_id, "check")]
    cash.expected += exp.cash_minor
    checks.expected += exp.checks_minor
    if d.status == OPEN:
        cash.undeposited += exp.cash_minor
        checks.undeposited += exp.checks_minor
        return
    count = calc.Count(d.counted_cash_minor or 0, d.counted_checks_minor or 0)
    cash_os, checks_os = calc.over_short(d.opening_float_minor, exp, count)
    counted_cash = count.cash_minor - d.opening_float_minor
    cash.counted += counted_cash
    checks.counted += count.checks_minor
    cash.over_short += cash_os
    checks.over_short += checks_os
    if d.deposit_id is not None:
        cash.deposited += counted_cash
        checks.deposited += count.checks_minor
    else:
        cash.undeposited += counted_cash
        checks.undeposited += count.checks_minor


def daily_report(
    session: Session, actor: Principal, practice_id: uuid.UUID, day: dt.date
) -> DailyReportView:
    """Per user and method: what was taken, what the drawers expected and counted, over/short,
    deposited and not; totals checked against the day's movements of account 1000."""
    practice = _practice(session, actor, practice_id)
    repo = CashRepository(session)
    rows: dict[tuple[uuid.UUID | None, str], RowFigures] = defaultdict(RowFigures)
    for user_id, method, total, outside in repo.taken_on(practice.id, day):
        rows[(user_id, method)].taken += total
        rows[(user_id, method)].outside_drawers += outside
    for user_id, total, outside in repo.refunded_on(practice.id, day):
        rows[(user_id, "cash")].refunded += total
        rows[(user_id, "cash")].outside_drawers -= outside
    drawers = repo.on_date(practice.id, day)
    items = repo.items([d.id for d in drawers])
    numbers = _receipts(session, [i for lst in items.values() for i in lst])
    views = [DrawerView(d, items[d.id], numbers) for d in drawers]
    for view in views:
        _drawer_figures(rows, view)
    deposits = [_deposit_view(session, r) for r in repo.deposits_on(practice.id, day)]
    figures = list(rows.values())
    totals = LedgerDayFigures(
        payments=sum(r.taken for r in figures),
        refunds=sum(r.refunded for r in figures),
        over_short=sum(d.over_short_minor or 0 for d in drawers if d.status == CLOSED),
        deposits=sum(v.deposit.total_minor for v in deposits),
        other=0,
    )
    moved = LedgerRepository(session).account_day_movements(practice.id, AccountCode.CASH, day)
    known = {
        EntryKind.PAYMENT.value,
        EntryKind.REFUND_PAYOUT.value,
        EntryKind.CASH_OVER_SHORT.value,
        EntryKind.CASH_DEPOSIT.value,
    }
    ledger_day = LedgerDayFigures(
        payments=moved.get(EntryKind.PAYMENT.value, 0),
        refunds=-moved.get(EntryKind.REFUND_PAYOUT.value, 0),
        over_short=moved.get(EntryKind.CASH_OVER_SHORT.value, 0),
        deposits=-moved.get(EntryKind.CASH_DEPOSIT.value, 0),
        other=sum(v for k, v in moved.items() if k not in known),
    )
    audit.record_read(
        session,
        actor,
        "cash:daily_report",
        object_type="practice",
        object_id=practice.id,
        practice_id=practice.id,
        detail={"date": day.isoformat()},
    )
    users = sorted({u for u, _ in rows if u is not None})
    return DailyReportView(
        practice,
        day,
        dict(rows),
        repo.usernames(users),
        views,
        deposits,
        totals,
        ledger_day,
    )
