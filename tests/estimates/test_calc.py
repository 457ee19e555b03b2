"""Table-driven tests of the estimate maths: exact cents, every edge case the issue names."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revcycle.estimates.calc import (
    Benefits,
    CostShareOrder,
    LineInput,
    SelfPayLine,
    category_of,
    estimate,
    good_faith,
)
from revcycle.money import Money


def usd(value: str) -> Money:
    return Money.parse(value, "USD")


def benefits(**kw: Any) -> Benefits:
    values: dict[str, Any] = {
        "currency": "USD",
        "deductible": usd("0"),
        "deductible_met": usd("0"),
        "coinsurance": Decimal("0.20"),
    }
    for key, value in kw.items():
        if key == "copays":
            values[key] = {k: usd(v) for k, v in value.items()}
        elif isinstance(value, str) and key not in {"order"}:
            values[key] = usd(value)
        else:
            values[key] = value
    return Benefits(**values)


def line(code: str, allowed: str, category: str = "other") -> LineInput:
    return LineInput(code=code, allowed=usd(allowed), category=category)


@dataclass
class Case:
    name: str
    benefits: Benefits
    lines: list[LineInput]
    # per line: (copay, deductible, coinsurance, patient, insurance)
    expected: list[tuple[str, str, str, str, str]]
    deductible_after: str | None = None
    oop_after: str | None = None
    reasoning_contains: list[str] = field(default_factory=list)


CASES = [
    Case(
        "deductible met mid-visit",
        benefits(deductible="500.00", deductible_met="400.00"),
        [line("99213", "80.00"), line("80053", "60.00")],
        [("0.00", "80.00", "0.00", "80.00", "0.00"), ("0.00", "20.00", "8.00", "28.00", "32.00")],
        deductible_after="0.00",
        reasoning_contains=["deductible 20.00 of 20.00 remaining; 0.00 left (deductible now met)"],
    ),
    Case(
        "deductible exactly met by one line",
        benefits(deductible="500.00", deductible_met="400.00"),
        [line("99214", "100.00"), line("80053", "50.00")],
        [("0.00", "100.00", "0.00", "100.00", "0.00"), ("0.00", "0.00", "10.00", "10.00", "40.00")],
        deductible_after="0.00",
        reasoning_contains=["deductible already met"],
    ),
    Case(
        "multiple lines share the deductible",
        benefits(deductible="300.00", coinsurance=Decimal("0.10")),
        [line("A", "200.00"), line("B", "200.00"), line("C", "200.00")],
        [
            ("0.00", "200.00", "0.00", "200.00", "0.00"),
            ("0.00", "100.00", "10.00", "110.00", "90.00"),
            ("0.00", "0.00", "20.00", "20.00", "180.00"),
        ],
        deductible_after="0.00",
    ),
    Case(
        "out-of-pocket maximum reached mid-line, then the plan pays all",
        benefits(deductible="500.00", deductible_met="500.00", oop_max="1000.00", oop_met="950.00"),
        [line("29881", "400.00"), line("99213", "100.00")],
        [("0.00", "0.00", "50.00", "50.00", "350.00"), ("0.00", "0.00", "0.00", "0.00", "100.00")],
        oop_after="0.00",
        reasoning_contains=[
            "out-of-pocket maximum reached: coinsurance limited to 50.00",
            "out-of-pocket maximum already reached: the plan pays the rest",
        ],
    ),
    Case(
        "OOP maximum caps the deductible",
        benefits(deductible="1000.00", oop_max="1500.00", oop_met="1450.00"),
        [line("A", "300.00")],
        [("0.00", "50.00", "0.00", "50.00", "250.00")],
        deductible_after="950.00",
        oop_after="0.00",
    ),
    Case(
        "OOP maximum caps a copay",
        benefits(copays={"office_visit": "25.00"}, oop_max="100.00", oop_met="90.00"),
        [line("99213", "120.00", "office_visit")],
        [("10.00", "0.00", "0.00", "10.00", "110.00")],
        oop_after="0.00",
    ),
    Case(
        "0% coinsurance",
        benefits(coinsurance=Decimal("0"), copays={"office_visit": "25.00"}),
        [line("99213", "100.00", "office_visit"), line("80053", "40.00", "lab")],
        [("25.00", "0.00", "0.00", "25.00", "75.00"), ("0.00", "0.00", "0.00", "0.00", "40.00")],
        reasoning_contains=["coinsurance 0%: the plan pays the remaining 40.00"],
    ),
    Case(
        "100% coinsurance",
        benefits(coinsurance=Decimal("1"), deductible="100.00", deductible_met="100.00"),
        [line("97110", "73.41")],
        [("0.00", "0.00", "73.41", "73.41", "0.00")],
    ),
    Case(
        "copay greater than the allowed amount",
        benefits(copays={"office_visit": "40.00"}),
        [line("99211", "30.00", "office_visit")],
        [("30.00", "0.00", "0.00", "30.00", "0.00")],
        reasoning_contains=["copay (office_visit) 40.00 exceeds the allowed amount: 30.00 charged"],
    ),
    Case(
        "zero allowed line",
        benefits(deductible="500.00", copays={"office_visit": "25.00"}),
        [line("99499", "0.00", "office_visit"), line("A", "50.00")],
        [("0.00", "0.00", "0.00", "0.00", "0.00"), ("0.00", "50.00", "0.00", "50.00", "0.00")],
        deductible_after="450.00",
        reasoning_contains=["nothing to share on a zero allowed amount"],
    ),
    Case(
        "copay then deductible (default order)",
        benefits(deductible="500.00", copays={"office_visit": "25.00"}),
        [line("99214", "150.00", "office_visit")],
        [("25.00", "125.00", "0.00", "150.00", "0.00")],
        deductible_after="375.00",
    ),
    Case(
        "deductible then copay",
        benefits(
            deductible="500.00",
            deductible_met="400.00",
            copays={"office_visit": "25.00"},
            order=CostShareOrder.DEDUCTIBLE_THEN_COPAY,
        ),
        [line("99214", "150.00", "office_visit")],
        [("25.00", "100.00", "5.00", "130.00", "20.00")],
        deductible_after="0.00",
    ),
    Case(
        "copay only: deductible and coinsurance waived on copay lines",
        benefits(
            deductible="500.00",
            copays={"office_visit": "25.00"},
            order=CostShareOrder.COPAY_ONLY,
        ),
        [line("99214", "150.00", "office_visit"), line("80053", "60.00", "lab")],
        [("25.00", "0.00", "0.00", "25.00", "125.00"), ("0.00", "60.00", "0.00", "60.00", "0.00")],
        deductible_after="440.00",
        reasoning_contains=["copay only: deductible and coinsurance waived for this service"],
    ),
    Case(
        "family deductible nearly met limits the individual's",
        benefits(
            deductible="1000.00",
            deductible_met="200.00",
            family_deductible="2000.00",
            family_deductible_met="1900.00",
        ),
        [line("A", "300.00")],
        [("0.00", "100.00", "40.00", "140.00", "160.00")],
        deductible_after="0.00",
    ),
    Case(
        "family OOP maximum limits the individual's",
        benefits(
            oop_max="3000.00",
            oop_met="100.00",
            family_oop_max="6000.00",
            family_oop_met="5990.00",
        ),
        [line("A", "500.00")],
        [("0.00", "0.00", "10.00", "10.00", "490.00")],
        oop_after="0.00",
    ),
    Case(
        "coinsurance rounds half up, once per line",
        benefits(coinsurance=Decimal("0.125")),
        [line("A", "0.04"), line("B", "33.33")],
        [("0.00", "0.00", "0.01", "0.01", "0.03"), ("0.00", "0.00", "4.17", "4.17", "29.16")],
        reasoning_contains=["coinsurance 12.5% of 0.04 = 0.01"],
    ),
    Case(
        "met above the deductible counts as met",
        benefits(deductible="500.00", deductible_met="650.00"),
        [line("A", "100.00")],
        [("0.00", "0.00", "20.00", "20.00", "80.00")],
        deductible_after="0.00",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_estimate_table(case: Case) -> None:
    result = estimate(case.benefits, case.lines)
    got = [
        (
            r.copay.format(),
            r.deductible.format(),
            r.coinsurance.format(),
            r.patient.format(),
            r.insurance.format(),
        )
        for r in result.lines
    ]
    assert got == case.expected
    assert result.patient.amount_minor == sum(r.patient.amount_minor for r in result.lines)
    assert result.allowed == result.patient + result.insurance
    if case.deductible_after is not None:
        assert result.deductible_remaining_after == usd(case.deductible_after)
    if case.oop_after is not None:
        assert result.oop_remaining_after == usd(case.oop_after)
    reasoning = [step for r in result.lines for step in r.reasoning]
    for text in case.reasoning_contains:
        assert text in reasoning
    for r in result.lines:
        assert r.reasoning[0].startswith(f"allowed {r.allowed.format()}")
        assert r.reasoning[-1] == f"patient {r.patient.format()}, insurance {r.insurance.format()}"


def test_full_reasoning_of_one_line() -> None:
    b = benefits(deductible="500.00", deductible_met="450.00", copays={"office_visit": "25.00"})
    (r,) = estimate(b, [line("99214", "150.00", "office_visit")]).lines
    assert r.reasoning == (
        "allowed 150.00 (fee schedule)",
        "copay (office_visit) 25.00",
        "deductible 50.00 of 50.00 remaining; 0.00 left (deductible now met)",
        "coinsurance 20% of 75.00 = 15.00",
        "patient 90.00, insurance 60.00",
    )


def test_no_oop_maximum_reports_none() -> None:
    result = estimate(benefits(), [line("A", "10.00")])
    assert result.oop_remaining_after is None


def test_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match="coinsurance"):
        benefits(coinsurance=Decimal("1.5"))
    with pytest.raises(ValueError, match="non-negative"):
        estimate(benefits(), [LineInput(code="A", allowed=Money(-1, "USD"))])
    with pytest.raises(ValueError, match="currency"):
        estimate(benefits(), [LineInput(code="A", allowed=Money(100, "EUR"))])


def test_good_faith_self_pay() -> None:
    result = good_faith(
        [
            SelfPayLine("99214", usd("125.00"), units=2),
            SelfPayLine("80053", usd("33.33")),
            SelfPayLine("36415", usd("0.00")),
        ],
        Decimal("0.15"),
        "USD",
    )
    assert [(r.allowed.format(), r.patient.format()) for r in result.lines] == [
        ("212.50", "212.50"),
        ("28.33", "28.33"),
        ("0.00", "0.00"),
    ]
    assert result.lines[0].reasoning == (
        "charge master 125.00 x 2 = 250.00",
        "self-pay discount 15%: -37.50",
        "patient 212.50",
    )
    assert (result.patient, result.insurance) == (usd("240.83"), usd("0"))
    with pytest.raises(ValueError, match="discount"):
        good_faith([], Decimal("-0.1"), "USD")


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("99213", "office_visit"),
        ("99395", "preventive"),
        ("80053", "lab"),
        ("71046", "imaging"),
        ("29881", "procedure"),
        ("97110", "procedure"),
        ("G0439", "preventive"),
        ("J1100", "other"),
        ("0001U", "other"),
    ],
)
def test_default_categories(code: str, category: str) -> None:
    assert category_of(code) == category


amounts = st.integers(min_value=0, max_value=500_000)


@given(
    allowed=st.lists(amounts, min_size=1, max_size=6),
    deductible=amounts,
    met=amounts,
    oop=st.one_of(st.none(), amounts),
    oop_met=amounts,
    copay=amounts,
    rate=st.integers(min_value=0, max_value=100),
    order=st.sampled_from(list(CostShareOrder)),
)
def test_properties(
    allowed: list[int],
    deductible: int,
    met: int,
    oop: int | None,
    oop_met: int,
    copay: int,
    rate: int,
    order: CostShareOrder,
) -> None:
    """Every line splits its allowed amount exactly; the patient never pays more than the
    allowed amount, nor (with a maximum) more than the OOP room, nor more deductible than left."""
    b = Benefits(
        currency="USD",
        deductible=Money(deductible, "USD"),
        deductible_met=Money(met, "USD"),
        coinsurance=Decimal(rate) / 100,
        copays={"office_visit": Money(copay, "USD")},
        oop_max=None if oop is None else Money(oop, "USD"),
        oop_met=Money(oop_met, "USD"),
        order=order,
    )
    lines = [
        LineInput("A", Money(a, "USD"), "office_visit" if i % 2 else "lab")
        for i, a in enumerate(allowed)
    ]
    result = estimate(b, lines)
    for r in result.lines:
        assert r.patient + r.insurance == r.allowed
        assert r.patient.amount_minor >= 0
        assert r.insurance.amount_minor >= 0
        assert r.patient == r.copay + r.deductible + r.coinsurance
    total_patient = result.patient.amount_minor
    if oop is not None:
        assert total_patient <= max(oop - oop_met, 0)
    assert sum(r.deductible.amount_minor for r in result.lines) <= max(deductible - met, 0)
