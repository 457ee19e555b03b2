"""The charge-import demo: one visit imported, issued and claimed; the EHR's resend creates
nothing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from revcycle.charges import demo
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from tests.factories.claims import make_world
from tests.factories.practices import SYSTEM


def test_the_demo_imports_one_visit_issues_and_claims_it(session: Session) -> None:
    w = make_world(session)
    got = demo.seed_charges(session, SYSTEM, w.practice.id)
    assert got == demo.ChargesDemo(
        charges=2, invoices=1, issued_minor=19500, claims=1, resent_created=0
    )
    invoices = session.query(Invoice).filter(Invoice.memo.like("Charges of Encounter/demo-%")).all()
    assert len(invoices) == 1
    fig = invoices_service.invoice_figures(session, invoices[0].id)
    assert (fig.balance, invoices[0].status) == (19500, "open")
