"""Several workers run the autopay task at once against the same due installments: each is
charged exactly once, with one ledger entry (SKIP LOCKED claims on PostgreSQL; SQLite's single
writer serialises the claims)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.db import unit_of_work
from revcycle.gateway.testgw.models import TestgwCharge
from revcycle.gateway.testgw.service import TestGateway
from revcycle.integrity import service as integrity
from revcycle.plans import autopay
from revcycle.plans.models import PlanChargeAttempt, PlanInstallment
from tests import conftest
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.invoices.helpers import priced
from tests.plans.helpers import accept, at, propose, stored_card

PLANS = 24
WORKERS = 6


def test_concurrent_workers_charge_each_installment_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _engine, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        for _ in range(PLANS):
            patient = make_patient(s, practice)
            inv = make_invoice(s, patient, lines=priced("30.00"))
            s.flush()
            card = stored_card(s, patient)
            accept(s, propose(s, patient, [inv.id], count=3).plan.id, card)
    settings = conftest.test_settings(url).model_copy(update={"autopay_batch_size": 3})
    gateway = TestGateway(factory)
    barrier = threading.Barrier(WORKERS)

    def worker(_: int) -> int:
        barrier.wait()
        return autopay.run_once(factory, settings, at(0), gateway=gateway)

    with ThreadPoolExecutor(WORKERS) as pool:
        done = list(pool.map(worker, range(WORKERS)))
    assert sum(done) == PLANS
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(TestgwCharge)) == PLANS
        assert s.scalar(select(func.count()).select_from(PlanChargeAttempt)) == PLANS
        paid = s.scalars(
            select(PlanInstallment.paid_minor).where(PlanInstallment.status == "paid")
        ).all()
        assert paid == [1000] * PLANS
        entries = s.execute(
            text("select count(*) from journal_entries where kind = 'payment'")
        ).scalar_one()
        assert entries == PLANS
        report = integrity.run(s)
        assert report.ok, report.violations
