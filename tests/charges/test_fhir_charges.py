"""Charges from integrations: FHIR R4 ChargeItems become invoice lines (one invoice per patient
and encounter), issued and claimed when asked; a resend creates nothing, a changed resend and
bad input are refused with nothing written, concurrent imports of one charge import it once."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit_service
from revcycle.audit.models import AuditEvent
from revcycle.charges import errors, fhir, service
from revcycle.charges.models import ChargeImport
from revcycle.claims.models import Claim
from revcycle.errors import DomainError
from revcycle.integrity import service as integrity
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice, InvoiceLine
from revcycle.ledger.models import JournalEntry
from tests.factories.auth import auth_header, make_user
from tests.factories.claims import World, make_world
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "fhir"


def charge(
    w: World,
    ident: str,
    code: str = "99213",
    *,
    encounter: str | None = "Encounter/enc-1",
    price: str | None = "150.00",
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "identifier": [{"system": "urn:oid:1.2.3.4.ehr.charges", "value": ident}],
        "status": "billable",
        "code": {"coding": [{"system": fhir.CPT_SYSTEM, "code": code, "display": "Office visit"}]},
        "subject": {"reference": f"Patient/{w.patient.id}"},
        "occurrenceDateTime": "2026-01-05T09:30:00-05:00",
        "quantity": {"value": 1},
        "reason": [
            {"coding": [{"system": fhir.ICD10CM_SYSTEM, "code": "E11.9"}]},
            {"coding": [{"system": fhir.ICD10CM_SYSTEM, "code": "I10"}]},
        ],
        "performer": [
            {"actor": {"identifier": {"system": fhir.NPI_SYSTEM, "value": w.provider.npi}}}
        ],
    }
    if encounter:
        res["context"] = {"reference": encounter}
    if price is not None:
        res["priceOverride"] = {"value": float(price), "currency": "USD"}
    res.update(extra)
    return res


def bundle(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": i} for i in items]}


def counts(session: Session) -> tuple[int, ...]:
    session.flush()
    return tuple(
        int(session.scalar(select(func.count()).select_from(m)) or 0)
        for m in (Invoice, InvoiceLine, ChargeImport, Claim, JournalEntry)
    )


def run(session: Session, w: World, body: dict[str, Any], **kw: Any) -> service.ImportResult:
    return service.import_charges(session, SYSTEM, w.practice.id, fhir.parse(body), **kw)


def test_an_encounter_becomes_one_draft_invoice_with_exact_lines(session: Session) -> None:
    w = make_world(session)
    before = counts(session)
    mod = {"extension": [{"url": fhir.MODIFIER_URL, "valueCode": "25"}]}
    r = run(
        session,
        w,
        bundle(
            charge(w, "A1", "99213", **mod),
            charge(w, "A2", "80053", price="60.00", quantity={"value": 2}),
            charge(w, "B1", "99213", encounter="Encounter/enc-2"),
        ),
    )
    assert [(o.encounter, o.charges, o.invoice.status) for o in r.invoices] == [
        ("Encounter/enc-1", 2, "draft"),
        ("Encounter/enc-2", 1, "draft"),
    ]
    first = r.invoices[0].invoice
    assert first.memo == "Charges of Encounter/enc-1"
    assert (first.total_minor, first.currency, first.patient_id) == (27000, "USD", w.patient.id)
    lines = sorted(first.lines, key=lambda ln: ln.position)
    assert [
        (ln.position, ln.service_code, ln.modifiers, ln.units, ln.unit_price_minor) for ln in lines
    ] == [(1, "99213", ["25"], 1, 15000), (2, "80053", [], 2, 6000)]
    assert [ln.diagnosis_codes for ln in lines] == [["E11.9", "I10"], ["E11.9", "I10"]]
    assert {ln.provider_id for ln in lines} == {w.provider.id}
    assert [(c.source_id, c.line_position, c.created) for c in r.charges] == [
        ("A1", 1, True),
        ("A2", 2, True),
        ("B1", 1, True),
    ]
    # Drafts post nothing to the ledger; three lines, three key rows, two invoices.
    assert counts(session) == (before[0] + 2, before[1] + 3, 3, before[3], before[4])


def test_a_resend_creates_nothing_and_answers_the_same_lines(session: Session) -> None:
    w = make_world(session)
    body = bundle(charge(w, "A1"), charge(w, "A2", "80053", price="60.00"))
    first = run(session, w, body)
    before = counts(session)
    again = run(session, w, body)
    assert again.invoices == []
    assert [(c.source_id, c.invoice_id, c.line_position, c.created) for c in again.charges] == [
        (c.source_id, c.invoice_id, c.line_position, False) for c in first.charges
    ]
    assert counts(session) == before
    # A resend with one new charge for the same encounter: only the new one is imported.
    more = run(session, w, bundle(charge(w, "A1"), charge(w, "A3", "81002", price="12.00")))
    assert [(c.source_id, c.created) for c in more.charges] == [("A1", False), ("A3", True)]
    assert [(o.charges, o.invoice.total_minor) for o in more.invoices] == [(1, 1200)]


def test_a_changed_resend_is_refused_and_writes_nothing(session: Session) -> None:
    w = make_world(session)
    run(session, w, bundle(charge(w, "A1")))
    before = counts(session)
    changed = charge(w, "A1", price="175.00")
    with pytest.raises(errors.ChargeChanged) as exc:
        run(session, w, bundle(charge(w, "N1", "80053"), changed))
    assert exc.value.code == "charge.changed"
    assert exc.value.message.startswith(
        "ChargeItem[1] (urn:oid:1.2.3.4.ehr.charges|A1) was imported before with other content"
    )
    assert counts(session) == before


def test_issue_posts_the_invoice_and_claim_builds_a_draft_claim(session: Session) -> None:
    w = make_world(session)
    self_pay = make_patient(session, w.practice, first_name="Sam", last_name="Cash")
    session.flush()
    other = charge(w, "S1", subject={"reference": f"Patient/{self_pay.id}"})
    r = run(session, w, bundle(charge(w, "A1"), other), claim=True)
    insured, cash = r.invoices
    assert (insured.invoice.status, cash.invoice.status) == ("open", "open")
    fig = invoices_service.invoice_figures(session, insured.invoice.id)
    assert (fig.balance, fig.paid) == (15000, 0)
    assert insured.claim_id is not None
    assert insured.claim_error is None
    claim = session.get(Claim, insured.claim_id)
    assert claim is not None
    assert (claim.status, claim.charge_minor, claim.payer_id) == ("draft", 15000, w.payer.id)
    assert claim.diagnosis_codes == ["E119", "I10"]
    # A self-pay patient's invoice is imported and issued; the claim says why not.
    assert cash.claim_id is None
    assert cash.claim_error is not None
    assert cash.claim_error[0] == "claim.no_coverage"
    assert integrity.run(session).ok


@pytest.mark.parametrize(
    ("mutate", "code", "message"),
    [
        (
            lambda c: c.update(status="planned"),
            "charge.invalid",
            "ChargeItem[1]: status is 'planned': only 'billable' charges are imported",
        ),
        (
            lambda c: c.update(code={"coding": [{"code": "01510"}]}),
            "charge.invalid",
            "ChargeItem[1]: code has no CPT (http://www.ama-assn.org/go/cpt) or HCPCS coding",
        ),
        (
            lambda c: c.update(subject={"reference": f"Patient/{uuid.uuid4()}"}),
            "charge.patient_not_found",
            "ChargeItem[1]: the subject is not a patient of this practice",
        ),
        (
            lambda c: c.update(priceOverride={"value": 40, "currency": "EUR"}),
            "charge.wrong_currency",
            "ChargeItem[1]: priceOverride is in EUR; this practice bills in USD",
        ),
        (
            # an exponent beyond the decimal context: refused, not a decimal trap
            lambda c: c.update(priceOverride={"value": "1E+1000000", "currency": "USD"}),
            "charge.invalid",
            "ChargeItem[1]: priceOverride.value is out of range",
        ),
        (
            lambda c: c.update(quantity={"value": 1.5}),
            "charge.invalid",
            "ChargeItem[1]: quantity.value 1.5 must be a whole number of units, 1 to 9999",
        ),
        (
            lambda c: c.update(
                performer=[
                    {"actor": {"identifier": {"system": fhir.NPI_SYSTEM, "value": "1234567893"}}}
                ]
            ),
            "charge.provider_not_found",
            "ChargeItem[1]: the performer is not a provider of this practice",
        ),
        (
            lambda c: c.update(occurrenceDateTime="2026-01"),
            "charge.invalid",
            "ChargeItem[1]: occurrenceDateTime (or occurrencePeriod.start) must give the full "
            "date of service",
        ),
        (
            lambda c: c.update(code={"coding": [{"system": fhir.CPT_SYSTEM, "code": "9921"}]}),
            "charge.invalid",
            "ChargeItem[1]: service_code:",
        ),
        (
            # No priceOverride and no charge-master price: the invoice service's own refusal,
            # met after the keys were claimed (the savepoint undoes them).
            lambda c: c.pop("priceOverride"),
            "invoice.no_price",
            "",
        ),
        (
            lambda c: c.update(identifier=[]),
            "charge.invalid",
            "ChargeItem[1]: no identifier (system and value) and no id",
        ),
        (
            lambda c: c.update(quantity="one"),
            "charge.invalid",
            "ChargeItem[1]: not a valid R4 ChargeItem (quantity",
        ),
    ],
)
def test_bad_items_are_refused_naming_the_item_and_nothing_is_written(
    session: Session, mutate: Any, code: str, message: str
) -> None:
    w = make_world(session)
    bad = charge(w, "X2")
    mutate(bad)
    before = counts(session)
    audits = audit_service.pending(session)
    with pytest.raises(DomainError) as exc:
        run(session, w, bundle(charge(w, "X1"), bad), claim=True)
    assert getattr(exc.value, "code", None) == code
    assert str(getattr(exc.value, "message", "")).startswith(message)
    assert counts(session) == before
    assert audit_service.pending(session) == audits


def test_the_same_charge_twice_in_one_request_is_refused() -> None:
    item = {
        "resourceType": "ChargeItem",
        "id": "c1",
        "status": "billable",
        "code": {"coding": [{"system": fhir.CPT_SYSTEM, "code": "99213"}]},
        "subject": {"reference": f"Patient/{uuid.uuid4()}"},
        "occurrenceDateTime": "2026-01-05",
    }
    with pytest.raises(errors.InvalidCharge) as exc:
        fhir.parse(bundle(item, copy.deepcopy(item)))
    assert exc.value.message == (
        "ChargeItem[1]: the same charge (urn:revcycle:fhir:ChargeItem|c1) is also ChargeItem[0]"
    )
    parsed = fhir.parse(item)
    assert [(p.source_system, p.source_id, p.units, p.unit_price) for p in parsed] == [
        ("urn:revcycle:fhir:ChargeItem", "c1", 1, None)
    ]


def test_the_hl7_example_chargeitem_is_read_and_refused_with_reasons() -> None:
    path = CORPUS / "chargeitem-example.json"
    if not path.is_file():
        pytest.skip("the shared corpus (../shared/corpus/fhir) is not present")
    body = json.loads(path.read_text())
    # The example bills a German EBM code (no code system): not a US claim line.
    with pytest.raises(errors.InvalidCharge) as exc:
        fhir.parse(body)
    assert exc.value.message == (
        "ChargeItem[0]: code has no CPT (http://www.ama-assn.org/go/cpt) or HCPCS coding"
    )
    # With a CPT coding it is read up to its subject, which is not one of our patients.
    body["code"]["coding"][0]["system"] = fhir.CPT_SYSTEM
    with pytest.raises(errors.InvalidCharge) as exc:
        fhir.parse(body)
    assert exc.value.message.startswith("ChargeItem[0]: subject 'Patient/example' is not")


def test_api_imports_replays_and_checks_who_may(session: Session, client: TestClient) -> None:
    w = make_world(session)
    clerk = auth_header(session, make_user(session, "billing_staff", practices=[w.practice]))
    patient_user = auth_header(session, make_user(session, "patient", patient=w.patient))
    session.commit()
    url = f"/api/v1/fhir/ChargeItem?practice_id={w.practice.id}&issue=true"
    body = bundle(charge(w, "A1"))
    r = client.post(url, json=body, headers=clerk)
    assert r.status_code == 200, r.text
    got = r.json()
    assert [(i["status"], i["total"], i["charges"]) for i in got["invoices"]] == [
        ("open", "150.00", 1)
    ]
    assert [(c["id"], c["line"], c["outcome"]) for c in got["charges"]] == [("A1", 1, "created")]
    r = client.post(url, json=body, headers=clerk)
    assert (r.status_code, r.json()["invoices"], r.json()["charges"][0]["outcome"]) == (
        200,
        [],
        "already_imported",
    )
    session.expire_all()
    before = counts(session)
    audits = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    r = client.post(url, json=bundle(charge(w, "P1")), headers=patient_user)
    assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden")
    other = f"/api/v1/fhir/ChargeItem?practice_id={uuid.uuid4()}"
    r = client.post(other, json=bundle(charge(w, "P2")), headers=clerk)
    assert (r.status_code, r.json()["code"]) == (404, "practice.not_found")
    r = client.post(url, json={"resourceType": "Patient"}, headers=clerk)
    assert r.status_code == 422
    r = client.post(url, json={"resourceType": "Bundle", "entry": []}, headers=clerk)
    assert (r.status_code, r.json()["code"]) == (400, "charge.invalid")
    session.expire_all()
    assert counts(session) == before
    # Refusals add only their own security/denial events, never a change row.
    changes = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "charges:import")
    ).all()
    assert len(changes) == 2
    assert int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0) >= audits


def test_concurrent_imports_of_one_encounter_import_it_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]], backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL")
    _url, _engine, factory = committed_db
    with factory() as s, s.begin():
        w = make_world(s)
        body = bundle(charge(w, "A1"), charge(w, "A2", "80053", price="60.00"))
        practice_id = w.practice.id
    items = fhir.parse(body)
    barrier = threading.Barrier(6)
    created: list[int] = []
    problems: list[BaseException] = []

    def go() -> None:
        try:
            barrier.wait()
            with factory() as s, s.begin():
                r = service.import_charges(s, SYSTEM, practice_id, items, issue=True)
                created.append(sum(1 for c in r.charges if c.created))
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert sorted(created) == [0, 0, 0, 0, 0, 2]
    with factory() as s:
        rows = s.scalars(select(ChargeImport).where(ChargeImport.practice_id == practice_id)).all()
        assert len(rows) == 2
        assert len({r.invoice_id for r in rows}) == 1
        invoices = s.scalars(
            select(Invoice).where(Invoice.practice_id == practice_id, Invoice.status == "open")
        ).all()
        assert len(invoices) == 2  # the world's own invoice and the imported one
        assert integrity.run(s).ok


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["1E+1000000", "-0", "2026-01", "Patient/x", "", "NaN", "Infinity"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = (
    "identifier",
    "status",
    "code",
    "subject",
    "context",
    "occurrenceDateTime",
    "occurrencePeriod",
    "quantity",
    "priceOverride",
    "reason",
    "performer",
    "extension",
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(_FIELDS), value=_JSON, sub=st.sampled_from([None, "value", "code"]))
def test_any_value_in_any_element_is_read_or_refused_as_invalid_charge(
    field: str, value: Any, sub: str | None
) -> None:
    item: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": "c1",
        "status": "billable",
        "code": {"coding": [{"system": fhir.CPT_SYSTEM, "code": "99213"}]},
        "subject": {"reference": f"Patient/{uuid.UUID(int=1)}"},
        "occurrenceDateTime": "2026-01-05",
        "quantity": {"value": 1},
        "priceOverride": {"value": 10, "currency": "USD"},
    }
    item[field] = {sub: value} if sub else value
    refusal: errors.InvalidCharge | None = None
    try:
        fhir.parse(item)
    except errors.InvalidCharge as exc:  # anything else fails the test
        refusal = exc
    if refusal is not None:
        assert (refusal.code, refusal.message[:13]) == ("charge.invalid", "ChargeItem[0]")
