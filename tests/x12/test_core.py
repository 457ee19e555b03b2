"""The tokenizer and envelope checks: delimiters, BOM, line breaks, non-padded ISA, odd
separators, truncation, counts and control numbers."""

from __future__ import annotations

import io

import pytest

from revcycle.x12.core import (
    Delimiters,
    X12Error,
    X12Reader,
    iter_segments,
    read_transactions,
)
from tests.x12.helpers import corpus_file

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*260504*0930*^*00501*000000001*0*T*:~"
)
BODY = (
    "GS*HB*SENDER*RECEIVER*20260504*0930*1*X*005010X279A1~"
    "ST*271*0001*005010X279A1~"
    "BHT*0022*11*REF1*20260504*0930~"
    "HL*1**20*0~"
    "NM1*PR*2*ACME*****PI*1~"
    "EB*B**98^UC*HM*GOLD*27*10.00~"
    "SE*6*0001~"
    "GE*1*1~"
    "IEA*1*000000001~"
)
SAMPLE = ISA + BODY
IDS = ["ISA", "GS", "ST", "BHT", "HL", "NM1", "EB", "SE", "GE", "IEA"]


def ids(src: str | bytes, **kw: int) -> list[str]:
    return [s.id for s in iter_segments(src, **kw)]


def read(src: str | bytes) -> tuple[list[str], list[tuple[str, str | None, int | None]]]:
    reader = X12Reader(src)
    got = [s.id for s in reader]
    return got, [(e.code, e.segment_id, e.position) for e in reader.errors]


def test_a_padded_interchange_reads_cleanly() -> None:
    reader = X12Reader(SAMPLE)
    segs = list(reader)
    assert [s.id for s in segs] == IDS
    assert [s.position for s in segs] == list(range(1, 11))
    assert reader.errors == []
    assert reader.interchange is not None
    assert segs[0][6] == "SENDER         "  # ISA padding is data, never trimmed
    eb = segs[6]
    assert eb.repeats(3) == ["98", "UC"]
    assert eb[7] == "10.00"
    assert eb[20] == ""
    assert eb.delimiters == Delimiters("*", ":", "^", "~")
    assert len(ISA) == 106


def test_headers_are_exposed() -> None:
    result = read_transactions(SAMPLE)
    (tx,) = result.transactions
    assert tx.set_id == "271"
    assert tx.control_number == "0001"
    assert tx.interchange.sender_id == "SENDER"
    assert tx.interchange.control_number == "000000001"
    assert tx.interchange.usage == "T"
    assert tx.group is not None
    assert (tx.group.functional_id, tx.group.control_number, tx.group.version) == (
        "HB",
        "1",
        "005010X279A1",
    )
    assert [s.id for s in tx.segments] == IDS[2:8]
    assert result.errors == []


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + SAMPLE.encode(),
        "\ufeff" + SAMPLE,
        b"\xef\xbb\xbf\r\n  " + SAMPLE.encode(),
        b"\x00\x00" + SAMPLE.encode(),
    ],
    ids=["bom-bytes", "bom-text", "bom-then-blank", "leading-nul"],
)
def test_bom_and_leading_junk_are_skipped(data: str | bytes) -> None:
    assert read(data) == (IDS, [])


def test_line_breaks_and_indentation_between_segments() -> None:
    data = SAMPLE.replace("~", "~\r\n    ")
    assert read(data) == (IDS, [])
    wrapped = SAMPLE.replace("NM1*PR*2*AC", "NM1*PR*2*AC\r\n")  # a wrapped line
    segs = list(iter_segments(wrapped))
    assert segs[5].text() == "NM1*PR*2*ACME*****PI*1"


def test_a_space_before_the_terminator_is_dropped() -> None:
    segs = list(iter_segments(SAMPLE.replace("HL*1**20*0~", "HL*1**20*0  ~")))
    assert segs[4].elements == ["HL", "1", "", "20", "0"]


def test_line_feed_as_the_segment_terminator() -> None:
    data = SAMPLE.replace("~", "\n")
    assert read(data) == (IDS, [])
    assert read(SAMPLE.replace("~", "\r\n")) == (IDS, [])
    assert next(iter(iter_segments(data))).delimiters.segment == "\n"


def test_non_padded_isa_is_read_by_counting_separators() -> None:
    isa = "ISA*00**00**ZZ*SENDER*ZZ*RECEIVER*260504*0930*^*00501*1*0*T*:~"
    got, errors = read(isa + BODY)
    assert got == IDS
    assert errors == []  # IEA02 000000001 matches ISA13 1 as a number
    tx = read_transactions(isa + BODY).transactions[0]
    assert tx.interchange.sender_id == "SENDER"
    assert tx.interchange.control_number == "1"


def _convert(text: str, d: Delimiters) -> str:
    table = str.maketrans(
        {"*": d.element, ":": d.component, "^": d.repetition or "^", "~": d.segment}
    )
    return text.translate(table)


