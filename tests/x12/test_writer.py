"""The segment writer: plain values take a one-pass path; values with delimiters, line breaks or
the internal glue character are cleaned exactly as the per-value path cleans them."""

from __future__ import annotations

import pytest

from revcycle.x12.core import Delimiters, X12Error
from revcycle.x12.writer import Composite, TransactionWriter


def _segments(*elements: object) -> list[str]:
    tx = TransactionWriter("837", "0001", "005010X222A1", Delimiters())
    tx.add("NM1", *elements)  # type: ignore[arg-type]
    return tx.finish()[1:-1]


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        (("IL", "1", "doe", "jane", None, None, None, "MI", "m1"), "NM1*IL*1*DOE*JANE****MI*M1"),
        (("IL", "1", "DOE", "", None), "NM1*IL*1*DOE"),  # trailing empties dropped
        (("IL", "1", "O*BRIEN~", "A:B^C"), "NM1*IL*1*OBRIEN*ABC"),  # delimiters removed
        (("IL", "1", "LINE\r\nBREAK"), "NM1*IL*1*LINEBREAK"),
        (("IL", "1", "GLUE\x1cINSIDE"), "NM1*IL*1*GLUE\x1cINSIDE"),  # not taken as a separator
        (("IL", Composite("hc", "99213", "25")), "NM1*IL*HC:99213:25"),
    ],
)
def test_values_are_cleaned_the_same_way_on_both_paths(
    elements: tuple[object, ...], expected: str
) -> None:
    assert _segments(*elements) == [expected]


def test_a_segment_without_data_is_refused() -> None:
    with pytest.raises(X12Error) as exc:
        _segments(None, "", None)
    assert exc.value.code == "x12.empty_segment"
