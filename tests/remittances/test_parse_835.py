"""The 835 reader: exact values, balancing, tolerance of real files, and errors that name the
segment and its position. Corpus files come from ../shared/corpus/x12 (skipped when absent)."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revcycle.x12.core import X12Error
from revcycle.x12.remittance import (
    Reader835,
    Remittance,
    RemittanceFailure,
    remittance_json,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "x12"


def corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus not present: {path} (../shared/corpus/x12)")
    return path


def isa(control: str = "000000101", *, version: str = "00501", rep: str = "^") -> str:
    return (
        f"ISA*00*          *00*          *ZZ*PAYERSIM       *ZZ*REVCYCLE       *261127*1200*"
        f"{rep}*{version}*{control}*0*T*:~"
    )


def interchange(body: list[str], *, control: str = "000000101", gs08: str = "005010X221A1") -> str:
    segs = ["ST*835*0001", *body]
    segs.append(f"SE*{len(segs) + 1}*0001")
    return (
        isa(control)
        + f"GS*HP*PAYERSIM*REVCYCLE*20261127*1200*1*X*{gs08}~"
        + "".join(s + "~" for s in segs)
        + "GE*1*1~"
        + f"IEA*1*{control}~"
    )


# One check of 114.15: a claim paid with contractual and deductible (line level), a reversal of
# an earlier payment followed by its correction, a denial, and provider-level interest (L6),
# an overpayment recovery (WO) and a forwarding balance (FB).
BODY = [
    "BPR*I*114.15*C*ACH*CCP*01*011000015*DA*123456*1999999999**01*021000021*DA*98765*20261120",
    "TRN*1*EFT0001*1999999999",
    "DTM*405*20261119",
    "N1*PR*ACME HEALTH PLAN",
    "N3*1 PAYER WAY",
    "N4*HARTFORD*CT*06101",
    "REF*2U*ACME01",
    "PER*BL*EDI*TE*8005551212",
    "N1*PE*RIVERSIDE CLINIC*XX*1234567893",
    "LX*1",
    "CLP*INV-1001*1*200*100*40*12*ICN0001*11*1",
    "NM1*QC*1*DOE*JANE****MI*W123456789",
    "DTM*050*20261101",
    "SVC*HC:99213:25*150*75**1",
    "DTM*472*20261020",
    "CAS*CO*45*45",
    "CAS*PR*1*30",
    "REF*6R*LINE-1",
    "AMT*B6*105",
    "SVC*HC:80053*50*25**2*HC:80050",
    "DTM*472*20261020",
    "CAS*CO*45*15**253*0",
    "CAS*PR*2*10",
    "LQ*HE*N130",
    "CLP*INV-0900*22*-80*-60*-20*12*ICN0777*11*1",
    "CAS*CO*45*-0",
    "CAS*PR*3*-20",
    "CLP*INV-0900*1*80*70*10*12*ICN0778*11*1",
    "CAS*PR*3*10",
    "REF*F8*ICN0777",
    "CLP*INV-1002*4*90*0*0*12*ICN0002*11*1",
    "CAS*CO*16*90",
    "MOA***MA130",
    "PLB*1234567893*20261231*L6*-2.15*WO:ICN0500*30*FB:ICN0600*-32",
]


def text(body: list[str] = BODY, **kw: str) -> str:
    return interchange(body, **kw)


def one(source: str | bytes) -> Remittance:
    items = list(Reader835(source))
    assert len(items) == 1
    item = items[0]
    assert isinstance(item, Remittance), item
    return item


def test_a_remittance_read_to_the_cent() -> None:
    rem = one(text())
    assert rem.balanced, [e.message for e in rem.balance_errors]
    assert (rem.payer_name, rem.payer_id, rem.payee_name, rem.payee_npi) == (
        "ACME HEALTH PLAN",
        "ACME01",
        "RIVERSIDE CLINIC",
        "1234567893",
    )
    assert (rem.trace_number, rem.trace_originator, rem.payment_minor, rem.payment_method) == (
        "EFT0001",
        "1999999999",
        11415,
        "ACH",
    )
    assert str(rem.payment_date) == "2026-11-20"
    assert [(c.patient_control_number, c.status_code, c.paid_minor) for c in rem.claims] == [
        ("INV-1001", "1", 10000),
        ("INV-0900", "22", -6000),
        ("INV-0900", "1", 7000),
        ("INV-1002", "4", 0),
    ]
    paid = rem.claims[0]
    assert paid.patient_member_id == "W123456789"
    assert str(paid.received_date) == "2026-11-01"
    first, second = paid.service_lines
    assert (first.procedure, first.modifiers, first.charge_minor, first.paid_minor) == (
        "99213",
        ["25"],
        15000,
        7500,
    )
    assert (first.line_control_number, first.allowed_minor, str(first.service_date)) == (
        "LINE-1",
        10500,
        "2026-10-20",
    )
    assert [(a.group, a.reason, a.amount_minor) for a in first.adjustments] == [
        ("CO", "45", 4500),
        ("PR", "1", 3000),
    ]
    assert (second.units, second.submitted_procedure, second.remarks) == (
        Decimal(2),
        "80050",
        ["N130"],
    )
    assert [(a.group, a.reason, a.amount_minor, a.quantity) for a in second.adjustments] == [
        ("CO", "45", 1500, None),
        ("CO", "253", 0, None),
        ("PR", "2", 1000, None),
    ]
    assert paid.patient_responsibility_total() == 4000
    assert rem.claims[2].original_reference == "ICN0777"
    assert rem.claims[3].remarks == ["MA130"]
    assert [(p.reason, p.reference, p.amount_minor) for p in rem.provider_adjustments] == [
        ("L6", "", -215),
        ("WO", "ICN0500", 3000),
        ("FB", "ICN0600", -3200),
    ]
    assert rem.warnings == []


def test_the_json_summary_is_the_documented_shape() -> None:
    doc = remittance_json(one(text()))
    assert json.loads(json.dumps(doc)) == doc
    assert list(doc) == [
        "payer",
        "payee",
        "trace_number",
        "payment_amount",
        "payment_method",
        "payment_date",
        "balanced",
        "claims",
        "provider_adjustments",
    ]
    assert doc["payment_amount"] == "114.15"
    claim = doc["claims"][0]  # type: ignore[index]
    assert claim == {
        "patient_control_number": "INV-1001",
        "status_code": "1",
        "charge_amount": "200.00",
        "paid_amount": "100.00",
        "patient_responsibility": "40.00",
        "payer_claim_number": "ICN0001",
        "adjustments": [],
        "service_lines": [
            {
                "procedure": "99213",
                "modifiers": ["25"],
                "charge_amount": "150.00",
                "paid_amount": "75.00",
                "units": "1",
                "adjustments": [
                    {"group": "CO", "reason": "45", "amount": "45.00"},
                    {"group": "PR", "reason": "1", "amount": "30.00"},
                ],
            },
            {
                "procedure": "80053",
                "modifiers": [],
                "charge_amount": "50.00",
                "paid_amount": "25.00",
                "units": "2",
                "adjustments": [
                    {"group": "CO", "reason": "45", "amount": "15.00"},
                    {"group": "CO", "reason": "253", "amount": "0.00"},
                    {"group": "PR", "reason": "2", "amount": "10.00"},
                ],
            },
        ],
    }
    assert doc["provider_adjustments"] == [
        {"reason": "L6", "reference": "", "amount": "-2.15"},
        {"reason": "WO", "reference": "ICN0500", "amount": "30.00"},
        {"reason": "FB", "reference": "ICN0600", "amount": "-32.00"},
    ]
    assert "DOE" not in json.dumps(doc)
    assert "W123456789" not in json.dumps(doc)


@pytest.mark.parametrize(
    ("old", "new", "level", "message"),
    [
        (
            "SVC*HC:99213:25*150*75**1",
            "SVC*HC:99213:25*150*76**1",
            "line",
            "charge 150.00 - adjustments 75.00 = 75.00, but paid is 76.00",
        ),
        (
            "CLP*INV-1002*4*90*0*0*12*ICN0002*11*1",
            "CLP*INV-1002*4*91*0*0*12*ICN0002*11*1",
            "claim",
            "charge 91.00 - adjustments 90.00 = 1.00, but paid is 0.00",
        ),
        (
            "PLB*1234567893*20261231*L6*-2.15*WO:ICN0500*30*FB:ICN0600*-32",
            "PLB*1234567893*20261231*L6*-2.16*WO:ICN0500*30*FB:ICN0600*-32",
            "transaction",
            "paid claims 110.00 - provider adjustments -4.16 = 114.16, but BPR02 is 114.15 "
            "(difference -0.01)",
        ),
    ],
)
def test_each_balancing_equation_is_checked(old: str, new: str, level: str, message: str) -> None:
    body = [new if s == old else s for s in BODY]
    rem = one(text(body))
    assert not rem.balanced
    found = [e.message for e in rem.balance_errors if e.level == level]
    assert len(found) == 1
    assert found[0].endswith(message)


def test_the_transaction_equation_alone() -> None:
    body = [s.replace("114.15", "114.14") if s.startswith("BPR") else s for s in BODY]
    rem = one(text(body))
    assert [(e.level, e.expected_minor, e.actual_minor) for e in rem.balance_errors] == [
        ("transaction", 11415, 11414)
    ]
    assert rem.balance_errors[0].message == (
        "paid claims 110.00 - provider adjustments -4.15 = 114.15, but BPR02 is 114.14 "
        "(difference -0.01)"
    )


def test_what_real_files_do_is_tolerated_and_hashes_the_same() -> None:
    compact = text()
    messy = "\ufeff" + compact.replace("~", "~\r\n    ")
    # A non-padded ISA (fields trimmed) and a different component separator.
    short_isa = "ISA*00**00**ZZ*PAYERSIM*ZZ*REVCYCLE*261127*1200*^*00501*000000101*0*T*>~"
    other = short_isa + compact.split("~", 1)[1].replace("HC:", "HC>").replace(
        "WO:ICN", "WO>ICN"
    ).replace("FB:ICN", "FB>ICN").replace("HC>99213:25", "HC>99213>25")
    a, b, c = one(compact), one(messy.encode("utf-8")), one(other)
    assert a.sha256 == b.sha256 == c.sha256
    assert remittance_json(a) == remittance_json(b) == remittance_json(c)


def test_several_interchanges_and_sets_in_one_file() -> None:
    source = text(control="000000101") + "\n" + text(control="000000102")
    items = list(Reader835(source))
    assert [type(i).__name__ for i in items] == ["Remittance", "Remittance"]
    assert [i.interchange_control_number for i in items if isinstance(i, Remittance)] == [
        "000000101",
        "000000102",
    ]


@pytest.mark.parametrize(
    ("old", "new", "code", "message"),
    [
        (
            "CAS*CO*45*45",
            "CAS*CO*45*45.001",
            "x12.bad_amount",
            "CAS03 '45.001' has more than two decimals (segment CAS at position 19)",
        ),
        (
            "CAS*CO*45*45",
            "CAS*XX*45*45",
            "x12.bad_code",
            "CAS01 'XX' is not an adjustment group code (segment CAS at position 19)",
        ),
        (
            "SVC*HC:99213:25*150*75**1",
            "SVC*99213*150*75**1",
            "x12.bad_composite",
            "SVC01 must be qualifier:procedure[:modifiers] (segment SVC at position 17)",
        ),
        (
            "CLP*INV-1001*1*200*100*40*12*ICN0001*11*1",
            "CLP*INV-1001*1*200*100*40*12**11*1",
            "x12.missing_element",
            "CLP07 (payer claim control number) is required (segment CLP at position 14)",
        ),
        (
            "LX*1",
            "SVC*HC:99213*1*1",
            "x12.misplaced_segment",
            "SVC outside a claim (no CLP before it) (segment SVC at position 13)",
        ),
        (
            "CAS*PR*1*30",
            "CAS*PR**30",
            "x12.missing_element",
            "CAS02 reason code is missing (segment CAS at position 20)",
        ),
    ],
)
def test_a_bad_set_is_refused_naming_segment_and_position(
    old: str, new: str, code: str, message: str
) -> None:
    body = [new if s == old else s for s in BODY]
    (item,) = list(Reader835(text(body)))
    assert isinstance(item, RemittanceFailure)
    assert (item.error.code, item.error.message) == (code, message)


def test_4010_reversal_group_cr_is_accepted_only_outside_5010() -> None:
    body = [s.replace("CAS*CO*45*-0", "CAS*CR*45*-0") for s in BODY]
    (refused,) = list(Reader835(text(body)))
    assert isinstance(refused, RemittanceFailure)
    rem = one(text(body, gs08="004010X091A1").replace("*00501*", "*00401*"))
    assert rem.claims[1].adjustments[0].group == "CR"


def test_truncated_or_garbage_input_raises_a_clear_error() -> None:
    with pytest.raises(X12Error, match="position"):
        list(Reader835(text()[:-60]))
    with pytest.raises(X12Error):
        list(Reader835(b"hello world, not an 835"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(X12Error):
        list(Reader835(data))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=len(text()) - 1))
def test_any_cut_of_a_good_file_is_an_x12_error_or_a_result(cut: int) -> None:
    with contextlib.suppress(X12Error):
        list(Reader835(text()[:cut]))


def _peak(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    with path.open("rb") as fh:
        reader = Reader835(fh, chunk_size=4096)
        count = sum(1 for item in reader if isinstance(item, Remittance))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def test_memory_is_bounded_by_a_set_not_by_the_file(tmp_path: Path) -> None:
    one_set = text()
    sizes = {}
    for n in (20, 200):
        path = tmp_path / f"{n}.835"
        path.write_text("".join(one_set.replace("000000101", f"{i:09d}") for i in range(n)))
        sizes[n] = _peak(path)
    assert (sizes[20][0], sizes[200][0]) == (20, 200)
    # 10 times the file (both beyond one 4 KiB read), about the same peak: memory follows
    # the largest set, not the file.
    assert sizes[200][1] < sizes[20][1] * 1.25, sizes


# --- the corpus ---------------------------------------------------------------------------------


def read(name: str) -> list[Remittance | RemittanceFailure]:
    return list(Reader835(corpus(name).read_bytes()))


def test_corpus_medicare_part_a() -> None:
    (rem,) = read("medicare-part-a.835")
    assert isinstance(rem, Remittance)
    assert rem.balanced
    assert (rem.payment_minor, rem.handling_code, rem.payer_id, rem.payee_npi) == (
        15000000,
        "C",
        "999",
        "6543210903",
    )
    assert [(c.patient_control_number, c.charge_minor, c.paid_minor) for c in rem.claims] == [
        ("666123", 21136697, 13801840),
        ("777777", 1500000, 1198033),
    ]
    assert [(p.reason, p.reference, p.amount_minor) for p in rem.provider_adjustments] == [
        ("CV", "CP", -127)
    ]


def test_corpus_managed_care_has_an_invalid_payment_date() -> None:
    (rem,) = read("managed-care.835")
    assert isinstance(rem, Remittance)
    assert rem.balanced
    assert rem.payment_date is None
    assert [e.message for e in rem.data_errors] == [
        "'20002316' is not a CCYYMMDD date (segment BPR at position 4)"
    ]
    assert [(a.group, a.reason, a.amount_minor) for a in rem.claims[0].adjustments] == [
        ("CO", "A2", 5000)
    ]


@pytest.mark.parametrize(
    ("name", "claims", "payment", "trace"),
    [
        ("emedny_sample.txt", 3, 4575, "10100000000"),
        ("united_healthcare_legacy_sample.txt", 2, 34999, None),
        ("835_mult_loops.txt", 1, 0, None),
    ],
)
def test_corpus_files_that_balance(name: str, claims: int, payment: int, trace: str | None) -> None:
    (rem,) = read(name)
    assert isinstance(rem, Remittance)
    assert (rem.balanced, len(rem.claims), rem.payment_minor) == (True, claims, payment)
    if trace:
        assert rem.trace_number == trace


def test_corpus_835_mult_loops_is_a_full_denial() -> None:
    (rem,) = read("835_mult_loops.txt")
    assert isinstance(rem, Remittance)
    (claim,) = rem.claims
    assert (claim.status_code, claim.paid_minor, rem.payment_method) == ("4", 0, "NON")


def test_corpus_three_interchanges_with_masked_amounts() -> None:
    items = read("835_WithMultipleInterchanges.txt")
    rems = [i for i in items if isinstance(i, Remittance)]
    assert len(rems) == len(items) == 3
    assert sum(len(r.claims) for r in rems) == 56
    assert sum(1 for r in rems for c in r.claims if c.status_code == "4") == 16


def test_corpus_4010_with_reversals() -> None:
    (rem,) = read("835_DeIdent_01.dat")
    assert isinstance(rem, Remittance)
    assert len(rem.claims) == 96
    reversals = [c for c in rem.claims if c.status_code == "22"]
    assert len(reversals) == 19
    assert all(c.paid_minor <= 0 for c in reversals)
    assert any(
        a.group == "CR" for c in reversals for line in c.service_lines for a in line.adjustments
    )