@pytest.mark.parametrize(
    "delims",
    [
        Delimiters("|", ">", "^", "~"),
        Delimiters("^", ":", "|", "~"),
        Delimiters("~", "^", "}", "\n"),
        Delimiters("*", "|", "^", "'"),
        Delimiters("!", "\\", "`", "\r"),
    ],
    ids=["pipe", "caret-element", "tilde-element-lf", "pipe-component", "bang-cr"],
)
def test_odd_separators_are_detected(delims: Delimiters) -> None:
    data = _convert(SAMPLE, delims)
    segs = list(iter_segments(data))
    assert [s.id for s in segs] == IDS
    assert segs[0].delimiters == delims
    assert segs[6].repeats(3) == ["98", "UC"]


def test_4010_has_no_repetition_separator() -> None:
    data = SAMPLE.replace("*^*00501*", "*U*00401*")
    seg = next(iter(iter_segments(data)))
    assert seg.delimiters.repetition is None
    eb = list(iter_segments(data))[6]
    assert eb.repeats(3) == ["98^UC"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("ISAX00*", "x12.bad_delimiters"),
        (SAMPLE.replace("*:~", "**~", 1), "x12.bad_delimiters"),  # component == element
        (SAMPLE.replace("*^*00501", "*:*00501", 1), "x12.bad_delimiters"),  # rep == component
        (SAMPLE.replace("*:~", "* ~", 1), "x12.bad_delimiters"),
        ("ISA 00 " + "x" * 600, "x12.bad_delimiters"),
        ("ISA*00*" + "x" * 600, "x12.bad_isa"),
        ("hello world", "x12.not_x12"),
        ("GS*HB*A~", "x12.not_x12"),
        ("", "x12.empty"),
        (" \r\n\t", "x12.empty"),
        ("\ufeff", "x12.empty"),
        ("ISA*00*   ", "x12.truncated"),
    ],
)
def test_broken_headers_raise_a_clear_error(data: str, code: str) -> None:
    with pytest.raises(X12Error) as info:
        list(iter_segments(data))
    assert info.value.code == code
    assert info.value.position == 1


@pytest.mark.parametrize(
    ("cut", "segment_id", "position"),
    [
        ("NM1*PR*2*AC", "NM1", 6),
        ("EB*B**98^U", "EB", 7),
        ("SE*6*00", "SE", 8),
        ("IEA*1*0000", "IEA", 10),
    ],
)
def test_truncated_data_names_the_segment_and_position(
    cut: str, segment_id: str, position: int
) -> None:
    data = SAMPLE[: SAMPLE.index(cut) + len(cut)]
    with pytest.raises(X12Error) as info:
        list(iter_segments(data))
    err = info.value
    assert (err.code, err.segment_id, err.position) == ("x12.truncated", segment_id, position)
    assert f"segment {segment_id} at position {position}" in err.message


def test_bad_segment_id_names_its_position() -> None:
    with pytest.raises(X12Error) as info:
        list(iter_segments(SAMPLE.replace("HL*1**20*0", "hl*1**20*0")))
    assert (info.value.code, info.value.segment_id, info.value.position) == (
        "x12.bad_segment_id",
        "hl",
        5,
    )


def test_isaac_in_data_is_not_an_interchange() -> None:
    data = SAMPLE.replace("NM1*PR*2*ACME", "NM1*IL*1*ISAAC")
    assert read(data) == (IDS, [])
    with pytest.raises(X12Error) as info:
        list(iter_segments(SAMPLE.replace("HL*1**20*0", "ISAAC*1")))
    assert info.value.code == "x12.bad_segment_id"


def test_missing_iea_is_reported_not_raised() -> None:
    data = SAMPLE.replace("IEA*1*000000001~", "")
    assert read(data) == (IDS[:-1], [("x12.missing_iea", "GE", 9)])


def test_missing_se_and_ge() -> None:
    data = SAMPLE.replace("SE*6*0001~", "")
    got, errors = read(data)
    assert got == [i for i in IDS if i != "SE"]
    assert errors == [("x12.missing_se", "GE", 8)]
    data = SAMPLE.replace("GE*1*1~", "")
    assert read(data)[1] == [("x12.missing_ge", "IEA", 9)]


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("SE*6*0001", "SE*7*0001", ("x12.se_count", "SE", 8)),
        ("SE*6*0001", "SE*6*0002", ("x12.se_control", "SE", 8)),
        ("GE*1*1", "GE*2*1", ("x12.ge_count", "GE", 9)),
        ("GE*1*1", "GE*1*9", ("x12.ge_control", "GE", 9)),
        ("IEA*1*000000001", "IEA*3*000000001", ("x12.iea_count", "IEA", 10)),
        ("IEA*1*000000001", "IEA*1*000000002", ("x12.iea_control", "IEA", 10)),
        ("ST*271*0001*005010X279A1", "ST*271*0001*005010X222A1", ("x12.version_mismatch", "ST", 3)),
    ],
)
def test_envelope_mismatches_are_collected(old: str, new: str, error: tuple[str, str, int]) -> None:
    got, errors = read(SAMPLE.replace(old, new))
    assert got == IDS
    assert errors == [error]


