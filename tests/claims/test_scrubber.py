"""The claim scrubber (docs/claims-scrubber.md): one test per rule with its exact findings and
the claim's resulting status, every problem at once in rule order, the moves and their events,
refusals that write nothing, the edit-pair / unit-limit tables, the route and the CLI."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.audit.models import AuditEvent
from revcycle.claims import rules, scrubber, service, states
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.claims.scrub_models import ClaimEditPair, ClaimUnitLimit
from revcycle.claims.scrub_schemas import EditPairCreate, UnitLimitCreate
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.codesets.models import CodeRelease
from revcycle.codesets.repository import ICD10CM, insert_icd10cm
from revcycle.config import get_settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from tests.factories.auth import auth_header, make_user, principal
from tests.factories.claims import DOS, World, make_claim, make_world
from tests.factories.insurance import make_authorization, make_payer, make_plan
from tests.factories.invoices import line, make_invoice
from tests.factories.practices import SYSTEM, make_practice, make_provider

ON = dt.date(2026, 1, 20)  # the submission date the tests assume (DOS + 15 days)
ZIP9 = "627011234"

# A miniature ICD-10-CM release: E11 is a header, the rest are billable.
CODES = [
    ("E11", "Type 2 diabetes mellitus", False),
    ("E119", "Type 2 diabetes mellitus without complications", True),
    ("I10", "Essential (primary) hypertension", True),
    ("E785", "Hyperlipidemia, unspecified", True),
    ("J069", "Acute upper respiratory infection, unspecified", True),
    ("R51", "Headache", True),
    ("Z0000", "General adult medical examination", True),
]


def load_release(session: Session, effective_from: dt.date = dt.date(2025, 10, 1)) -> None:
    release = CodeRelease(
        system=ICD10CM,
        label="test-2026",
        effective_from=effective_from,
        source_version="2026",
        source_sha256="0" * 64,
        code_count=len(CODES),
        billable_count=sum(1 for c in CODES if c[2]),
    )
    session.add(release)
    session.flush()
    insert_icd10cm(session, release.id, CODES)


def world(session: Session, *, release: bool = True, **kw: Any) -> World:
    """make_world with a 9-digit ZIP on the practice and (by default) the code release loaded:
    its claim scrubs clean on ON."""
    w = make_world(session, **kw)
    w.practice.postal_code = ZIP9
    if release:
        load_release(session)
    session.flush()
    return w


def scrub(session: Session, claim_id: uuid.UUID, on: dt.date = ON) -> scrubber.ScrubResult:
    return scrubber.scrub_claim(session, SYSTEM, claim_id, on=on)


def found(result: scrubber.ScrubResult) -> list[tuple[str, str, str, int | None]]:
    return [(f.code, f.severity, f.field, f.line) for f in result.findings]


def counts(session: Session) -> dict[str, int]:
    session.flush()
    return {
        m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
        for m in (Claim, ClaimEvent, ClaimEditPair, ClaimUnitLimit, AuditEvent)
    }


# -- the rule table ------------------------------------------------------------------------------


def test_rule_table_is_ordered_and_stable() -> None:
    assert [(r.code, r.severity) for r in rules.RULES] == [
        ("scrub.required_missing", "error"),
        ("scrub.npi_invalid", "error"),
        ("scrub.diagnosis_invalid", "error"),
        ("scrub.diagnosis_unverified", "warning"),
        ("scrub.pointer_invalid", "error"),
        ("scrub.modifier_invalid", "error"),
        ("scrub.modifier_conflict", "error"),
        ("scrub.service_date_future", "error"),
        ("scrub.timely_filing_expired", "error"),
        ("scrub.timely_filing_near", "warning"),
        ("scrub.duplicate_claim", "error"),
        ("scrub.authorization_held", "hold"),
        ("scrub.authorization_missing", "hold"),
        ("scrub.coverage_inactive", "error"),
        ("scrub.units_over_limit", "error"),
        ("scrub.unbundled_pair", "error"),
    ]
    assert len(set(rules.RULE_CODES)) == len(rules.RULES)


def test_clean_claim_is_scrubbed_with_its_events(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    r = scrub(session, v.claim.id)
    assert (r.previous_status, r.status, r.findings) == ("draft", "scrubbed", [])
    events = service.claim_events(session, SYSTEM, v.claim.id)
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [
        ("created", None, "draft"),
        ("scrubbed", "draft", "draft"),
        ("transition", "draft", "scrubbed"),
    ]
    note = events[1]
    assert note.detail == {"result": "scrubbed", "rules": [], "findings": []}
    assert note.reason == "scrub: 0 error(s), 0 hold(s), 0 warning(s)"
    assert events[2].detail == {"source": "scrub", "codes": []}


# -- one test per rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            "zip5",
            [("scrub.required_missing", "error", "billing_provider.postal_code", None)],
        ),
        ("no_tin", [("scrub.required_missing", "error", "billing_provider.tin", None)]),
        ("no_address", [("scrub.required_missing", "error", "billing_provider.address", None)]),
        ("no_rendering", [("scrub.required_missing", "error", "rendering_provider_id", None)]),
        ("no_member_id", [("scrub.required_missing", "error", "subscriber.member_id", None)]),
        ("no_payer_id", [("scrub.required_missing", "error", "payer.edi_payer_id", None)]),
        ("no_pointer", [("scrub.required_missing", "error", "diagnosis_pointers", 2)]),
        (
            "no_diagnosis",
            [
                ("scrub.required_missing", "error", "diagnosis_codes", None),
                ("scrub.required_missing", "error", "diagnosis_pointers", 1),
                ("scrub.required_missing", "error", "diagnosis_pointers", 2),
            ],
        ),
    ],
)
def test_required_fields(
    session: Session, change: str, expected: list[tuple[str, str, str, int | None]]
) -> None:
    w = world(session)
    v = make_claim(session, w)
    c = v.claim
    if change == "zip5":
        w.practice.postal_code = "62701"
    elif change == "no_tin":
        w.practice.tin = ""
    elif change == "no_address":
        w.practice.city = " "
    elif change == "no_rendering":
        c.rendering_provider_id = None
    elif change == "no_member_id":
        w.coverage.coverage.member_id = ""
    elif change == "no_payer_id":
        w.payer.edi_payer_id = ""
    elif change == "no_pointer":
        v.lines[1].diagnosis_pointers = []
    elif change == "no_diagnosis":
        c.diagnosis_codes = []
        for ln in v.lines:
            ln.diagnosis_pointers = []
    session.flush()
    r = scrub(session, c.id)
    assert found(r) == expected
    assert r.status == "draft"


def test_required_messages(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    w.practice.postal_code = "62701"
    v.lines[1].diagnosis_pointers = []
    session.flush()
    assert [f.message for f in scrub(session, v.claim.id).findings] == [
        "The billing provider's ZIP code must have 9 digits (ZIP+4) on a claim",
        "Line 2 (80053) points to no diagnosis",
    ]


def test_npi_checksums(session: Session) -> None:
    w = world(session)
    referrer = make_provider(session, w.practice, last_name="Referrer")
    v = make_claim(session, w, referring_provider_id=referrer.id)
    assert scrub(session, v.claim.id).status == "scrubbed"
    w.practice.npi = "1234567890"
    w.provider.npi = "12345"
    referrer.npi = "1234567892"
    session.flush()
    r = scrub(session, v.claim.id)
    assert found(r) == [
        ("scrub.npi_invalid", "error", "billing_provider.npi", None),
        ("scrub.npi_invalid", "error", "rendering_provider.npi", None),
        ("scrub.npi_invalid", "error", "referring_provider.npi", None),
    ]
    assert [f.message for f in r.findings] == [
        "The billing provider's NPI 1234567890 is not valid: the NPI check digit does not match",
        "The rendering provider's NPI 12345 is not valid: an NPI is exactly 10 digits",
        "The referring provider's NPI 1234567892 is not valid: the NPI check digit does not match",
    ]
    assert (r.previous_status, r.status) == ("scrubbed", "draft")


def test_diagnosis_codes_exist_and_are_billable(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    v.claim.diagnosis_codes = ["E119", "E11", "Z999", "I10"]
    v.lines[0].diagnosis_pointers = [1, 2, 3, 4]
    session.flush()
    r = scrub(session, v.claim.id)
    assert found(r) == [
        ("scrub.diagnosis_invalid", "error", "diagnosis_codes[2]", None),
        ("scrub.diagnosis_invalid", "error", "diagnosis_codes[3]", None),
    ]
    assert r.findings[1].message == (
        "Z99.9 is not an ICD-10-CM code in release test-2026 (date of service 2026-01-05)"
    )
    assert r.findings[0].message.startswith("E11 is a header, not a billable code")
    assert r.status == "draft"


def test_without_a_release_the_codes_are_not_verified(session: Session) -> None:
    w = world(session, release=False)
    v = make_claim(session, w)
    r = scrub(session, v.claim.id)
    assert found(r) == [("scrub.diagnosis_unverified", "warning", "diagnosis_codes", None)]
    assert r.findings[0].message == (
        "No ICD-10-CM release is loaded for 2026-01-05: the diagnosis codes were not verified "
        "(revcycle codes load-icd10cm)"
    )
    assert r.status == "scrubbed"  # a warning does not block


def test_release_from_a_later_date_does_not_cover_the_service(session: Session) -> None:
    w = world(session, release=False)
    load_release(session, effective_from=dt.date(2026, 4, 1))
    v = make_claim(session, w)
    assert found(scrub(session, v.claim.id)) == [
        ("scrub.diagnosis_unverified", "warning", "diagnosis_codes", None)
    ]


def test_diagnosis_pointers(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    v.claim.diagnosis_codes = ["E119", "I10", "E785", "J069", "R51"]
    v.lines[0].diagnosis_pointers = [1, 6]
    v.lines[1].diagnosis_pointers = [1, 2, 3, 4, 5]
    session.flush()
    r = scrub(session, v.claim.id)
    assert found(r) == [
        ("scrub.pointer_invalid", "error", "diagnosis_pointers", 1),
        ("scrub.pointer_invalid", "error", "diagnosis_pointers", 2),
    ]
    assert [f.message for f in r.findings] == [
        "Line 1 points to diagnosis 6; the claim has 5 diagnosis code(s)",
        "Line 2 has 5 diagnosis pointers; at most 4",
    ]
    v.lines[1].diagnosis_pointers = [2, 2]
    v.lines[0].diagnosis_pointers = [1]
    session.flush()
    assert [f.message for f in scrub(session, v.claim.id).findings] == [
        "Line 2 points to the same diagnosis twice"
    ]


def test_modifier_format_duplicates_and_count(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    v.lines[0].modifiers = ["25", "25"]
    v.lines[1].modifiers = ["2!", "91", "QW", "GA", "GY"]
    session.flush()
    r = scrub(session, v.claim.id)
    assert found(r) == [
        ("scrub.modifier_invalid", "error", "modifiers", 1),
        ("scrub.modifier_invalid", "error", "modifiers", 2),
        ("scrub.modifier_invalid", "error", "modifiers", 2),
    ]
    assert [f.message for f in r.findings] == [
        "Line 1: modifier 25 appears twice",
        "Line 2: '2!' is not a two-character modifier",
        "Line 2 has 5 modifiers; at most 4",
    ]
    assert r.status == "draft"


@pytest.mark.parametrize(
    ("line1", "line2", "messages"),
    [
        (["25"], [], []),  # 25 on an E/M code (99213) is fine
        ([], ["25"], ["Line 2: modifier 25 belongs on an E/M code (99202-99499), not 80053"]),
        (["26", "TC"], [], ["Line 1: modifiers 26 and TC cannot be used together"]),
        ([], ["59", "XU"], ["Line 2: modifiers 59 and XU cannot be used together"]),
        ([], ["XE", "XS"], ["Line 2: modifiers XE and XS cannot be used together"]),
        (["LT", "RT"], [], ["Line 1: modifiers LT and RT cannot be used together"]),
    ],
)
def test_modifier_incompatibilities(
    session: Session, line1: list[str], line2: list[str], messages: list[str]
) -> None:
    w = world(session)
    v = make_claim(session, w)
    v.lines[0].modifiers = line1
    v.lines[1].modifiers = line2
    session.flush()
    r = scrub(session, v.claim.id)
    assert [f.message for f in r.findings] == messages
    assert {f.code for f in r.findings} <= {"scrub.modifier_conflict"}
    assert r.status == ("draft" if messages else "scrubbed")


def test_service_date_after_submission(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    r = scrub(session, v.claim.id, on=dt.date(2026, 1, 4))
    assert found(r) == [
        ("scrub.service_date_future", "error", "service_date", 1),
        ("scrub.service_date_future", "error", "service_date", 2),
    ]
    assert r.findings[0].message == (
        "Line 1: the date of service 2026-01-05 is after the submission date 2026-01-04"
    )
    assert r.status == "draft"
    assert scrub(session, v.claim.id, on=DOS).status == "scrubbed"  # the same day is fine


@pytest.mark.parametrize(
    ("on", "code", "status"),
    [
        (dt.date(2026, 3, 25), None, "scrubbed"),  # 11 days left
        (dt.date(2026, 3, 26), "scrub.timely_filing_near", "scrubbed"),  # 10 days left
        (dt.date(2026, 4, 5), "scrub.timely_filing_near", "scrubbed"),  # the last day
        (dt.date(2026, 4, 6), "scrub.timely_filing_expired", "draft"),
    ],
)
def test_timely_filing(session: Session, on: dt.date, code: str | None, status: str) -> None:
    w = world(session)  # the payer's limit is 90 days: 2026-01-05 + 90 = 2026-04-05
    v = make_claim(
        session,
        w,
        rendering_provider_id=w.provider.id,
        invoice_id=make_invoice(session, w.patient, lines=[line()]).id,
    )
    r = scrub(session, v.claim.id, on=on)
    if code is None:
        assert r.findings == []
    else:
        severity = "error" if code.endswith("expired") else "warning"
        assert found(r) == [(code, severity, "service_date", 1)]
    assert r.status == status
    if on == dt.date(2026, 4, 6):
        assert r.findings[0].message == (
            "Line 1: the payer's 90-day filing limit for 2026-01-05 ended on 2026-04-05"
        )
    if on == dt.date(2026, 3, 26):
        assert r.findings[0].message == (
            "Line 1: the filing deadline 2026-04-05 is 10 day(s) away: submit now"
        )


def test_duplicate_claim(session: Session) -> None:
    w = world(session)
    first = make_claim(session, w)
    again = make_invoice(session, w.patient, lines=[line("99213"), line("99214")])
    second = make_claim(session, w, rendering_provider_id=w.provider.id, invoice_id=again.id)
    r = scrub(session, second.claim.id)
    assert found(r) == [("scrub.duplicate_claim", "error", "procedure", 1)]
    assert r.findings[0].message == (
        f"Line 1: claim {first.claim.control_number} already bills 99213 on 2026-01-05 for this "
        "patient (a repeat service carries modifier 76, 77 or 91)"
    )
    assert r.status == "draft"
    # A declared repeat is not a duplicate ...
    second.lines[0].modifiers = ["76"]
    session.flush()
    assert scrub(session, second.claim.id).findings == []
    # ... and neither is a service on a void claim.
    second.lines[0].modifiers = []
    service.transition_claim(session, SYSTEM, first.claim.id, "void", reason="duplicate")
    assert scrub(session, second.claim.id).findings == []


def test_duplicate_ignores_other_patients_and_secondary_claims(session: Session) -> None:
    w = world(session)
    make_claim(session, w)
    other = world(session, release=False)
    v = make_claim(session, other)
    assert scrub(session, v.claim.id).findings == []


def test_authorization_held_parks_the_claim(session: Session) -> None:
    # The plan needs an authorisation for 97110 and the patient has none: the charge is held.
    w = world(session, plan_overrides={"auth_required_codes": ["97110"]})
    inv = make_invoice(session, w.patient, lines=[line("97110", "45.00", units=2)])
    v = make_claim(session, w, rendering_provider_id=w.provider.id, invoice_id=inv.id)
    assert v.claim.prior_authorization is None
    r = scrub(session, v.claim.id)
    assert found(r) == [("scrub.authorization_held", "hold", "prior_authorization", 1)]
    assert r.findings[0].message == (
        "Line 1 (97110) is held for a missing, expired or exhausted prior authorisation"
    )
    assert (r.previous_status, r.status) == ("draft", "held")


def test_authorization_number_missing_holds(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    w.plan.auth_required_codes = ["80053"]
    session.flush()
    r = scrub(session, v.claim.id)
    assert found(r) == [("scrub.authorization_missing", "hold", "prior_authorization", 2)]
    assert r.status == "held"
    v.claim.prior_authorization = "AUTH-77"
    session.flush()
    r = scrub(session, v.claim.id)
    assert (r.findings, r.previous_status, r.status) == ([], "held", "scrubbed")


def test_consumed_authorization_scrubs_clean(session: Session) -> None:
    w = world(session, plan_overrides={"auth_required_codes": ["97110"]})
    make_authorization(session, w.patient, w.payer, services={"97110": 10})
    inv = make_invoice(session, w.patient, lines=[line("97110", "45.00", units=2)])
    v = make_claim(session, w, rendering_provider_id=w.provider.id, invoice_id=inv.id)
    assert scrub(session, v.claim.id).findings == []


def test_coverage_inactive_on_the_date_of_service(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    w.coverage.coverage.effective_to = dt.date(2026, 1, 4)
    session.flush()
    r = scrub(session, v.claim.id)
    assert found(r) == [
        ("scrub.coverage_inactive", "error", "service_date", 1),
        ("scrub.coverage_inactive", "error", "service_date", 2),
    ]
    assert r.findings[0].message == (
        "Line 1: the coverage is not in force on 2026-01-05 (from 2026-01-01 to 2026-01-04)"
    )
    assert r.status == "draft"


def test_units_above_the_limit_table(session: Session) -> None:
    w = world(session)
    inv = make_invoice(
        session, w.patient, lines=[line("97110", "45.00", units=2), line("97110", "45.00")]
    )
    v = make_claim(session, w, rendering_provider_id=w.provider.id, invoice_id=inv.id)
    assert scrub(session, v.claim.id).findings == []  # no limit for 97110 yet
    scrubber.add_unit_limit(
        session, SYSTEM, w.practice.id, UnitLimitCreate(code="97110", max_units=2)
    )
    r = scrub(session, v.claim.id)
    assert found(r) == [("scrub.units_over_limit", "error", "units", 1)]
    assert r.findings[0].message == (
        "Line 1: 3 unit(s) of 97110 on 2026-01-05; the limit is 2 per day"
    )
    assert r.status == "draft"
    # The plan's own row wins over the practice's.
    scrubber.add_unit_limit(
        session,
        SYSTEM,
        w.practice.id,
        UnitLimitCreate(code="97110", max_units=4, plan_id=w.plan.id),
    )
    assert scrub(session, v.claim.id).status == "scrubbed"


def test_unbundled_pairs_from_the_edit_table(session: Session) -> None:
    w = world(session)
    inv = make_invoice(
        session,
        w.patient,
        lines=[line("80053", "60.00"), line("80048", "40.00"), line("97530", "50.00")],
    )
    v = make_claim(session, w, rendering_provider_id=w.provider.id, invoice_id=inv.id)
    assert scrub(session, v.claim.id).findings == []  # the table is empty
    added = scrubber.load_example_pairs(session, SYSTEM, w.practice.id)
    assert [(p.column1_code, p.column2_code, p.modifier_bypass) for p in added] == [
        ("80053", "80048", False),
        ("93000", "93010", False),
        ("97140", "97530", True),
    ]
    assert scrubber.load_example_pairs(session, SYSTEM, w.practice.id) == []  # a re-run adds none
    r = scrub(session, v.claim.id)
    assert found(r) == [("scrub.unbundled_pair", "error", "procedure", 2)]
    assert r.findings[0].message == (
        "Line 2: 80048 is part of 80053 billed the same day (line 1); no modifier allows it"
    )
    # No modifier bypasses a pair that allows none.
    v.lines[1].modifiers = ["59"]
    session.flush()
    assert found(scrub(session, v.claim.id)) == [("scrub.unbundled_pair", "error", "procedure", 2)]


def test_unbundling_modifier_bypass(session: Session) -> None:
    w = world(session)
    scrubber.load_example_pairs(session, SYSTEM, w.practice.id)
    inv = make_invoice(session, w.patient, lines=[line("97140", "50.00"), line("97530", "50.00")])
    v = make_claim(session, w, rendering_provider_id=w.provider.id, invoice_id=inv.id)
    r = scrub(session, v.claim.id)
    assert [f.message for f in r.findings] == [
        "Line 2: 97530 is part of 97140 billed the same day (line 1); add 59/XE/XS/XP/XU if "
        "the service was distinct"
    ]
    for mods in (["XP"], ["59"]):
        v.lines[1].modifiers = mods
        session.flush()
        assert scrub(session, v.claim.id).status == "scrubbed"
    # On another day the pair does not apply.
    v.lines[1].modifiers = []
    v.lines[1].service_date = dt.date(2026, 1, 6)
    session.flush()
    assert scrub(session, v.claim.id).findings == []


# -- all at once, moves, refusals ----------------------------------------------------------------


def test_every_problem_at_once_in_rule_order(session: Session) -> None:
    w = world(session, plan_overrides={"auth_required_codes": ["97110"]})
    scrubber.load_example_pairs(session, SYSTEM, w.practice.id)
    inv = make_invoice(
        session,
        w.patient,
        lines=[
            line("80048", "40.00", modifiers=["25"]),
            line("97110", "45.00"),
            line("80053", "60.00"),
        ],
    )
    v = make_claim(session, w, rendering_provider_id=w.provider.id, invoice_id=inv.id)
    w.practice.postal_code = "62701"
    w.provider.npi = "1234567890"
    w.coverage.coverage.effective_to = dt.date(2026, 1, 4)
    session.flush()
    r = scrub(session, v.claim.id, on=dt.date(2026, 3, 30))
    assert found(r) == [
        ("scrub.required_missing", "error", "billing_provider.postal_code", None),
        ("scrub.npi_invalid", "error", "rendering_provider.npi", None),
        ("scrub.modifier_conflict", "error", "modifiers", 1),
        ("scrub.timely_filing_near", "warning", "service_date", 1),
        ("scrub.timely_filing_near", "warning", "service_date", 2),
        ("scrub.timely_filing_near", "warning", "service_date", 3),
        ("scrub.authorization_held", "hold", "prior_authorization", 2),
        ("scrub.coverage_inactive", "error", "service_date", 1),
        ("scrub.coverage_inactive", "error", "service_date", 2),
        ("scrub.coverage_inactive", "error", "service_date", 3),
        ("scrub.unbundled_pair", "error", "procedure", 1),
    ]
    assert (r.count("error"), r.count("warning"), r.count("hold")) == (7, 3, 1)
    assert r.status == "draft"  # errors win over holds
    events = service.claim_events(session, SYSTEM, v.claim.id)
    assert events[-1].kind == "scrubbed"  # no move: it was a draft and stays one
    assert events[-1].detail["result"] == "draft"
    assert events[-1].detail["findings"][0] == {
        "code": "scrub.required_missing",
        "severity": "error",
        "message": "The billing provider's ZIP code must have 9 digits (ZIP+4) on a claim",
        "field": "billing_provider.postal_code",
        "line": None,
    }
    assert events[-1].reason == "scrub: 7 error(s), 1 hold(s), 3 warning(s)"


def test_status_follows_the_worst_finding(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    c = v.claim
    assert scrub(session, c.id).status == "scrubbed"
    w.plan.auth_required_codes = ["99213"]
    session.flush()
    assert scrub(session, c.id).status == "held"
    w.practice.postal_code = "62701"
    session.flush()
    assert scrub(session, c.id).status == "draft"
    w.practice.postal_code = ZIP9
    w.plan.auth_required_codes = []
    session.flush()
    assert scrub(session, c.id).status == "scrubbed"
    moves = [
        (e.from_status, e.to_status)
        for e in service.claim_events(session, SYSTEM, c.id)
        if e.kind == "transition"
    ]
    assert moves == [
        ("draft", "scrubbed"),
        ("scrubbed", "held"),
        ("held", "draft"),
        ("draft", "scrubbed"),
    ]


@pytest.mark.parametrize("status", ["submitted", "rejected", "void"])
def test_only_draft_scrubbed_or_held_claims_are_scrubbed(session: Session, status: str) -> None:
    w = world(session)
    v = make_claim(session, w)
    path = {
        "submitted": ["scrubbed", "submitted"],
        "rejected": ["scrubbed", "submitted", "rejected"],
        "void": ["void"],
    }[status]
    for target in path:
        states.transition(session, v.claim, target, actor=SYSTEM, actor_kind="system")
    before = counts(session)
    with pytest.raises(DomainError) as exc:
        scrub(session, v.claim.id)
    assert (exc.value.code, exc.value.status) == ("claim.illegal_transition", 409)
    assert counts(session) == before
    assert v.claim.status == status


def test_refusals_write_nothing(session: Session) -> None:
    w = world(session)
    v = make_claim(session, w)
    before = counts(session)
    with pytest.raises(DomainError) as exc:
        scrubber.scrub_claim(session, SYSTEM, uuid.uuid4())
    assert exc.value.code == "claim.not_found"
    patient = principal(session, make_user(session, "patient", patient=w.patient))
    with pytest.raises(DomainError) as exc:
        scrubber.scrub_claim(session, patient, v.claim.id)
    assert exc.value.code == "auth.forbidden"
    stranger = principal(
        session, make_user(session, "billing_staff", practices=[make_practice(session)])
    )
    before = counts(session)
    with pytest.raises(DomainError) as exc:
        scrubber.scrub_claim(session, stranger, v.claim.id)
    assert exc.value.code == "claim.not_found"
    assert counts(session) == before
    assert v.claim.status == "draft"


# -- the tables ----------------------------------------------------------------------------------


def test_edit_pair_and_unit_limit_refusals_write_nothing(session: Session) -> None:
    w = world(session)
    scrubber.add_edit_pair(
        session,
        SYSTEM,
        w.practice.id,
        EditPairCreate(column1_code="80053", column2_code="80048"),
    )
    scrubber.add_unit_limit(
        session, SYSTEM, w.practice.id, UnitLimitCreate(code="97110", max_units=4)
    )
    other_practice = make_practice(session)
    foreign_plan = make_plan(session, make_payer(session, other_practice))
    staff = principal(session, make_user(session, "billing_staff", practices=[w.practice]))
    before = counts(session)
    cases: list[tuple[Any, str]] = [
        (
            lambda: scrubber.add_edit_pair(
                session,
                SYSTEM,
                w.practice.id,
                EditPairCreate(column1_code="80053", column2_code="80048"),
            ),
            "claim_rules.duplicate",
        ),
        (
            lambda: scrubber.add_edit_pair(
                session,
                SYSTEM,
                w.practice.id,
                EditPairCreate(column1_code="80053", column2_code="80053"),
            ),
            "claim.invalid",
        ),
        (
            lambda: scrubber.add_edit_pair(
                session,
                staff,
                w.practice.id,
                EditPairCreate(column1_code="99213", column2_code="36415"),
            ),
            "auth.forbidden",
        ),
        (
            lambda: scrubber.add_unit_limit(
                session, SYSTEM, w.practice.id, UnitLimitCreate(code="97110", max_units=2)
            ),
            "claim_rules.duplicate",
        ),
        (
            lambda: scrubber.add_unit_limit(
                session,
                SYSTEM,
                w.practice.id,
                UnitLimitCreate(code="97110", max_units=2, plan_id=foreign_plan.id),
            ),
            "claim_rules.plan_not_found",
        ),
        (lambda: scrubber.delete_edit_pair(session, SYSTEM, uuid.uuid4()), "claim_rules.not_found"),
        (lambda: scrubber.delete_unit_limit(session, staff, uuid.uuid4()), "auth.forbidden"),
        (
            lambda: scrubber.list_edit_pairs(session, SYSTEM, uuid.uuid4()),
            "practice.not_found",
        ),
    ]
    for call, code in cases:
        with pytest.raises(DomainError) as exc:
            call()
        assert exc.value.code == code
        assert counts(session) == before


# -- the routes ----------------------------------------------------------------------------------


@pytest.fixture
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrubber, "today", lambda: ON)


def test_scrub_route(session: Session, client: TestClient, fixed_today: None) -> None:
    w = world(session)
    v = make_claim(session, w)
    w.practice.postal_code = "62701"
    admin = auth_header(session, make_user(session, "admin", practices=[w.practice]))
    patient = auth_header(session, make_user(session, "patient", patient=w.patient))
    session.commit()
    r = client.post(f"/api/v1/claims/{v.claim.id}/scrub", headers=patient)
    assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden")
    r = client.post(f"/api/v1/claims/{v.claim.id}/scrub", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "claim_id": str(v.claim.id),
        "previous_status": "draft",
        "status": "draft",
        "errors": 1,
        "warnings": 0,
        "holds": 0,
        "findings": [
            {
                "code": "scrub.required_missing",
                "severity": "error",
                "message": "The billing provider's ZIP code must have 9 digits (ZIP+4) on a claim",
                "field": "billing_provider.postal_code",
                "line": None,
            }
        ],
    }
    w.practice.postal_code = ZIP9
    session.commit()
    r = client.post(f"/api/v1/claims/{v.claim.id}/scrub", headers=admin)
    assert (r.json()["status"], r.json()["findings"]) == ("scrubbed", [])
    got = client.get(f"/api/v1/claims/{v.claim.id}", headers=admin).json()
    assert got["status"] == "scrubbed"


def test_table_routes(session: Session, client: TestClient) -> None:
    w = world(session)
    admin = auth_header(session, make_user(session, "admin", practices=[w.practice]))
    staff = auth_header(session, make_user(session, "billing_staff", practices=[w.practice]))
    session.commit()
    base = f"/api/v1/practices/{w.practice.id}"
    body = {"column1_code": "80053", "column2_code": "80048", "note": "BMP is part of the CMP"}
    r = client.post(f"{base}/claim-edit-pairs", json=body, headers=staff)
    assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden")
    r = client.post(f"{base}/claim-edit-pairs", json=body, headers=admin)
    assert r.status_code == 201, r.text
    pair = r.json()
    assert (pair["column1_code"], pair["column2_code"], pair["modifier_bypass"], pair["note"]) == (
        "80053",
        "80048",
        False,
        "BMP is part of the CMP",
    )
    r = client.post(f"{base}/claim-edit-pairs", json=body, headers=admin)
    assert (r.status_code, r.json()["code"]) == (409, "claim_rules.duplicate")
    r = client.post(
        f"{base}/claim-edit-pairs",
        json={"column1_code": "8005", "column2_code": "80048"},
        headers=admin,
    )
    assert r.status_code == 422
    listed = client.get(f"{base}/claim-edit-pairs", headers=staff).json()["items"]
    assert [p["id"] for p in listed] == [pair["id"]]

    limit = client.post(
        f"{base}/claim-unit-limits",
        json={"code": "97110", "max_units": 4, "plan_id": str(w.plan.id)},
        headers=admin,
    )
    assert limit.status_code == 201, limit.text
    assert (limit.json()["plan_id"], limit.json()["max_units"]) == (str(w.plan.id), 4)
    r = client.post(
        f"{base}/claim-unit-limits", json={"code": "97110", "max_units": 0}, headers=admin
    )
    assert r.status_code == 422
    assert [
        x["code"] for x in client.get(f"{base}/claim-unit-limits", headers=staff).json()["items"]
    ] == ["97110"]

    r = client.delete(f"/api/v1/claim-edit-pairs/{pair['id']}", headers=staff)
    assert r.status_code == 403
    assert client.delete(f"/api/v1/claim-edit-pairs/{pair['id']}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/claim-edit-pairs/{pair['id']}", headers=admin).status_code == 404
    r = client.delete(f"/api/v1/claim-unit-limits/{limit.json()['id']}", headers=admin)
    assert r.status_code == 204
    assert client.get(f"{base}/claim-edit-pairs", headers=staff).json()["items"] == []
    assert client.get(f"{base}/claim-unit-limits", headers=staff).json()["items"] == []


# -- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    url, _engine, _factory = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


def test_cli_scrub(cli: CliRunner, committed_db: tuple[str, Engine, sessionmaker[Session]]) -> None:
    factory = committed_db[2]
    with unit_of_work(factory) as s:
        w = world(s)
        claim_id = make_claim(s, w).claim.id
        practice_id = w.practice.id
        s.get(type(w.practice), practice_id).postal_code = "62701"  # type: ignore[union-attr]
    r = cli.invoke(app, ["claims", "scrub", str(claim_id), "--on", "2026-01-20"])
    assert r.exit_code == 1, r.output
    assert r.output.splitlines() == [
        "error   scrub.required_missing       billing_provider.postal_code: The billing "
        "provider's ZIP code must have 9 digits (ZIP+4) on a claim",
        f"claim {claim_id}: draft -> draft (1 finding(s))",
    ]
    r = cli.invoke(app, ["claims", "load-example-edits", str(practice_id)])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == "3 pair(s) added"
    with unit_of_work(factory) as s:
        s.get(type(w.practice), practice_id).postal_code = ZIP9  # type: ignore[union-attr]
    r = cli.invoke(app, ["claims", "scrub", str(claim_id), "--on", "2026-01-20", "--json"])
    assert r.exit_code == 0, r.output
    assert '"status": "scrubbed"' in r.output
    r = cli.invoke(app, ["claims", "scrub", "not-a-uuid"])
    assert r.exit_code == 2
    r = cli.invoke(app, ["claims", "scrub", str(uuid.uuid4())])
    assert r.exit_code == 1
    assert "claim.not_found" in r.output


def test_concurrent_adds_of_one_pair_make_one_row(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice_id = make_practice(s).id
    barrier = threading.Barrier(4)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                scrubber.add_edit_pair(
                    s,
                    SYSTEM,
                    practice_id,
                    EditPairCreate(column1_code="80053", column2_code="80048"),
                )
            return "ok"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    assert sorted(results) == ["claim_rules.duplicate"] * 3 + ["ok"]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(ClaimEditPair)) == 1
