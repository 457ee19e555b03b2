"""The specialised 835 reader behind ``Reader835`` against the general path (``X12Reader`` +
``_transactions`` + ``parse_835_set``): every corpus 835, the benchmark's file and hypothesis
mutations of good files (characters, segments, values, chunk sizes) must give exactly the same
results, errors and exceptions. Also the exact cents routine and the date rule it relies on."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

import pytest
from bench.era_bench import build_835
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revcycle.x12.core import Segment, X12Error, parse_date
from revcycle.x12.remittance import Reader835, Remittance, amount_minor, cents
from tests.remittances.test_parse_835 import BODY, interchange, text
from tests.x12.differential import assert_same
from tests.x12.helpers import CORPUS

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHUNKS = st.sampled_from([1, 2, 3, 7, 64, 333, 4096, 65536])

CORPUS_835 = [
    "835_DeIdent_01.dat",
    "835_WithMultipleInterchanges.txt",
    "835_mult_loops.txt",
    "emedny_sample.txt",
    "managed-care.835",
    "medicare-part-a.835",
    "united_healthcare_legacy_sample.txt",
]


@pytest.mark.parametrize("name", CORPUS_835)
@pytest.mark.parametrize("chunk_size", [7, 4096, 65536])
def test_every_corpus_835_reads_the_same_both_ways(name: str, chunk_size: int) -> None:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus not present (needs ../shared/corpus/x12/{name})")
    items, stopped, errors = assert_same(path.read_bytes(), chunk_size=chunk_size)
    assert items
    assert stopped is None


def test_every_835_found_in_the_corpus_folder_reads_the_same_both_ways() -> None:
    if not CORPUS.is_dir():
        pytest.skip("shared corpus not present (../shared/corpus/x12)")
    found = [p for p in sorted(CORPUS.iterdir()) if b"ST*835*" in p.read_bytes()]
    assert len(found) >= len(CORPUS_835)
    for path in found:
        assert_same(path.read_bytes())


def test_the_benchmark_file_reads_the_same_both_ways() -> None:
    data = build_835(2_500).encode("ascii")  # three sets, the last one short
    items, stopped, errors = assert_same(data)
    assert len(items) == 3
    assert stopped is None
    assert errors == []
    assert_same(data, chunk_size=1000)
    # The same claims with charges and dates of their own (few texts repeat).
    items, stopped, errors = assert_same(build_835(2_500, varied=True).encode("ascii"))
    assert (len(items), stopped, errors) == (3, None, [])


def test_a_crossover_carrier_reads_the_same_both_ways() -> None:
    data = (
        build_835(3)
        .replace("NM1*QC*", "NM1*TT*2*HARBOR MUTUAL*****PI*HM001~NM1*QC*", 1)
        .encode("ascii")
    )
    items, stopped, _errors = assert_same(data)
    assert stopped is None
    [rem] = [r for r in Reader835(data) if isinstance(r, Remittance)]
    first = rem.claims[0]
    assert (first.crossover_payer, first.crossover_payer_id) == ("HARBOR MUTUAL", "HM001")
    assert len(items) == 1


def test_messy_and_several_interchanges_read_the_same_both_ways() -> None:
    compact = text()
    messy = "\ufeff" + compact.replace("~", "~\r\n  \t")
    cr = compact.replace("~", "\r")
    crlf = compact.replace(":~", ":\r\n", 1).replace("~", "\r\n")
    mixed = text(control="000000101") + "\n\n" + text(control="000000102").replace("*", "|")
    no_iea = text().rsplit("IEA", 1)[0] + text(control="000000103")
    # Control characters as delimiters (the digest maps delimiters to GS, US and RS).
    odd = [
        compact.replace("^", "\x1f").replace(":", "\x1d"),
        compact.replace("^", "\x1d").replace(":", "\x1e"),
        compact.replace("*", "\x1f").replace("^", "\x1d"),
    ]
    for source in (compact, messy, cr, crlf, mixed, no_iea, messy.encode("utf-8"), *odd):
        for chunk_size in (5, 64, 65536):
            assert_same(source, chunk_size=chunk_size)
    results = [list(Reader835(source)) for source in (compact, messy, *odd)]
    assert all(isinstance(r, Remittance) for (r,) in results)
    assert results[0][0].sha256 == results[1][0].sha256  # type: ignore[union-attr]


# -- hypothesis: mutations of good files ---------------------------------------------------------
BASE = [
    text(),
    text(gs08="004010X091A1").replace("*00501*", "*00401*"),
    text() + "\r\n" + text(control="000000102").replace("~", "~\n"),
    interchange(BODY[:12] + ["CUR*PR*USD", "SVC*HC:99213*10*10", "AMT*B6*10", "MIA*0***1"]),
    build_835(3),
]
CHARS = list("*:^~|>.-+ 0123456789EAHLPSTVXZ\r\n\t") + ["\ufeff", "\x00", "é"]
VALUES = [
    "",
    "-",
    ".",
    ".5",
    "-.5",
    "5.",
    "1.234",
    "1.230",
    "1e2",
    "+5",
    " 5",
    "5 ",
    "0",
    "-0.00",
    "١٢",
    "١٥٠.٠٠",
    "²0.00",
    "99999999999999",
    "9999999999999.99",
    "99999999999999.99",
    "9999999999999999999.99",
    "0000000000000000001.00",
    "1_0.00",
    "15_.00",
    " 15.00",
    "1.5.5",
    "NaN",
    "Infinity",
    "20261340",
    "20260229",
    "2026112",
    "CR",
    "PR",
    "CO",
    "XX",
    "HC",
    "HC:",
    ":99213",
    "HC:99213::59",
    "835",
    "837",
    "22",
    "99",
    "B6",
    "HE",
    "6R",
    "F8",
    "2U",
    "PE",
    "TT",
    "QC",
    "405",
    "472",
    "150",
    "151",
    "232",
    "050",
]
SEGMENTS = [
    "SE*5*0001",
    "ST*835*0002",
    "ST*837*0003",
    "GE*1*1",
    "GS*HP*A*B*20260101*1200*9*X*005010X221A1",
    "IEA*1*000000101",
    "TA1*1",
    "LX*1",
    "CUR*PR*CAD",
    "TRN*1*X*1",
    "PLB*X*20261231*L6*1",
    "PLB*X*2026*WO:1*5*FB*-5",
    "CAS*CO*45*1*1*46*2",
    "CAS*PR*1*1*0.5",
    "AMT*B6*1.5",
    "LQ*HE*N1",
    "N1*PR*X*XV*1",
    "N1*PE*Y*FI*2",
    "BPR*I*1*C",
    "REF*2U*P",
    "REF*6R*L",
    "REF*F8*O",
    "NM1*TT*2*CROSS",
    "NM1*TT*2*CROSS MUTUAL*****PI*HM001",
    "NM1*QC*1*DOE****MI*M1",
    "DTM*405*20260101",
    "DTM*151*20260102",
    "MOA***MA1*MA2",
    "MIA*0***1****************R1",
    "SVC*HC:1*1*1",
    "CLP*X*4*1*0**12*I*11*1",
    "QTY*CA*2",
    "ZZZ*1",
    "9X*1",
    "",
    " ",
    "N3*1 MAIN ST  ",
]


def _mutate(data: st.DataObject, source: str) -> str:
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        kind = data.draw(st.sampled_from(["char", "segment", "value", "insert", "drop", "cut"]))
        segs = source.split("~")
        if kind == "char" and source:
            i = data.draw(st.integers(0, len(source) - 1))
            op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
            c = data.draw(st.sampled_from(CHARS))
            keep = i + (0 if op == "insert" else 1)
            source = source[:i] + ("" if op == "delete" else c) + source[keep:]
        elif kind == "value" and len(segs) > 2:
            i = data.draw(st.integers(1, len(segs) - 2))
            els = segs[i].split("*")
            j = data.draw(st.integers(0, len(els)))
            value = data.draw(st.sampled_from(VALUES))
            els[j : j + 1] = [value]
            segs[i] = "*".join(els)
            source = "~".join(segs)
        elif kind == "insert" and len(segs) > 2:
            i = data.draw(st.integers(1, len(segs) - 1))
            segs.insert(i, data.draw(st.sampled_from(SEGMENTS)))
            source = "~".join(segs)
        elif kind in ("drop", "segment") and len(segs) > 2:
            i = data.draw(st.integers(1, len(segs) - 2))
            if kind == "drop":
                del segs[i]
            else:
                segs.insert(i, segs[i])
            source = "~".join(segs)
        elif kind == "cut" and source:
            source = source[: data.draw(st.integers(0, len(source)))]
    return source


# Every odd value in every element the 835 reader types (amounts, quantities, dates, codes).
TYPED = [
    ("BPR", 2),
    ("BPR", 16),
    ("CLP", 2),
    ("CLP", 3),
    ("CLP", 4),
    ("CLP", 5),
    ("CLP", 7),
    ("SVC", 1),
    ("SVC", 2),
    ("SVC", 3),
    ("SVC", 5),
    ("SVC", 6),
    ("SVC", 7),
    ("CAS", 1),
    ("CAS", 2),
    ("CAS", 3),
    ("CAS", 4),
    ("DTM", 2),
    ("AMT", 2),
    ("PLB", 2),
    ("PLB", 4),
]


@pytest.mark.parametrize(("sid", "index"), TYPED)
def test_every_odd_value_in_every_typed_element_reads_the_same_both_ways(
    sid: str, index: int
) -> None:
    segs = text().split("~")
    at = [i for i, seg in enumerate(segs) if seg.startswith(sid + "*")]
    for value in VALUES:
        for i in at[:3]:
            els = segs[i].split("*")
            els += [""] * (index + 1 - len(els))
            els[index] = value
            assert_same("~".join([*segs[:i], "*".join(els), *segs[i + 1 :]]))


@SETTINGS
@given(st.data(), st.sampled_from(range(len(BASE))), CHUNKS)
def test_mutated_835s_read_the_same_both_ways(
    data: st.DataObject, base: int, chunk_size: int
) -> None:
    source = _mutate(data, BASE[base])
    assert_same(source, chunk_size=chunk_size)
    assert_same(source.encode("utf-8"), chunk_size=chunk_size)


@SETTINGS
@given(st.binary(max_size=300), CHUNKS)
def test_arbitrary_bytes_after_a_good_start_read_the_same_both_ways(
    tail: bytes, chunk_size: int
) -> None:
    assert_same(text().encode()[: 106 + 60] + tail, chunk_size=chunk_size)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="".join(CHARS) + "ISAGTEBCLPRNMDQ", max_size=300), CHUNKS)
def test_x12_looking_text_reads_the_same_both_ways(tail: str, chunk_size: int) -> None:
    assert_same(text()[:106] + tail, chunk_size=chunk_size)


def test_an_unbalanced_set_and_warnings_are_the_general_path_s() -> None:
    body = [s.replace("CAS*PR*1*30", "CAS*PR*1*31") for s in BODY]
    body = [s.replace("CLP*INV-1002*4*", "CLP*INV-1002*7*") for s in body]
    assert_same(text(body))
    (rem,) = list(Reader835(text(body)))
    assert isinstance(rem, Remittance)
    assert [
        (b.level, b.position, b.expected_minor, b.actual_minor) for b in rem.balance_errors
    ] == [
        ("line", 17, 7400, 7500),
        ("claim", 14, 9900, 10000),
    ]
    assert rem.warnings == [
        "CLP at position 34: unknown claim status '7'",
        "CLP at position 14: CLP05 40.00 differs from the PR adjustments 41.00",
    ]
    body = [s.replace("BPR*I*114.15*", "BPR*I*114.14*") for s in BODY]
    (rem,) = list(Reader835(text(body)))
    assert isinstance(rem, Remittance)
    assert [b.message for b in rem.balance_errors] == [
        "paid claims 110.00 - provider adjustments -4.15 = 114.15, but BPR02 is 114.14 "
        "(difference -0.01)"
    ]
    assert_same(text(body))


# -- the cents routine ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "minor"),
    [
        ("150", 15000),
        ("150.00", 15000),
        ("150.5", 15050),
        ("0.05", 5),
        (".5", 50),
        (".05", 5),
        ("-.5", -50),
        ("-45.50", -4550),
        ("-45", -4500),
        ("-0", 0),
        ("-0.00", 0),
        ("0", 0),
        ("9999999999999.99", 999999999999999),
        ("1.500", 150),  # trailing zeros: still exact
        ("+5", 500),
        ("1E2", 10000),
        (" 5 ", 500),
        ("99999999999999.5", 9999999999999950),  # 14 digits: through Decimal, still exact
    ],
)
def test_amounts_are_exact_cents(value: str, minor: int) -> None:
    assert amount_minor(value) == minor
    assert cents(value, Segment(["CAS"], 7, _D), 3) == minor


_D = Segment(
    ["X"], 1, __import__("revcycle.x12.core", fromlist=["DEFAULT_DELIMITERS"]).DEFAULT_DELIMITERS
).delimiters


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1.234", "has more than two decimals"),
        ("-0.001", "has more than two decimals"),
        ("", None),
        ("-", "is not an amount"),
        (".", "is not an amount"),
        ("1.2.3", "is not an amount"),
        ("12a", "is not an amount"),
        ("NaN", "is not an amount"),
        ("1000000000000000", "is not an amount"),
        ("1E1000000", "is not an amount"),  # abs() of it overflowed the decimal context
    ],
)
def test_what_is_not_an_amount_is_an_error(value: str, problem: str | None) -> None:
    assert amount_minor(value) is None
    with pytest.raises(X12Error) as caught:
        cents(value, Segment(["CAS"], 7, _D), 3)
    if problem is None:
        assert caught.value.message == "CAS03 (amount) is required (segment CAS at position 7)"
    else:
        assert caught.value.message == f"CAS03 {value!r} {problem} (segment CAS at position 7)"


_REGEX = re.compile(r"(-?)([0-9]{1,13})(?:\.([0-9]{1,2}))?")


def _previous_cents(value: str) -> int | None:
    """The routine as it was (regex, then Decimal): the oracle for the string routine."""
    plain = _REGEX.fullmatch(value)
    if plain is not None:
        sign, whole, frac = plain.groups()
        minor = int(whole) * 100 + (int(frac) * (10 if len(frac) == 1 else 1) if frac else 0)
        return -minor if sign else minor
    try:
        dec = Decimal(value)
    except InvalidOperation:
        return None
    if not dec.is_finite() or dec.copy_abs() >= Decimal(10) ** 15:  # abs() could overflow
        return None
    scaled = dec.scaleb(2)
    return int(scaled) if scaled == scaled.to_integral_value() else None


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="0123456789.-+ eE_", max_size=20),
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        st.from_regex(r"-?[0-9]{0,16}(\.[0-9]{0,4})?", fullmatch=True),
        st.text(max_size=8),
    )
)
def test_the_string_routine_equals_the_previous_one(value: str) -> None:
    expected = _previous_cents(value) if value else None
    assert amount_minor(value) == expected


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="0123456789.-+ eE_", max_size=20),
        st.from_regex(r"-?[0-9]{0,16}(\.[0-9]{0,4})?", fullmatch=True),
        st.text(max_size=8),
    )
)
def test_the_fast_path_amount_is_amount_minor(value: str) -> None:
    from revcycle.x12.remittance_fast import _amount, _Unusual

    expected = amount_minor(value) if value else None
    try:
        got: int | None = _amount(value)
    except _Unusual:
        got = None
    assert got == expected


def test_the_fast_date_rule_is_parse_date_s() -> None:
    from revcycle.x12.remittance_fast import _day, _Unusual

    seg = Segment(["DTM"], 1, _D)
    for year in ("0000", "0001", "1999", "2024", "2100", "9999"):
        for month in range(14):
            for day in range(33):
                value = f"{year}{month:02d}{day:02d}"
                try:
                    expected: dt.date | None = parse_date(value, seg)
                except X12Error:
                    expected = None
                try:
                    got: dt.date | None = _day(value)
                except _Unusual:
                    got = None
                assert got == expected, value
    for odd in ("2026W011", "2026-1-1", "٢٠٢٦٠١٠١", "20260101 ", "+2026010"):
        with pytest.raises(_Unusual):
            _day(odd)


# -- segments remembered by their text ------------------------------------------------------------
def _kinds(source: str) -> list[str]:
    return [type(item).__name__ for item in Reader835(source)]


def test_a_remembered_segment_in_another_context_is_read_again() -> None:
    # A CAS and an SVC already read in a claim, then before any claim of the next set: that set
    # is the general parser's (misplaced segment), as if nothing had been remembered.
    for early in ("CAS*PR*1*30", "SVC*HC:99213:25*150*75**1"):
        body = BODY[:9] + [early] + BODY[9:]
        source = text() + text(body, control="000000102")
        assert_same(source)
        assert _kinds(source) == ["Remittance", "RemittanceFailure"]
    # CR is an adjustment group in 4010 only: remembered in a 4010 set, refused in a 5010 one
    # (two groups of one interchange, and two interchanges).
    cr = [s.replace("CAS*PR*1*30", "CAS*CR*1*30") for s in BODY]
    old = text(cr, gs08="004010X091A1").replace("*00501*", "*00401*")
    new = text(cr, control="000000102")
    isa, rest = old.split("~GS", 1)
    group_4010 = "GS" + rest.split("~IEA")[0] + "~"
    group_5010 = "GS" + new.split("~GS", 1)[1].split("~IEA")[0] + "~"
    for groups in ([group_4010, group_5010], [group_5010, group_4010]):
        source = isa + "~" + "".join(groups) + "IEA*2*000000101~"
        assert_same(source)
        kinds = ["Remittance", "RemittanceFailure"]
        assert _kinds(source) == (kinds if groups[0] is group_4010 else kinds[::-1])
    for source in (old + new, new + old):
        assert_same(source)
    assert _kinds(old + new) == ["Remittance", "RemittanceFailure"]
    # Another component separator in the next interchange: the same SVC text is one component.
    other = text(control="000000102").replace("*:~", "*>~", 1)
    assert_same(text() + other)
    assert _kinds(text() + other) == ["Remittance", "RemittanceFailure"]


def test_lines_read_from_a_remembered_segment_have_their_own_lists() -> None:
    first, second = (r for r in Reader835(build_835(1_001)) if isinstance(r, Remittance))
    lines = [c.service_lines[0] for c in (*first.claims, *second.claims)]
    assert lines[0].modifiers == lines[-1].modifiers == ["25"]
    assert len({id(line.modifiers) for line in lines}) == len(lines)
    assert len({id(line.submitted_modifiers) for line in lines}) == len(lines)
    lines[0].modifiers.append("59")
    lines[0].adjustments.clear()
    assert lines[1].modifiers == ["25"]
    assert [(a.group, a.reason, a.amount_minor) for a in lines[1].adjustments] == [
        ("CO", "45", 5000),
        ("PR", "2", 2000),
    ]


def test_when_the_memory_is_full_segments_are_read_as_they_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from revcycle.x12 import remittance_fast  # noqa: PLC0415

    monkeypatch.setattr(remittance_fast, "_MEMO_SIZE", 3)
    assert_same(build_835(40))
    assert_same(text() + text(control="000000102"))
