"""ledger.service: the only writer of the ledger; append-only on both databases; trial balance."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.errors import Conflict, NotFound
from revcycle.ledger import service
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.errors import UnbalancedEntry
from revcycle.ledger.models import JournalEntry, Posting
from revcycle.ledger.service import Leg, credit, debit
from revcycle.money import Money
from tests.factories.auth import auth_header, make_user
from tests.factories.ledger import charge, ledger_counts, post, raw_entry, usd
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice

AR = AccountCode.PATIENT_AR
REVENUE = AccountCode.SERVICE_REVENUE
CASH = AccountCode.CASH
DISCOUNTS = AccountCode.DISCOUNTS


def postings_of(session: Session, entry_id: object) -> list[tuple[str, int, str]]:
    """(account code, amount, currency) of an entry, sorted."""
    codes = {
        v: k
        for k, v in service.LedgerRepository(session)
        .account_ids(session.get(JournalEntry, entry_id).practice_id)  # type: ignore[union-attr]
        .items()
    }
    return sorted(
        (codes[p.account_id], p.amount_minor, p.currency)
        for p in session.scalars(select(Posting).where(Posting.entry_id == entry_id))
    )


# post_entry refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ([], "at least two legs, got 0"),
        ([debit(AR, usd(100))], "at least two legs, got 1"),
        ([debit(AR, usd(100)), credit(REVENUE, usd(100)), debit(CASH, usd(0))], "zero-amount leg"),
        ([debit(AR, usd(100)), credit(REVENUE, usd(99))], r"do not balance: \{'USD': 1\}"),
        (
            [debit(AR, usd(100)), credit(REVENUE, Money(100, "EUR"))],
            r"do not balance: \{'USD': 100, 'EUR': -100\}",
        ),
        (
            [
                debit(AR, usd(100)),
                credit(REVENUE, usd(100)),
                debit(AR, Money(5, "EUR")),
                credit(REVENUE, Money(4, "EUR")),
            ],
            r"do not balance: \{'EUR': 1\}",
        ),
    ],
)
def test_post_entry_refuses_and_writes_nothing(
    session: Session, legs: list[Leg], message: str
) -> None:
    practice = make_practice(session)
    before = ledger_counts(session)
    with pytest.raises(UnbalancedEntry, match=message):
        post(session, practice, legs)
    session.flush()
    assert ledger_counts(session) == before


def test_post_entry_balanced_multi_currency(session: Session) -> None:
    practice = make_practice(session)
    before = ledger_counts(session)
    entry_id = post(
        session,
        practice,
        [
            debit(AR, usd(12500)),
            credit(REVENUE, usd(12500)),
            debit(CASH, Money(900, "JPY")),
            credit(REVENUE, Money(900, "JPY")),
        ],
        on=dt.date(2026, 2, 3),
        memo="two currencies",
    )
    assert ledger_counts(session) == (before[0] + 1, before[1] + 4)
    entry = session.get(JournalEntry, entry_id)
    assert entry is not None
    assert (entry.practice_id, entry.kind, entry.memo, entry.effective_date) == (
        practice.id,
        "test.entry",
        "two currencies",
        dt.date(2026, 2, 3),
    )
    assert entry.reverses_id is None
    assert postings_of(session, entry_id) == [
        ("1000", 900, "JPY"),
        ("1200", 12500, "USD"),
        ("4000", -12500, "USD"),
        ("4000", -900, "JPY"),
    ]


# reversals -------------------------------------------------------------------------------------


def test_reverse_entry_negates_exactly_once(session: Session) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    original = post(
        session,
        practice,
        [
            debit(AR, usd(10000), patient_id=patient.id),
            debit(DISCOUNTS, usd(2345)),
            credit(REVENUE, usd(12345)),
        ],
        kind="invoice.test",
    )
    reversal = service.reverse_entry(
        session,
        original,
        kind="test.reversal",
        effective_date=dt.date(2026, 1, 20),
        created_by=None,
    )
    rev = session.get(JournalEntry, reversal)
    assert rev is not None
    assert rev.reverses_id == original
    assert rev.kind == "test.reversal"
    assert rev.memo == "Reversal of invoice.test"
    assert rev.effective_date == dt.date(2026, 1, 20)
    assert postings_of(session, reversal) == [("1200", -10000, "USD"), ("4000", 12345, "USD")] + [
        ("4100", -2345, "USD")
    ]
    rev_patients = {
        p.amount_minor: p.patient_id
        for p in session.scalars(select(Posting).where(Posting.entry_id == reversal))
    }
    assert rev_patients == {-10000: patient.id, -2345: None, 12345: None}

    before = ledger_counts(session)
    with pytest.raises(Conflict) as exc:
        service.reverse_entry(
            session, original, kind="again", effective_date=dt.date(2026, 1, 21), created_by=None
        )
    assert (exc.value.code, exc.value.status) == ("ledger.already_reversed", 409)
    with pytest.raises(Conflict) as exc2:
        service.reverse_entry(
            session, reversal, kind="again", effective_date=dt.date(2026, 1, 21), created_by=None
        )
    assert (exc2.value.code, exc2.value.status) == ("ledger.reversal_of_reversal", 409)
    assert ledger_counts(session) == before


def test_reverse_unknown_entry(session: Session) -> None:
    import uuid

    with pytest.raises(NotFound) as exc:
        service.reverse_entry(
            session, uuid.uuid4(), kind="x", effective_date=dt.date(2026, 1, 1), created_by=None
        )
    assert (exc.value.code, exc.value.status) == ("ledger.entry_not_found", 404)


def test_reversed_flag_is_unique_in_the_database(session: Session) -> None:
    """Even bypassing the service, a second reversal of one entry is refused (UNIQUE)."""
    practice = make_practice(session)
    original = charge(session, practice, 500)
    service.reverse_entry(
        session, original, kind="r1", effective_date=dt.date(2026, 1, 11), created_by=None
    )
    with pytest.raises(DBAPIError), session.begin_nested():
        raw_entry(
            session, practice.id, [(AR, -500, "USD"), (REVENUE, 500, "USD")], reverses_id=original
        )


# bulk ------------------------------------------------------------------------------------------


def _spec(practice_id: object, minor: int, on: dt.date) -> service.EntrySpec:
    return service.EntrySpec(
        practice_id=practice_id,  # type: ignore[arg-type]
        kind="test.bulk",
        legs=[debit(AR, usd(minor)), credit(REVENUE, usd(minor))],
        effective_date=on,
    )


def test_post_entries_bulk(session: Session) -> None:
    practice = make_practice(session)
    before = ledger_counts(session)
    ids = service.post_entries_bulk(
        session, [_spec(practice.id, n * 100, dt.date(2026, 1, n)) for n in range(1, 6)]
    )
    assert len(ids) == len(set(ids)) == 5
    assert ledger_counts(session) == (before[0] + 5, before[1] + 10)
    assert [postings_of(session, i) for i in ids] == [
        [("1200", n * 100, "USD"), ("4000", -n * 100, "USD")] for n in range(1, 6)
    ]
    assert service.post_entries_bulk(session, []) == []


def test_post_entries_bulk_all_or_nothing(session: Session) -> None:
    practice = make_practice(session)
    before = ledger_counts(session)
    bad = service.EntrySpec(
        practice_id=practice.id,
        kind="test.bulk",
        legs=[debit(AR, usd(100)), credit(REVENUE, usd(50))],
        effective_date=dt.date(2026, 1, 1),
    )
    with pytest.raises(UnbalancedEntry):
        service.post_entries_bulk(
            session,
            [
                _spec(practice.id, 100, dt.date(2026, 1, 1)),
                bad,
                _spec(practice.id, 1, dt.date(2026, 1, 1)),
            ],
        )
    session.flush()
    assert ledger_counts(session) == before


# trial balance ---------------------------------------------------------------------------------


def _script(session: Session) -> object:
    practice = make_practice(session)
    charge(session, practice, 10000, on=dt.date(2026, 1, 10))
    post(session, practice, [debit(CASH, usd(4000)), credit(AR, usd(4000))], on=dt.date(2026, 2, 5))
    post(
        session,
        practice,
        [debit(DISCOUNTS, usd(500)), credit(AR, usd(500))],
        on=dt.date(2026, 2, 28),
    )
    charge(session, practice, 2000, on=dt.date(2026, 3, 1))
    return practice


def test_trial_balance_for_a_period(session: Session) -> None:
    practice = _script(session)
    tb = service.trial_balance(
        session,
        practice.id,  # type: ignore[attr-defined]
        date_from=dt.date(2026, 2, 1),
        date_to=dt.date(2026, 2, 28),
    )
    assert [
        (r.code, r.name, r.type, r.currency, r.opening_minor, r.debits_minor, r.credits_minor)
        + (r.closing_minor,)
        for r in tb.rows
    ] == [
        ("1000", "Cash and undeposited funds", "asset", "USD", 0, 4000, 0, 4000),
        ("1200", "Patient accounts receivable", "asset", "USD", 10000, 0, 4500, 5500),
        ("4000", "Patient service revenue", "revenue", "USD", -10000, 0, 0, -10000),
        ("4100", "Discounts", "contra_revenue", "USD", 0, 500, 0, 500),
    ]
    assert tb.total_debits_minor == {"USD": 4500}
    assert tb.total_credits_minor == {"USD": 4500}
    assert tb.closing_debit_total_minor == {"USD": 10000}
    assert tb.closing_credit_total_minor == {"USD": 10000}
    assert tb.balanced is True


def test_trial_balance_from_the_beginning(session: Session) -> None:
    practice = _script(session)
    tb = service.trial_balance(
        session,
        practice.id,  # type: ignore[attr-defined]
        date_from=None,
        date_to=dt.date(2026, 3, 1),
    )
    assert [
        (r.code, r.opening_minor, r.debits_minor, r.credits_minor, r.closing_minor) for r in tb.rows
    ] == [
        ("1000", 0, 4000, 0, 4000),
        ("1200", 0, 12000, 4500, 7500),
        ("4000", 0, 0, 12000, -12000),
        ("4100", 0, 500, 0, 500),
    ]
    assert tb.total_debits_minor == tb.total_credits_minor == {"USD": 16500}
    assert tb.closing_debit_total_minor == tb.closing_credit_total_minor == {"USD": 12000}
    assert tb.balanced is True


def test_trial_balance_before_any_entry_and_per_currency(session: Session) -> None:
    practice = _script(session)
    post(
        session,
        practice,  # type: ignore[arg-type]
        [debit(CASH, Money(900, "JPY")), credit(REVENUE, Money(900, "JPY"))],
        on=dt.date(2026, 2, 10),
    )
    empty = service.trial_balance(
        session,
        practice.id,  # type: ignore[attr-defined]
        date_from=None,
        date_to=dt.date(2026, 1, 9),
    )
    assert empty.rows == []
    assert empty.balanced is True
    tb = service.trial_balance(
        session,
        practice.id,  # type: ignore[attr-defined]
        date_from=dt.date(2026, 2, 6),
        date_to=dt.date(2026, 2, 27),
    )
    assert [
        (r.code, r.currency, r.opening_minor, r.debits_minor, r.credits_minor, r.closing_minor)
        for r in tb.rows
    ] == [
        ("1000", "JPY", 0, 900, 0, 900),
        ("1000", "USD", 4000, 0, 0, 4000),
        ("1200", "USD", 6000, 0, 0, 6000),
        ("4000", "JPY", 0, 0, 900, -900),
        ("4000", "USD", -10000, 0, 0, -10000),
    ]
    assert tb.total_debits_minor == {"JPY": 900, "USD": 0}
    assert tb.total_credits_minor == {"JPY": 900, "USD": 0}
    assert tb.balanced is True


def test_normal_balance() -> None:
    assert service.normal_balance("asset", 500) == 500
    assert service.normal_balance("contra_revenue", 500) == 500
    assert service.normal_balance("expense", -5) == -5
    assert service.normal_balance("revenue", -500) == 500
    assert service.normal_balance("liability", 300) == -300


# append-only -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE journal_entries SET memo = 'tampered'",
        "DELETE FROM journal_entries",
        "UPDATE postings SET amount_minor = amount_minor * 2",
        "DELETE FROM postings",
        "UPDATE audit_events SET action = 'tampered'",
        "DELETE FROM audit_events",
    ],
)
def test_ledger_and_audit_tables_are_append_only(session: Session, sql: str) -> None:
    practice = make_practice(session)  # writes an audit event
    charge(session, practice, 700)
    session.flush()
    audit.flush_pending(session)
    before = ledger_counts(session)
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(sql))
    assert ledger_counts(session) == before
    assert session.scalar(text("SELECT count(*) FROM journal_entries WHERE memo = 'tampered'")) == 0


def test_orm_update_of_a_posting_is_refused(session: Session) -> None:
    practice = make_practice(session)
    entry_id = charge(session, practice, 700)
    session.flush()
    posting = session.scalars(select(Posting).where(Posting.entry_id == entry_id)).first()
    assert posting is not None
    nested = session.begin_nested()
    try:
        posting.amount_minor = 1
        with pytest.raises(DBAPIError, match="append-only"):
            session.flush()
    finally:
        nested.rollback()
    session.expire_all()
    assert postings_of(session, entry_id) == [("1200", 700, "USD"), ("4000", -700, "USD")]


@pytest.mark.parametrize("table", ["postings", "audit_events"])
def test_truncate_is_refused_on_postgresql(session: Session, backend: str, table: str) -> None:
    if backend != "postgresql":
        pytest.skip("TRUNCATE triggers exist on PostgreSQL only (SQLite has no TRUNCATE)")
    make_practice(session)
    session.flush()
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(f"TRUNCATE {table}"))


@pytest.mark.parametrize(
    ("postings", "message"),
    [
        ([(AR, 100, "USD"), (REVENUE, -99, "USD")], "does not balance in USD"),
        ([(AR, 100, "USD"), (REVENUE, -100, "EUR")], "does not balance in"),
        ([(AR, 100, "USD")], "has 1 postings"),
        ([], "has 0 postings"),
    ],
)
def test_postgresql_deferred_trigger_refuses_bad_entries(
    session: Session, backend: str, postings: list[tuple[AccountCode, int, str]], message: str
) -> None:
    if backend != "postgresql":
        pytest.skip("the deferred balance trigger is PostgreSQL-only; see tests/test_integrity.py")
    practice = make_practice(session)
    session.flush()
    nested = session.begin_nested()
    try:
        raw_entry(session, practice.id, postings)  # accepted for now: the check is deferred
        with pytest.raises(DBAPIError, match=message):
            session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    finally:
        nested.rollback()


# the API ---------------------------------------------------------------------------------------


def test_api_trial_balance(session: Session, client: TestClient) -> None:
    practice = _script(session)
    staff = make_user(session, "billing_staff", practices=[practice])  # type: ignore[list-item]
    headers = auth_header(session, staff)
    session.commit()
    r = client.get(
        f"/api/v1/practices/{practice.id}/trial-balance",  # type: ignore[attr-defined]
        params={"date_from": "2026-02-01", "date_to": "2026-02-28"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "practice_id": str(practice.id),  # type: ignore[attr-defined]
        "date_from": "2026-02-01",
        "date_to": "2026-02-28",
        "rows": [
            {
                "account_code": "1000",
                "account_name": "Cash and undeposited funds",
                "account_type": "asset",
                "currency": "USD",
                "opening": "0.00",
                "debits": "40.00",
                "credits": "0.00",
                "closing": "40.00",
            },
            {
                "account_code": "1200",
                "account_name": "Patient accounts receivable",
                "account_type": "asset",
                "currency": "USD",
                "opening": "100.00",
                "debits": "0.00",
                "credits": "45.00",
                "closing": "55.00",
            },
            {
                "account_code": "4000",
                "account_name": "Patient service revenue",
                "account_type": "revenue",
                "currency": "USD",
                "opening": "-100.00",
                "debits": "0.00",
                "credits": "0.00",
                "closing": "-100.00",
            },
            {
                "account_code": "4100",
                "account_name": "Discounts",
                "account_type": "contra_revenue",
                "currency": "USD",
                "opening": "0.00",
                "debits": "5.00",
                "credits": "0.00",
                "closing": "5.00",
            },
        ],
        "total_debits": {"USD": "45.00"},
        "total_credits": {"USD": "45.00"},
        "balanced": True,
    }
    bad = client.get(
        f"/api/v1/practices/{practice.id}/trial-balance",  # type: ignore[attr-defined]
        params={"date_from": "2026-03-01", "date_to": "2026-02-28"},
        headers=headers,
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "ledger.period_invalid"


def test_api_journal_entries_pages(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    ids = [charge(session, practice, n * 100, on=dt.date(2026, 1, n)) for n in (1, 2, 3)]
    staff = make_user(session, "billing_staff", practices=[practice])
    headers = auth_header(session, staff)
    session.commit()
    url = f"/api/v1/practices/{practice.id}/journal-entries"
    first = client.get(url, params={"limit": 2}, headers=headers)
    assert first.status_code == 200, first.text
    page1 = first.json()
    assert len(page1["items"]) == 2
    assert page1["next_cursor"]
    second = client.get(url, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=headers)
    assert second.status_code == 200, second.text
    page2 = second.json()
    assert page2["next_cursor"] is None
    items = page1["items"] + page2["items"]
    assert [i["id"] for i in items] == sorted((str(i) for i in ids), reverse=True)
    by_id = {i["id"]: i for i in items}
    for n, entry_id in zip((1, 2, 3), ids, strict=True):
        item = by_id[str(entry_id)]
        assert item["practice_id"] == str(practice.id)
        assert item["kind"] == "test.entry"
        assert item["effective_date"] == f"2026-01-0{n}"
        assert item["reverses_id"] is None
        assert item["postings"] == [
            {
                "account_code": "1200",
                "amount": f"{n}.00",
                "currency": "USD",
                "patient_id": None,
                "invoice_id": None,
            },
            {
                "account_code": "4000",
                "amount": f"-{n}.00",
                "currency": "USD",
                "patient_id": None,
                "invoice_id": None,
            },
        ]
    one = client.get(f"/api/v1/journal-entries/{ids[0]}", headers=headers)
    assert one.status_code == 200
    assert one.json() == by_id[str(ids[0])]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/practices/{practice}/trial-balance?date_to=2026-12-31",
        "/api/v1/practices/{practice}/journal-entries",
        "/api/v1/journal-entries/{entry}",
    ],
)
def test_api_ledger_forbidden_for_patients(session: Session, client: TestClient, path: str) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    entry_id = charge(session, practice, 100)
    user = make_user(session, "patient", patient=patient)
    headers = auth_header(session, user)
    session.commit()
    r = client.get(path.format(practice=practice.id, entry=entry_id), headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "auth.forbidden"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v1/practices/{practice}/trial-balance?date_to=2026-12-31", "practice.not_found"),
        ("/api/v1/practices/{practice}/journal-entries", "practice.not_found"),
        ("/api/v1/journal-entries/{entry}", "ledger.entry_not_found"),
    ],
)
def test_api_ledger_hidden_from_other_practices(
    session: Session, client: TestClient, path: str, code: str
) -> None:
    practice = make_practice(session)
    other = make_practice(session)
    entry_id = charge(session, practice, 100)
    staff = make_user(session, "billing_staff", practices=[other])
    headers = auth_header(session, staff)
    session.commit()
    r = client.get(path.format(practice=practice.id, entry=entry_id), headers=headers)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == code


def test_api_ledger_needs_a_token(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    session.commit()
    r = client.get(f"/api/v1/practices/{practice.id}/trial-balance")
    assert r.status_code == 401
    assert r.json()["code"] == "auth.unauthenticated"


@pytest.mark.parametrize("cursor", ["!!!", "eyJpZCI6NX0", "WzFd", "eyJpZCI6Im5vcGUifQ"])
def test_api_journal_entries_bad_cursor(session: Session, client: TestClient, cursor: str) -> None:
    # '!!!' is not base64; the others decode to {"id":5}, [1] and {"id":"nope"}
    practice = make_practice(session)
    staff = make_user(session, "billing_staff", practices=[practice])
    headers = auth_header(session, staff)
    session.commit()
    r = client.get(
        f"/api/v1/practices/{practice.id}/journal-entries",
        params={"cursor": cursor},
        headers=headers,
    )
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "pagination.invalid_cursor"
