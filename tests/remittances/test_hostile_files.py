"""100 MB of garbage (issue #6, "Bad input"): random bytes, a segment that never ends, and an ST
followed by 100 MB of segments and no SE are each refused with the segment and its position,
read with bounded memory, and post nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from revcycle.remittances import service
from revcycle.x12.core import MAX_SET_SEGMENTS, X12Error
from revcycle.x12.remittance import Reader835
from tests.factories.claims import make_world
from tests.factories.practices import SYSTEM
from tests.remittances.test_posting import snapshot

SIZE = 100 * 1024 * 1024
HEAD = (
    b"ISA*00*          *00*          *ZZ*PAYER          *ZZ*PROVIDER       *260105*1200*^*00501*"
    b"000000001*0*P*:~GS*HP*PAYER*PROVIDER*20260105*1200*1*X*005010X221A1~ST*835*0001~"
)


def _write(path: Path, head: bytes, filler: bytes) -> Path:
    with path.open("wb") as fh:
        fh.write(head)
        block = filler * (1024 * 1024 // len(filler))
        written = len(head)
        while written < SIZE:
            fh.write(block)
            written += len(block)
    return path


@pytest.fixture(scope="module")
def garbage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("garbage")
    random_file = d / "random.bin"
    with random_file.open("wb") as fh:
        for _ in range(100):
            fh.write(os.urandom(1024 * 1024))
    return {
        "random": random_file,
        "endless_segment": _write(d / "endless.x12", HEAD + b"BPR*", b"9" * 64),
        "endless_set": _write(d / "no_se.x12", HEAD, b"ZZZ*" + b"A" * 59 + b"~"),
    }


EXPECTED = {
    "random": ("x12.not_x12", 1),
    "endless_segment": ("x12.segment_too_long", 4),
    "endless_set": ("x12.set_too_long", MAX_SET_SEGMENTS + 3),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_garbage_is_refused_with_the_segment_and_its_position(
    garbage: dict[str, Path], kind: str
) -> None:
    assert garbage[kind].stat().st_size >= SIZE
    with garbage[kind].open("rb") as fh, pytest.raises(X12Error) as exc:
        list(Reader835(fh))
    assert (exc.value.code, exc.value.position) == EXPECTED[kind]
    assert f"at position {EXPECTED[kind][1]})" in exc.value.message


def _peak_mb(path: Path) -> tuple[str, int]:
    """Read ``path`` in a child process: the error code and the peak RSS of that reading."""
    code = (
        "import resource, sys\n"
        "from revcycle.x12.core import X12Error\n"
        "from revcycle.x12.remittance import Reader835\n"
        "try:\n"
        "    list(Reader835(open(sys.argv[1], 'rb')))\n"
        "except X12Error as e:\n"
        "    print(e.code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    got_code, peak = out.stdout.split()
    return got_code, int(peak)


def test_an_endless_set_is_read_with_memory_independent_of_the_file_size(
    garbage: dict[str, Path], tmp_path: Path
) -> None:
    """The reader stops at MAX_SET_SEGMENTS: reading 100 MB takes no more memory than reading
    the 30 MB that reach the limit (without it, the 100 MB took over 700 MB, about 3.5 times
    the 30 MB)."""
    small = tmp_path / "no_se_30mb.x12"
    with garbage["endless_set"].open("rb") as src, small.open("wb") as dst:
        dst.write(src.read(30 * 1024 * 1024))
    code_small, peak_small = _peak_mb(small)
    code_big, peak_big = _peak_mb(garbage["endless_set"])
    assert (code_small, code_big) == ("x12.set_too_long", "x12.set_too_long")
    assert peak_big < peak_small * 1.25


def test_posting_garbage_writes_nothing(session: Session, garbage: dict[str, Path]) -> None:
    w = make_world(session)
    session.commit()
    before = snapshot(session)
    for kind in sorted(EXPECTED):
        result = service.post_file(session, SYSTEM, garbage[kind], practice_id=w.practice.id)
        assert result.sets == []
        assert len(result.errors) == 1
        assert f"at position {EXPECTED[kind][1]})" in result.errors[0]
    assert snapshot(session) == before
