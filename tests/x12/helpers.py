"""Shared test data for the X12 tests: the corpus location and a few inquiries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from revcycle.x12.eligibility import EligibilityInquiry, Payer, Person, Provider
from revcycle.x12.writer import Envelope

# ../shared/corpus next to the project root (never copied into the project).
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "x12"


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus not present (needs ../shared/corpus/x12/{name})")
    return path


ENVELOPE = Envelope(
    sender_id="REVCYCLE",
    receiver_id="ACMEHEALTH",
    interchange_control_number=42,
    group_control_number=7,
    created_at=dt.datetime(2026, 5, 4, 9, 30, tzinfo=dt.UTC),
    usage="T",
)
PAYER = Payer("ACME HEALTH", "60054")
PROVIDER = Provider("GOOD CLINIC", "1234567893")
ORIGINATOR = "1123456789"


def inquiry(
    trace: str = "T1",
    member_id: str = "M10001",
    *,
    dependent: Person | None = None,
    service_types: tuple[str, ...] = ("30",),
) -> EligibilityInquiry:
    return EligibilityInquiry(
        trace_number=trace,
        trace_originator_id=ORIGINATOR,
        payer=PAYER,
        provider=PROVIDER,
        subscriber=Person(
            "DOE", "JANE", member_id=member_id, birth_date=dt.date(1980, 2, 3), gender="F"
        ),
        dependent=dependent,
        service_date=dt.date(2026, 5, 4),
        service_types=service_types,
    )


CHILD = Person("DOE", "JIM", birth_date=dt.date(2015, 1, 1), gender="M")