def test_segments_outside_the_envelope_are_errors() -> None:
    data = SAMPLE.replace("GE*1*1~", "GE*1*1~NM1*XX~")
    assert read(data)[1] == [("x12.outside_transaction", "NM1", 10)]
    data = SAMPLE.replace("GS*HB", "TA1*000000001*260504*0930*A*000~GS*HB")
    assert read(data)[1] == []


def test_several_interchanges_each_with_its_own_delimiters() -> None:
    second = _convert(SAMPLE, Delimiters("|", ">", "^", "\n"))
    data = SAMPLE + "\r\n" + second + "\n" + SAMPLE.replace("~", "~\n")
    result = read_transactions(data)
    assert len(result.transactions) == 3
    assert [h.delimiters.element for h in result.interchanges] == ["*", "|", "*"]
    assert [tx.segments[0].position for tx in result.transactions] == [3, 13, 23]
    assert result.errors == []


def test_an_isa_without_the_previous_iea() -> None:
    data = SAMPLE.replace("IEA*1*000000001~", "") + SAMPLE
    got, errors = read(data)
    assert got == IDS[:-1] + IDS
    assert errors == [("x12.missing_iea", "ISA", 10)]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 105, 106, 107, 4096])
def test_chunk_boundaries_do_not_matter(chunk_size: int) -> None:
    data = b"\xef\xbb\xbf" + SAMPLE.replace("~", "~\r\n").encode()
    expect = [s.text() for s in iter_segments(data)]
    assert [s.text() for s in iter_segments(io.BytesIO(data), chunk_size=chunk_size)] == expect
    text = data.decode("utf-8-sig")
    assert [s.text() for s in iter_segments(io.StringIO(text), chunk_size=chunk_size)] == expect


def test_latin1_fallback_for_non_utf8_bytes() -> None:
    data = SAMPLE.replace("ACME", "ACMÉ").encode("latin-1")
    segs = list(iter_segments(data))
    assert segs[5][3] == "ACMÉ"
    assert list(iter_segments(SAMPLE.replace("ACME", "ACMÉ").encode()))[5][3] == "ACMÉ"


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


def test_reading_is_streaming() -> None:
    gs = BODY[: BODY.index("ST*")]
    one = BODY[BODY.index("ST*") : BODY.index("GE*")]
    sets = "".join(one.replace("0001", f"{i:04d}") for i in range(1, 2001))
    data = (ISA + gs + sets + "GE*2000*1~IEA*1*000000001~").encode()
    src = CountingReader(data)
    it = iter(X12Reader(src, chunk_size=1024))
    for _ in range(5):
        next(it)
    assert src.reads <= 2  # the first segments come before the file is read
    rest = list(it)
    assert len(rest) + 5 == 2 + 2000 * 6 + 2
    assert src.reads > len(data) // 1024


def test_error_is_a_domain_error_with_data() -> None:
    err = X12Error("x12.truncated", "the data ends", segment_id="NM1", position=6)
    assert err.status == 400
    assert err.data == {
        "segment_id": "NM1",
        "position": 6,
        "detail": "the data ends",
    }
    assert str(err) == "the data ends (segment NM1 at position 6)"


CORPUS_COUNTS = {
    "835_DeIdent_01.dat": (1, 2357, []),
    "835_WithMultipleInterchanges.txt": (3, 777, []),
    "Example1_2_And_3_Combined.txt": (2, 130, []),
    "dependent-health-benefit-check.270": (1, 15, []),
    "dependent-health-benefit-check.271": (1, 28, []),
    "subscriber-health-benefit-check-error.271": (1, 8, [("x12.se_control", "SE", 10)]),
    "x12_277CA_rejected.txt": (1, 24, []),
    "x12_many_claims.txt": (1, 11486, [("x12.se_count", "SE", 11488)]),
}


@pytest.mark.parametrize("name", sorted(CORPUS_COUNTS))
def test_corpus_files_tokenize(name: str) -> None:
    path = corpus_file(name)
    with path.open("rb") as f:
        result = read_transactions(f)
    sets, segments, errors = CORPUS_COUNTS[name]
    assert len(result.transactions) == sets
    assert sum(len(t.segments) for t in result.transactions) == segments
    assert [(e.code, e.segment_id, e.position) for e in result.errors] == errors


def test_corpus_delimiters() -> None:
    def delims(name: str) -> Delimiters:
        with corpus_file(name).open("rb") as f:
            return next(iter(iter_segments(f))).delimiters

    assert delims("835_WithMultipleInterchanges.txt") == Delimiters("*", ">", "^", "~")
    assert delims("x12_277CA_rejected.txt") == Delimiters("*", "|", "^", "~")
    assert delims("835_DeIdent_01.dat").repetition is None  # ISA11 U (4010)
