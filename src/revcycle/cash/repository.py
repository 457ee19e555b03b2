"""All SQL for cash drawers, their items and bank deposits (plus the day's cash/cheque takings
the daily report compares them with)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from revcycle.auth.models import User
from revcycle.cash.models import OPEN, BankDeposit, CashDrawer, CashDrawerItem
from revcycle.ledger.models import JournalEntry
from revcycle.payments.models import Payment
from revcycle.refunds.models import Refund

DRAWER_METHODS = ("cash", "check")


class CashRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # drawers ---------------------------------------------------------------------------------

    def get(self, drawer_id: uuid.UUID) -> CashDrawer | None:
        return self.session.get(CashDrawer, drawer_id)

    def lock(self, drawer_id: uuid.UUID) -> CashDrawer | None:
        return self.session.scalar(
            select(CashDrawer)
            .where(CashDrawer.id == drawer_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def lock_many(self, drawer_ids: Sequence[uuid.UUID]) -> list[CashDrawer]:
        """Lock drawers in ascending id order (the lock order for deposits)."""
        return list(
            self.session.scalars(
                select(CashDrawer)
                .where(CashDrawer.id.in_(sorted(set(drawer_ids))))
                .order_by(CashDrawer.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )

    def open_for_user(self, user_id: uuid.UUID, *, lock: bool = False) -> CashDrawer | None:
        q = select(CashDrawer).where(CashDrawer.user_id == user_id, CashDrawer.status == OPEN)
        if lock:
            q = q.with_for_update().execution_options(populate_existing=True)
        return self.session.scalar(q)

    def search(
        self,
        practice_id: uuid.UUID,
        *,
        business_date: dt.date | None,
        status: str | None,
        before: uuid.UUID | None,
        limit: int,
    ) -> list[CashDrawer]:
        q = (
            select(CashDrawer)
            .where(CashDrawer.practice_id == practice_id)
            .order_by(CashDrawer.id.desc())
            .limit(limit)
        )
        if business_date is not None:
            q = q.where(CashDrawer.business_date == business_date)
        if status is not None:
            q = q.where(CashDrawer.status == status)
        if before is not None:
            q = q.where(CashDrawer.id < before)
        return list(self.session.scalars(q))

    def on_date(self, practice_id: uuid.UUID, day: dt.date) -> list[CashDrawer]:
        return list(
            self.session.scalars(
                select(CashDrawer)
                .where(CashDrawer.practice_id == practice_id, CashDrawer.business_date == day)
                .order_by(CashDrawer.opened_at, CashDrawer.id)
            )
        )

    def of_deposits(self, deposit_ids: Sequence[uuid.UUID]) -> list[CashDrawer]:
        if not deposit_ids:
            return []
        return list(
            self.session.scalars(
                select(CashDrawer)
                .where(CashDrawer.deposit_id.in_(deposit_ids))
                .order_by(CashDrawer.id)
            )
        )

    # items -----------------------------------------------------------------------------------

    def add_item(self, item: CashDrawerItem) -> None:
        self.session.add(item)
        self.session.flush()

    def items(self, drawer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[CashDrawerItem]]:
        out: dict[uuid.UUID, list[CashDrawerItem]] = {d: [] for d in drawer_ids}
        if not drawer_ids:
            return out
        for item in self.session.scalars(
            select(CashDrawerItem)
            .where(CashDrawerItem.drawer_id.in_(drawer_ids))
            .order_by(CashDrawerItem.created_at, CashDrawerItem.id)
        ):
            out[item.drawer_id].append(item)
        return out

    # deposits --------------------------------------------------------------------------------

    def add_deposit(self, deposit: BankDeposit) -> None:
        self.session.add(deposit)
        self.session.flush()

    def get_deposit(self, deposit_id: uuid.UUID) -> BankDeposit | None:
        return self.session.get(BankDeposit, deposit_id)

    def deposits_on(self, practice_id: uuid.UUID, day: dt.date) -> list[BankDeposit]:
        return list(
            self.session.scalars(
                select(BankDeposit)
                .where(BankDeposit.practice_id == practice_id, BankDeposit.deposited_on == day)
                .order_by(BankDeposit.created_at, BankDeposit.id)
            )
        )

    # the daily report --------------------------------------------------------------------------

    def taken_on(
        self, practice_id: uuid.UUID, day: dt.date
    ) -> list[tuple[uuid.UUID | None, str, int, int]]:
        """(user, method, Σ amount, Σ amount outside any drawer) of settled cash and cheque
        payments received that day."""
        in_drawer = exists().where(CashDrawerItem.payment_id == Payment.id)
        outside = func.sum(case((in_drawer, 0), else_=Payment.amount_minor))
        rows = self.session.execute(
            select(Payment.created_by, Payment.method, func.sum(Payment.amount_minor), outside)
            .where(
                Payment.practice_id == practice_id,
                Payment.received_on == day,
                Payment.status == "succeeded",
                Payment.entry_id.is_not(None),
                Payment.method.in_(DRAWER_METHODS),
            )
            .group_by(Payment.created_by, Payment.method)
        ).all()
        return [(u, m, int(total), int(out)) for u, m, total, out in rows]

    def refunded_on(
        self, practice_id: uuid.UUID, day: dt.date
    ) -> list[tuple[uuid.UUID | None, int, int]]:
        """(user, Σ amount, Σ amount outside any drawer) of refunds paid out of cash (account
        1000) with that day's payout entry."""
        in_drawer = exists().where(CashDrawerItem.refund_id == Refund.id)
        outside = func.sum(case((in_drawer, 0), else_=Refund.amount_minor))
        rows = self.session.execute(
            select(Refund.created_by, func.sum(Refund.amount_minor), outside)
            .join(JournalEntry, JournalEntry.id == Refund.payout_entry_id)
            .where(
                Refund.practice_id == practice_id,
                Refund.status == "paid",
                Refund.method.in_(DRAWER_METHODS),
                JournalEntry.effective_date == day,
            )
            .group_by(Refund.created_by)
        ).all()
        return [(u, int(total), int(out)) for u, total, out in rows]

    def usernames(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not user_ids:
            return {}
        return dict(
            self.session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all()
        )

    def payments(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Payment]:
        if not payment_ids:
            return {}
        return {
            p.id: p
            for p in self.session.scalars(select(Payment).where(Payment.id.in_(payment_ids)))
        }
