"""270 building and 271 parsing: exact output, round trips, the corpus files, bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from decimal import Decimal

import pytest

from revcycle.x12.core import X12Error
from revcycle.x12.eligibility import (
    EligibilityInquiry,
    Person,
    Provider,
    build_270,
    iter_271,
    parse_270,
    parse_271,
)
from revcycle.x12.writer import Envelope
from tests.x12.helpers import CHILD, ENVELOPE, corpus_file, inquiry

EXPECTED_270 = [
    "ISA*00*          *00*          *ZZ*REVCYCLE       *ZZ*ACMEHEALTH     *260504*0930*^*00501"
    "*000000042*0*T*:",
    "GS*HS*REVCYCLE*ACMEHEALTH*20260504*0930*7*X*005010X279A1",
    "ST*270*0001*005010X279A1",
    "BHT*0022*13*T1*20260504*0930",
    "HL*1**20*1",
    "NM1*PR*2*ACME HEALTH*****PI*60054",
    "HL*2*1*21*1",
    "NM1*1P*2*GOOD CLINIC*****XX*1234567893",
    "HL*3*2*22*0",
    "TRN*1*T1*1123456789",
    "NM1*IL*1*DOE*JANE****MI*M10001",
    "DMG*D8*19800203*F",
    "DTP*291*D8*20260504",
    "EQ*30",
    "SE*13*0001",
    "ST*270*0002*005010X279A1",
    "BHT*0022*13*T2*20260504*0930",
    "HL*1**20*1",
    "NM1*PR*2*ACME HEALTH*****PI*60054",
    "HL*2*1*21*1",
    "NM1*1P*2*GOOD CLINIC*****XX*1234567893",
    "HL*3*2*22*1",
    "NM1*IL*1*DOE*JANE****MI*M10001",
    "DMG*D8*19800203*F",
    "HL*4*3*23*0",
    "TRN*1*T2*1123456789",
    "NM1*03*1*DOE*JIM",
    "DMG*D8*20150101*M",
    "DTP*291*D8*20260504",
    "EQ*98",
    "EQ*UC",
    "SE*17*0002",
    "GE*2*7",
    "IEA*1*000000042",
]


def test_build_270_exact_output() -> None:
    text = build_270(
        [inquiry("T1"), inquiry("T2", dependent=CHILD, service_types=("98", "UC"))], ENVELOPE
    )
    assert text.split("~") == [*EXPECTED_270, ""]
    assert len(text.split("~")[0]) + 1 == 106  # the ISA is fixed width


def test_build_270_line_breaks_and_ranges() -> None:
    q = dataclasses.replace(inquiry(), service_date_end=dt.date(2026, 5, 31), reference="BATCH-1")
    text = build_270([q], ENVELOPE, first_set_number=900, line_breaks=True)
    lines = text.splitlines()
    assert "ST*270*0900*005010X279A1~" in lines
    assert "BHT*0022*13*BATCH-1*20260504*0930~" in lines
    assert "DTP*291*RD8*20260504-20260531~" in lines


def test_data_is_cleaned_of_delimiters_and_upper_cased() -> None:
    q = dataclasses.replace(
        inquiry(), subscriber=Person("o'neil*smith~", "ann:marie^x", member_id="m1")
    )
    text = build_270([q], ENVELOPE)
    assert "NM1*IL*1*O'NEILSMITH*ANNMARIEX****MI*M1~" in text


def test_round_trip_build_then_parse() -> None:
    qs = [
        inquiry("T1"),
        inquiry("T2", dependent=CHILD, service_types=("98", "UC")),
        dataclasses.replace(
            inquiry("T3", "M3"),
            provider=Provider("WELBY", "1234567893", first_name="MARCUS"),
            service_date=None,
            service_types=("30", "MH"),
        ),
    ]
    result = parse_270(build_270(qs, ENVELOPE))
    assert result.errors == []
    assert [r.control_number for r in result.requests] == ["0001", "0002", "0003"]
    got = [i for r in result.requests for i in r.inquiries]
    assert got == [dataclasses.replace(q, reference=q.trace_number) for q in qs]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"provider": Provider("X", "1234567890")}, "provider NPI"),
        ({"subscriber": Person("DOE", "J")}, "member ID"),
        ({"subscriber": Person("", "", member_id="M1")}, "needs a last name"),
        ({"trace_originator_id": "123"}, "10 characters"),
        ({"trace_number": ""}, "trace_number"),
        ({"service_types": ()}, "service type"),
        ({"dependent": Person("DOE", "")}, "first and last name"),
        ({"subscriber": Person("DOE", "J", member_id="M1", gender="X")}, "gender"),
        ({"service_date": None, "service_date_end": dt.date(2026, 1, 1)}, "service_date_end"),
    ],
)
def test_build_270_refuses_bad_inquiries(change: dict[str, object], message: str) -> None:
    bad = dataclasses.replace(inquiry("BAD"), **change)  # type: ignore[arg-type]
    with pytest.raises(X12Error) as info:
        build_270([inquiry("OK"), bad], ENVELOPE)
    assert getattr(info.value, "code", None) == "x12.bad_inquiry"
    assert "inquiry 2 ('BAD'" in str(info.value) or "inquiry 2 (''" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "change",
    [
        {"interchange_control_number": 1_000_000_000},
        {"group_control_number": 0},
        {"sender_id": "X" * 16},
        {"usage": "Q"},
    ],
)
def test_bad_envelopes_are_refused(change: dict[str, object]) -> None:
    env = dataclasses.replace(ENVELOPE, **change)  # type: ignore[arg-type]
    with pytest.raises(X12Error) as info:
        build_270([inquiry()], env)
    assert getattr(info.value, "code", "").startswith("x12.bad_")


def test_build_270_needs_inquiries() -> None:
    with pytest.raises(X12Error, match="no inquiries"):
        build_270([], ENVELOPE)


def test_a_10000_inquiry_batch() -> None:
    qs = [inquiry(f"T{i}", f"M{i}") for i in range(10_000)]
    text = build_270(qs, ENVELOPE)
    result = parse_270(io.BytesIO(text.encode()))
    assert result.errors == []
    assert len(result.requests) == 10_000
    assert result.requests[-1].control_number == "10000"
    assert text.endswith("GE*10000*7~IEA*1*000000042~")


# -- the corpus ----------------------------------------------------------------------------------
def test_corpus_270_dependent_inquiry() -> None:
    with corpus_file("dependent-health-benefit-check.270").open("rb") as f:
        result = parse_270(f)
    assert result.errors == []
    (request,) = result.requests
    assert (request.control_number, request.reference) == ("1234", "10001234")
    (q,) = request.inquiries
    assert q.trace_number == "93175-012547"
    assert q.trace_originator_id == "9877281234"
    assert q.payer.name == "ABC COMPANY"
    assert q.payer.payer_id == "842610001"
    assert (q.provider.name, q.provider.first_name) == ("JONES", "MARCUS")
    assert (q.provider.id_qualifier, q.provider.npi) == ("SV", "2000034")
    assert q.subscriber.member_id == "11122333301"
    assert q.dependent == Person("SMITH", "MARY", birth_date=dt.date(1978, 10, 14))
    assert q.service_date == dt.date(2006, 5, 1)
    assert q.service_types == ("30",)


def test_corpus_271_dependent_benefits() -> None:
    with corpus_file("dependent-health-benefit-check.271").open("rb") as f:
        result = parse_271(f)
    assert result.ok
    (resp,) = result.responses
    assert (resp.control_number, resp.reference, resp.purpose) == ("4321", "10001234", "11")
    assert resp.created == dt.date(2006, 5, 1)
    assert resp.source is not None
    assert resp.source.entity is not None
    assert (resp.source.entity.last_name, resp.source.entity.identifier) == (
        "ABC COMPANY",
        "841610001",
    )
    assert resp.receiver is not None
    assert resp.receiver.entity is not None
    assert resp.receiver.entity.last_name == "BONE AND JOIN CLINIC"
    (sub,) = resp.subscribers
    assert sub.member_id == "123456789"
    assert sub.entity is not None
    assert (sub.entity.last_name, sub.entity.first_name) == ("SMITH", "JOHN")
    assert sub.birth_date == dt.date(1963, 5, 19)
    assert sub.gender == "M"
    assert sub.entity.address is not None
    assert sub.entity.address.lines == ["15197 BROADWAY AVENUE", "APT 215"]
    assert (sub.entity.address.city, sub.entity.address.state) == ("KANSAS CITY", "MO")
    assert sub.benefits == []
    (dep,) = sub.dependents
    assert resp.patients == [dep]
    assert dep.trace_references == ["93175-012547"]
    assert dep.relationship_code == "19"
    assert dep.birth_date == dt.date(1998, 10, 14)
    assert dep.date("346") is not None
    assert dep.date("346").start == dt.date(2006, 1, 1)
    assert dep.coverage_active is True
    assert [b.eligibility_code for b in dep.benefits] == ["1", "L", "1", "B", "B"]
    plan, pcp, active, copay_in, copay_out = dep.benefits
    assert plan.service_type_codes == ("30",)
    assert plan.plan_description == "GOLD 123 PLAN"
    (doctor,) = pcp.related_entities
    assert (doctor.entity_code, doctor.last_name, doctor.first_name) == ("P3", "JONES", "MARCUS")
    assert (doctor.id_qualifier, doctor.identifier) == ("SV", "0202034")
    codes = ("1", "33", "35", "47", "86", "88", "98", "AL", "MH", "UC")
    assert active.service_type_codes == codes
    assert [s.description for s in active.service_types][:3] == [
        "Medical Care",
        "Chiropractic",
        "Dental Care",
    ]
    for b, minor, network in ((copay_in, 1000, "Y"), (copay_out, 3000, "N")):
        assert b.eligibility == "Co-Payment"
        assert b.service_type_codes == codes
        assert (b.insurance_type_code, b.insurance_type) == (
            "HM",
            "Health Maintenance Organization (HMO)",
        )
        assert (b.time_period_code, b.time_period) == ("27", "Visit")
        assert b.amount == Decimal(minor) / 100
        assert b.amount_minor == minor
        assert b.in_network == network
    assert copay_out.position == 29


def test_corpus_271_rejection() -> None:
    with corpus_file("subscriber-health-benefit-check-error.271").open("rb") as f:
        result = parse_271(f)
    assert [(e.code, e.position) for e in result.errors] == [("x12.se_control", 10)]
    assert not result.ok
    with pytest.raises(X12Error, match="SE02 '4323' does not match ST02 '4321'"):
        result.raise_for_errors()
    (resp,) = result.responses
    assert resp.subscribers == []
    assert resp.envelope_errors == result.errors
    (aaa,) = resp.errors
    assert aaa.loop == "receiver"
    assert aaa.valid_request is True
    assert (aaa.reason_code, aaa.reason) == ("50", "Provider Ineligible for Inquiries")
    assert (aaa.follow_up_code, aaa.follow_up) == ("N", "Resubmission Not Allowed")
    assert aaa.position == 9


def test_another_transaction_type_is_an_envelope_error() -> None:
    with corpus_file("835_mult_loops.txt").open("rb") as f:
        result = parse_271(f)
    assert result.responses == []
    assert [(e.code, e.segment_id) for e in result.errors] == [("x12.unexpected_set", "ST")]
    with corpus_file("835_mult_loops.txt").open("rb") as f, pytest.raises(X12Error) as info:
        list(iter_271(f))
    assert getattr(info.value, "code", None) == "x12.unexpected_set"


# -- bad 271 input -----------------------------------------------------------------------------
HEAD = (
    "ISA*00*          *00*          *ZZ*ACMEHEALTH     *ZZ*REVCYCLE       "
    "*260504*0930*^*00501*000000042*0*P*:~GS*HB*ACMEHEALTH*REVCYCLE*20260504*0930*42*X*"
    "005010X279A1~ST*271*0001*005010X279A1~BHT*0022*11*T1*20260504*0930~"
    "HL*1**20*1~NM1*PR*2*ACME*****PI*60054~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~"
    "HL*3*2*22*0~TRN*2*T1*1123456789~NM1*IL*1*DOE*JANE****MI*M1~"
)


def x271(*segments: str) -> str:
    body = "~".join(segments) + "~"
    count = 10 + len(segments)  # ST..NM1 is 9 segments, plus these, plus SE
    return f"{HEAD}{body}SE*{count}*0001~GE*1*42~IEA*1*000000042~"


def test_a_built_271_sample_is_clean() -> None:
    result = parse_271(x271("EB*1**30"))
    assert result.errors == []
    (patient,) = result.responses[0].patients
    assert patient.member_id == "M1"
    assert patient.trace_references == ["T1"]


def test_unknown_codes_are_kept_as_unknown() -> None:
    result = parse_271(x271("EB*Z9*XYZ*Q7^30^ZZ*QQ**77*5.00*0.15*VS*3*U*W*HC:99213:25"))
    (b,) = result.responses[0].patients[0].benefits
    assert (b.eligibility_code, b.eligibility) == ("Z9", "unknown")
    assert (b.coverage_level_code, b.coverage_level) == ("XYZ", "unknown")
    assert [(s.code, s.description) for s in b.service_types] == [
        ("Q7", "unknown"),
        ("30", "Health Benefit Plan Coverage"),
        ("ZZ", "unknown"),
    ]
    assert (b.insurance_type, b.time_period) == ("unknown", "unknown")
    assert (b.amount_minor, b.percent, b.quantity_qualifier, b.quantity) == (
        500,
        Decimal("0.15"),
        "VS",
        Decimal(3),
    )
    assert (b.authorization_required, b.in_network) == ("U", "W")
    assert b.procedure is not None
    assert (b.procedure.qualifier, b.procedure.code, b.procedure.modifiers) == (
        "HC",
        "99213",
        ("25",),
    )


def test_segments_following_an_eb_attach_to_it() -> None:
    result = parse_271(
        x271(
            "DTP*346*D8*20260101",
            "REF*6P*GRP1",
            "EB*C*IND*30**GOLD*23*1500*****Y",
            "HSD*VS*30***22",
            "REF*G1*AUTH1",
            "DTP*292*RD8*20260101-20261231",
            "AAA*Y**15*C",
            "MSG*FIRST",
            "MSG*SECOND",
            "III*ZZ*11",
            "LS*2120",
            "NM1*PR*2*OTHER PAYER*****PI*999",
            "N3*1 MAIN ST",
            "N4*TOWN*NY*10001",
            "PER*IC**TE*5551234567",
            "LE*2120",
            "EB*C*FAM*30**GOLD*29*2999.99*****N",
        )
    )
    (patient,) = result.responses[0].patients
    assert patient.group_number == "GRP1"
    assert patient.date("346") is not None
    first, second = patient.benefits
    assert first.amount_minor == 150000
    assert first.deliveries == [("VS", "30", "", "", "22")]
    assert [(r.qualifier, r.value, r.description) for r in first.references] == [
        ("G1", "AUTH1", "Prior Authorization Number")
    ]
    (period,) = first.dates
    assert (period.qualifier, period.start, period.end) == (
        "292",
        dt.date(2026, 1, 1),
        dt.date(2026, 12, 31),
    )
    assert [(e.reason_code, e.loop) for e in first.errors] == [("15", "benefit")]
    assert first.messages == ["FIRST", "SECOND"]
    assert [(i.qualifier, i.code) for i in first.additional_info] == [("ZZ", "11")]
    (other,) = first.related_entities
    assert other.last_name == "OTHER PAYER"
    assert other.address is not None
    assert other.address.postal_code == "10001"
    assert other.contacts == [("TE", "5551234567")]
    assert second.amount == Decimal("2999.99")
    assert second.coverage_level == "Family"
    assert second.messages == []


@pytest.mark.parametrize(
    ("segment", "code", "segment_id"),
    [
        ("EB*C*IND*30***23*10.005", "x12.bad_amount", "EB"),
        ("EB*C*IND*30***23*ABC", "x12.bad_number", "EB"),
        ("EB*A*IND*30***23**NaN", "x12.bad_number", "EB"),
        ("EB*A*IND*30***23**1E", "x12.bad_number", "EB"),
        ("DTP*346*D8*20261341", "x12.bad_date", "DTP"),
        ("DTP*346*RD8*20260101", "x12.bad_date", "DTP"),
        ("DTP*346*XX*20260101", "x12.bad_date", "DTP"),
        ("EB", "x12.missing_element", "EB"),
        ("HL*4*3*99*0", "x12.bad_hl", "HL"),
    ],
)
def test_bad_values_name_the_segment_and_position(segment: str, code: str, segment_id: str) -> None:
    with pytest.raises(X12Error) as info:
        parse_271(x271(segment))
    err = info.value
    assert getattr(err, "code", None) == code
    assert (getattr(err, "segment_id", None), getattr(err, "position", None)) == (segment_id, 12)


def test_misplaced_segments() -> None:
    text = x271("EB*1**30").replace("HL*1**20*1~", "EB*1~HL*1**20*1~", 1)
    with pytest.raises(X12Error) as info:
        parse_271(text)
    assert getattr(info.value, "code", None) == "x12.misplaced_segment"
    orphan = x271("EB*1**30").replace("HL*3*2*22*0", "HL*3*9*23*0")
    orphan = orphan.replace("HL*1**20*1~", "", 1)
    with pytest.raises(X12Error) as info:
        parse_271(orphan.replace("SE*11", "SE*10"))
    assert getattr(info.value, "code", None) == "x12.bad_hl"


def test_truncated_271_raises_naming_the_segment() -> None:
    text = x271("EB*1**30", "EB*B*IND*98***27*25.00")
    cut = text[: text.index("*27*25")]
    with pytest.raises(X12Error) as info:
        parse_271(cut)
    err = info.value
    assert (getattr(err, "code", None), getattr(err, "segment_id", None)) == (
        "x12.truncated",
        "EB",
    )
    assert getattr(err, "position", None) == 13


def test_iter_271_streams_sets() -> None:
    text = x271("EB*1**30")
    one = text[text.index("ST*") : text.index("GE*")]
    many = text[: text.index("ST*")] + one * 3 + "GE*3*42~IEA*1*000000042~"
    got = list(iter_271(io.BytesIO(many.encode())))
    assert len(got) == 3
    assert all(r.patients[0].member_id == "M1" for r in got)


def test_unused_envelope_fields() -> None:
    env = Envelope("A", "B", 1, 1, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert env.usage == "P"
    assert EligibilityInquiry.__dataclass_fields__["service_types"].default == ("30",)
