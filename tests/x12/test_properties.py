"""Property tests: whatever bytes come in, the reader and the 271 parser either succeed or raise
X12Error (never another exception); 270s built from arbitrary valid inquiries read back equal."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revcycle.x12.core import X12Error, X12Reader
from revcycle.x12.eligibility import Person, build_270, parse_270, parse_271
from revcycle.x12.simulator import demo_config, simulate_271
from tests.x12.helpers import ENVELOPE, inquiry
from tests.x12.test_core import SAMPLE

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIMULATED = simulate_271(build_270([inquiry("T1")], ENVELOPE), demo_config())


def consume(data: str | bytes) -> None:
    try:
        reader = X12Reader(data, chunk_size=7)
        for _ in reader:
            pass
    except X12Error:
        pass
    with contextlib.suppress(X12Error):
        parse_271(data)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    consume(data)


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_after_a_valid_isa(tail: bytes) -> None:
    consume(SAMPLE[:106].encode() + tail)


X12_CHARS = "*:^~|>\r\n ISAGSTEBHLNM123456789-." + string.ascii_uppercase[:6]


@SETTINGS
@given(st.text(alphabet=X12_CHARS, max_size=300))
def test_x12_looking_text_after_a_valid_isa(tail: str) -> None:
    consume(SAMPLE[:106] + tail)


@SETTINGS
@given(st.data())
def test_mutated_responses(data: st.DataObject) -> None:
    text = SIMULATED
    for _ in range(data.draw(st.integers(1, 4))):
        if not text:
            break
        i = data.draw(st.integers(0, len(text) - 1))
        action = data.draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
        char = data.draw(st.sampled_from(list(X12_CHARS) + ["\ufeff", "\x00", "é"]))
        if action == "delete":
            text = text[:i] + text[i + 1 :]
        elif action == "insert":
            text = text[:i] + char + text[i:]
        elif action == "replace":
            text = text[:i] + char + text[i + 1 :]
        else:
            text = text[:i]
    consume(text)
    consume(text.encode("utf-8"))


NAME = (
    st.text(alphabet=string.ascii_uppercase + " '-", min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)
ID = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=15)


@settings(max_examples=100, deadline=None)
@given(
    last=NAME,
    first=NAME,
    member_id=ID,
    trace=ID,
    birth=st.dates(dt.date(1900, 1, 1), dt.date(2030, 12, 31)),
    dependent=st.booleans(),
    types=st.lists(
        st.sampled_from(["30", "1", "98", "UC", "MH", "AL", "88"]), min_size=1, max_size=4
    ),
)
def test_build_parse_round_trip(
    last: str,
    first: str,
    member_id: str,
    trace: str,
    birth: dt.date,
    dependent: bool,
    types: list[str],
) -> None:
    person = Person(last, first, member_id=member_id, birth_date=birth, gender="U")
    q = dataclasses.replace(
        inquiry(trace),
        subscriber=person,
        dependent=Person(last, first, birth_date=birth) if dependent else None,
        service_types=tuple(types),
    )
    (request,) = parse_270(build_270([q], ENVELOPE)).requests
    assert request.inquiries == [dataclasses.replace(q, reference=trace)]
