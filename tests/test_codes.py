"""Identifier and code-set checks, against hand-picked cases and the real CMS code files in
../shared/corpus/codes (ICD-10-CM tabular list, HCPCS Level II alpha-numeric file)."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revcycle.kit import codes

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "codes"
ICD10CM_TABULAR = CORPUS / "icd10c-tabular-April-1-2026.xml.gz"
HCPCS_FILE = CORPUS / "HCPC2020_ANWEB_w_disclaimer.txt"


def corpus_file(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared corpus not present: {path}")
    return path


def rejects(fn: object, value: str) -> bool:
    try:
        fn(value)  # type: ignore[operator]
    except ValueError:
        return True
    return False


# NPI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "1234567893",  # the CMS example NPI
        "1245319599",
        "1003000126",
        " 1234567893 ",
    ],
)
def test_npi_valid(value: str) -> None:
    assert codes.npi(value) == value.strip()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1234567890", "check digit does not match"),
        ("1234567894", "check digit does not match"),
        ("1245319598", "check digit does not match"),
        ("123456789", "exactly 10 digits"),
        ("12345678931", "exactly 10 digits"),
        ("", "exactly 10 digits"),
        ("12345678a3", "exactly 10 digits"),
        ("123-456-789", "exactly 10 digits"),
        ("\uff11234567893", "exactly 10 digits"),  # a full-width digit
    ],
)
def test_npi_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        codes.npi(value)


@given(st.from_regex(r"\A[0-9]{9}\Z"))
def test_npi_check_digit_round_trip(body: str) -> None:
    check = codes.npi_check_digit(body)
    assert len(check) == 1
    assert check.isdigit()
    assert codes.npi(body + check) == body + check
    for other in "0123456789":
        if other != check:
            assert rejects(codes.npi, body + other)


def test_npi_check_digit_known_value() -> None:
    assert codes.npi_check_digit("123456789") == "3"


# EIN / taxonomy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [("12-3456789", "12-3456789"), ("123456789", "12-3456789"), (" 12-3456789 ", "12-3456789")],
)
def test_tin_valid(value: str, normalised: str) -> None:
    assert codes.tin(value) == normalised


@pytest.mark.parametrize(
    "value", ["00-1234567", "07-1234567", "12345678", "1234567890", "ab-cdefghi", "12 3456789", ""]
)
def test_tin_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="not a valid EIN"):
        codes.tin(value)


@pytest.mark.parametrize(
    ("value", "normalised"), [("207Q00000X", "207Q00000X"), ("207q00000x", "207Q00000X")]
)
def test_taxonomy_valid(value: str, normalised: str) -> None:
    assert codes.taxonomy(value) == normalised


@pytest.mark.parametrize("value", ["207Q0000X", "207Q00000", "207Q00000XX", "A07Q00000X", ""])
def test_taxonomy_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="taxonomy"):
        codes.taxonomy(value)


# ICD-10-CM -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("e119", "E11.9"),
        ("E11.9", "E11.9"),
        (" e11.9 ", "E11.9"),
        ("S52521A", "S52.521A"),
        ("s52.521a", "S52.521A"),
        ("T360X1A", "T36.0X1A"),
        ("E11", "E11"),
        ("U071", "U07.1"),
        ("Z3A01", "Z3A.01"),
        ("M1A.0110", "M1A.0110"),
        ("QA0.0101", "QA0.0101"),  # category QA0, new in the 2026 code set
    ],
)
def test_icd10cm_normalises(value: str, normalised: str) -> None:
    assert codes.icd10cm(value) == normalised


@pytest.mark.parametrize(
    "value",
    [
        "",
        "E1",
        "11.9",
        "119",
        "E11.",
        "E11..9",
        "E11-9",
        "E11.12345",
        "E1112345",
        "E11 9",
        "E.119",
        "ÉE11.9",
        "E11.9\n1",
        "XYZ",
        "EA1.1",
    ],
)
def test_icd10cm_refuses(value: str) -> None:
    with pytest.raises(ValueError, match="not an ICD-10-CM code"):
        codes.icd10cm(value)


def _walk(diag: ET.Element, seventh: list[str]) -> Iterator[tuple[str, bool]]:
    """(code, listed) for a <diag> and its descendants; listed=False for the 7th-character codes
    built from an inherited <sevenChrDef> (X placeholders up to six characters)."""
    definition = diag.find("sevenChrDef")
    if definition is not None:
        seventh = [e.get("char", "") for e in definition.findall("extension")]
    name = diag.findtext("name")
    assert name is not None
    yield name, True
    children = diag.findall("diag")
    if not children and seventh:
        body = name.replace(".", "").ljust(6, "X")
        for char in seventh:
            yield f"{body[:3]}.{body[3:]}{char}", False
    for child in children:
        yield from _walk(child, seventh)


def _icd10cm_codes(path: Path) -> Iterator[tuple[str, bool]]:
    """Every code the tabular list names, and every billable 7th-character extension, read
    section by section with iterparse (each finished <section> is walked, then freed)."""
    with gzip.open(path) as fh:
        for _event, el in ET.iterparse(fh, events=("end",)):  # noqa: S314 - trusted CMS file
            if el.tag == "section":
                for diag in el.findall("diag"):
                    yield from _walk(diag, [])
                el.clear()


def test_corpus_every_icd10cm_code_passes() -> None:
    found = list(_icd10cm_codes(corpus_file(ICD10CM_TABULAR)))
    listed = [c for c, is_listed in found if is_listed]
    all_codes = [c for c, _ in found]
    assert len(listed) == 46_881  # every <diag><name> in the file
    assert len(all_codes) == 98_262
    assert {"E11.9", "S52.521", "U07.1", "Z3A.01"} <= set(listed)
    assert {"S52.521A", "S52.521S", "T36.0X1A"} <= set(all_codes)
    refused = [c for c in all_codes if rejects(codes.icd10cm, c)]
    assert refused == [], f"{len(refused)} ICD-10-CM codes refused, e.g. {refused[:10]}"
    # the undotted lower-case form normalises back to the listed one
    changed = [c for c in all_codes if codes.icd10cm(c.replace(".", "").lower()) != c]
    assert changed == []


# CPT / HCPCS / modifiers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("99213", "99213"),
        ("0001F", "0001F"),  # CPT Category II
        ("0042T", "0042T"),  # CPT Category III
        ("0001U", "0001U"),  # PLA
        ("j1100", "J1100"),
        (" G0008 ", "G0008"),
        ("V5364", "V5364"),
        ("A0021", "A0021"),
    ],
)
def test_procedure_code_valid(value: str, normalised: str) -> None:
    assert codes.procedure_code(value) == normalised


@pytest.mark.parametrize(
    "value", ["9921", "992131", "W1234", "Z1234", "J110", "J11000", "0001X", "99 213", "", "ABCDE"]
)
def test_procedure_code_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="not a CPT or HCPCS Level II code"):
        codes.procedure_code(value)


@pytest.mark.parametrize(("value", "normalised"), [("25", "25"), ("lt", "LT"), (" 59 ", "59")])
def test_modifier_valid(value: str, normalised: str) -> None:
    assert codes.modifier(value) == normalised


@pytest.mark.parametrize("value", ["2", "25A", "-25", "", "L T"])
def test_modifier_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="two-character procedure modifier"):
        codes.modifier(value)


def _hcpcs_records(path: Path) -> tuple[set[str], set[str]]:
    """(procedure codes, modifiers) from the fixed-width file: HCPC in columns 1-5, sequence
    number 6-10, record id 11 (3/4 procedure first/continuation line, 7/8 modifier)."""
    procedures: set[str] = set()
    modifiers: set[str] = set()
    for line in path.read_bytes().decode("latin-1").splitlines():
        if len(line) < 11 or not line[5:10].isdigit() or line[10] not in "3478":
            continue  # the disclaimer at the top of the file
        code = line[:5].strip()
        (procedures if line[10] in "34" else modifiers).add(code)
    return procedures, modifiers


def test_corpus_every_hcpcs_code_passes() -> None:
    procedures, modifiers = _hcpcs_records(corpus_file(HCPCS_FILE))
    assert len(procedures) == 6710
    assert len(modifiers) == 369
    assert {"A0021", "J1100", "V5364"} <= procedures
    refused = sorted(c for c in procedures if rejects(codes.procedure_code, c))
    assert refused == []
    assert {codes.procedure_code(c.lower()) for c in procedures} == procedures
    refused_modifiers = sorted(m for m in modifiers if rejects(codes.modifier, m))
    assert refused_modifiers == []
