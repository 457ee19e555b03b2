"""The payer simulator: every inquiry answered, plan values exact, deterministic, valid."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from revcycle.x12.core import X12Error, read_transactions
from revcycle.x12.eligibility import Benefit, Member, build_270, parse_271
from revcycle.x12.simulator import MemberConfig, SimulatorConfig, demo_config, simulate_271
from tests.x12.helpers import CHILD, ENVELOPE, corpus_file, inquiry

BATCH = [
    inquiry("T1", "M10001"),
    inquiry("T2", "M10001", dependent=CHILD, service_types=("98", "UC")),
    inquiry("T3", "M10072"),
    inquiry("T4", "UNKNOWN1"),
    inquiry("T5", "M10002"),
    inquiry("T6", "M10003"),
]


def simulate(inquiries: list = BATCH, config: SimulatorConfig | None = None) -> str:  # type: ignore[type-arg]
    return simulate_271(build_270(inquiries, ENVELOPE), config or demo_config())


def patients() -> dict[str, Member]:
    result = parse_271(simulate())
    assert result.errors == []
    return {p.trace_references[0]: p for r in result.responses for p in r.patients}


def find(p: Member, code: str, level: str | None, period: str | None, net: str | None) -> Benefit:
    (b,) = [
        b
        for b in p.benefits
        if (b.eligibility_code, b.coverage_level_code, b.time_period_code, b.in_network)
        == (code, level, period, net)
    ]
    return b


def test_every_inquiry_is_answered_with_its_trace() -> None:
    got = patients()
    assert sorted(got) == ["T1", "T2", "T3", "T4", "T5", "T6"]


def test_active_member_benefits_are_exact() -> None:
    p = patients()["T1"]
    assert p.level == "subscriber"
    assert p.member_id == "M10001"
    assert p.coverage_active is True
    assert p.group_number == "GRP12345"
    plan_begin = p.date("346")
    assert plan_begin is not None
    assert plan_begin.start == dt.date(2026, 1, 1)
    assert p.birth_date == dt.date(1980, 2, 3)
    assert len(p.benefits) == 26
    coverage = p.benefits[0]
    assert (coverage.eligibility_code, coverage.coverage_level_code) == ("1", "FAM")
    assert coverage.plan_description == "GOLD PPO"
    assert coverage.messages == ["DEDUCTIBLE APPLIES TO OUT OF NETWORK"]
    (pcp,) = p.benefits[1].related_entities
    assert (pcp.entity_code, pcp.last_name, pcp.identifier) == ("P3", "WELBY", "1234567893")
    assert p.benefits[2].service_type_codes == (
        "1", "33", "35", "47", "86", "88", "98", "AL", "MH", "UC",
    )  # fmt: skip
    expected = {
        ("C", "IND", "23", "Y"): 150000,
        ("C", "IND", "29", "Y"): 114975,
        ("C", "FAM", "23", "Y"): 300000,
        ("C", "FAM", "29", "Y"): 229950,
        ("C", "IND", "23", "N"): 300000,
        ("C", "IND", "29", "N"): 264975,
        ("G", "IND", "23", "Y"): 600000,
        ("G", "IND", "29", "Y"): 480000,
        ("G", "FAM", "29", "Y"): 960000,
        ("G", "FAM", "29", "N"): 2160000,
    }
    for key, minor in expected.items():
        assert find(p, *key).amount_minor == minor, key
    assert find(p, "A", "IND", "27", "Y").percent == Decimal("0.2")
    assert find(p, "A", "IND", "27", "N").percent == Decimal("0.4")
    copays = {
        b.service_type_codes[0]: b.amount_minor for b in p.benefits if b.eligibility_code == "B"
    }
    assert copays == {"98": 2500, "UC": 5000, "86": 25000, "88": 1000}
    (auth,) = [b for b in p.benefits if b.eligibility_code == "CB"]
    assert auth.authorization_required == "Y"
    assert auth.procedure is not None
    assert (auth.procedure.qualifier, auth.procedure.code) == ("HC", "70553")
    assert auth.messages == ["PRIOR AUTHORIZATION REQUIRED"]
    assert p.errors == []


def test_dependent_gets_benefits_for_the_asked_service_types() -> None:
    p = patients()["T2"]
    assert p.level == "dependent"
    assert p.entity is not None
    assert (p.entity.last_name, p.entity.first_name) == ("DOE", "JIM")
    assert p.relationship_code == "19"
    assert p.benefits[2].service_type_codes == ("98", "UC")
    copays = {
        b.service_type_codes[0]: b.amount_minor for b in p.benefits if b.eligibility_code == "B"
    }
    assert copays == {"98": 2500, "UC": 5000}


@pytest.mark.parametrize(
    ("trace", "valid", "reason", "follow_up"),
    [
        ("T3", False, "Invalid/Missing Subscriber/Insured ID", "Please Correct and Resubmit"),
        ("T4", True, "Subscriber/Insured Not Found", "Please Correct and Resubmit"),
    ],
)
def test_rejections(trace: str, valid: bool, reason: str, follow_up: str) -> None:
    p = patients()[trace]
    assert p.benefits == []
    (aaa,) = p.errors
    assert (aaa.valid_request, aaa.reason, aaa.follow_up, aaa.loop) == (
        valid,
        reason,
        follow_up,
        "subscriber",
    )


def test_terminated_and_inactive_members() -> None:
    got = patients()
    terminated, inactive = got["T5"], got["T6"]
    assert terminated.coverage_active is False
    end = terminated.date("347")
    assert end is not None
    assert end.start == dt.date(2026, 3, 31)
    assert [b.eligibility_code for b in terminated.benefits] == ["6"]
    assert inactive.coverage_active is False
    assert inactive.date("347") is None


def test_payer_unavailable() -> None:
    config = dataclasses.replace(demo_config(), source_reject_reason="42")
    result = parse_271(simulate(config=config))
    assert result.errors == []
    for resp in result.responses:
        assert resp.subscribers == []
        (aaa,) = resp.errors
        assert (aaa.loop, aaa.reason_code, aaa.follow_up_code) == ("source", "42", "R")


def test_output_is_deterministic_and_enveloped() -> None:
    first, second = simulate(), simulate()
    assert first == second
    result = read_transactions(first)
    assert result.errors == []
    (header,) = result.interchanges
    assert (header.sender_id, header.receiver_id) == ("ACMEHEALTH", "REVCYCLE")
    assert header.control_number == "000000042"
    assert (header.date, header.usage) == ("260504", "T")
    assert [t.group.functional_id for t in result.transactions if t.group] == ["HB"] * 6


def test_bad_configuration_and_input() -> None:
    config = SimulatorConfig(plans={}, members={"M1": MemberConfig(plan="missing")})
    with pytest.raises(X12Error, match="unknown plan"):
        simulate_271(build_270(BATCH, ENVELOPE), config)
    config = SimulatorConfig(plans={}, members={"M1": MemberConfig(status="lapsed")})
    with pytest.raises(X12Error, match="status must be"):
        simulate_271(build_270(BATCH, ENVELOPE), config)
    broken = build_270(BATCH, ENVELOPE).replace("SE*13*0001", "SE*14*0001")
    with pytest.raises(X12Error) as info:
        simulate_271(broken, demo_config())
    assert info.value.code == "x12.se_count"


def test_answers_the_corpus_270() -> None:
    with corpus_file("dependent-health-benefit-check.270").open("rb") as f:
        data = f.read()
    config = dataclasses.replace(demo_config(), members={"11122333301": MemberConfig()})
    result = parse_271(simulate_271(data, config))
    assert result.errors == []
    (resp,) = result.responses
    assert resp.reference == "10001234"
    (p,) = resp.patients
    assert p.trace_references == ["93175-012547"]
    assert p.entity is not None
    assert (p.entity.last_name, p.entity.first_name) == ("SMITH", "MARY")
    assert p.coverage_active is True


# -- pyx12 ---------------------------------------------------------------------------------------
def test_pyx12_accepts_the_envelopes() -> None:
    from tests.x12 import pyx12_check

    assert pyx12_check.envelope_errors(build_270(BATCH, ENVELOPE)) == []
    assert pyx12_check.envelope_errors(simulate()) == []


def test_pyx12_structure_of_the_270_and_271() -> None:
    from tests.x12 import pyx12_check

    assert pyx12_check.structure_errors(build_270(BATCH, ENVELOPE)) == []
    assert pyx12_check.structure_errors(simulate()) == []


def test_pyx12_check_catches_a_misplaced_segment() -> None:
    from tests.x12 import pyx12_check

    text = simulate([BATCH[0]])
    bad = text.replace("REF*6P*GRP12345~DMG*D8*19800203*F~", "DMG*D8*19800203*F~REF*6P*GRP12345~")
    assert bad != text
    assert [e[:2] for e in pyx12_check.structure_errors(bad)] == [("REF", "1")]
