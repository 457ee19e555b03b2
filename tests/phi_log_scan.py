"""No PHI in logs: every log record of the whole test run is scanned for patients' names.

A handler on the root logger sees every record the suite produces (revcycle at DEBUG, everything
else at INFO: that includes httpx's "HTTP Request: GET <url>" lines, so PHI in a URL is caught
too, URL-decoded; Python warnings are routed into logging). Each record is formatted with its
exception and searched for the full names of the demo practice's patients (every first name x
last name the demo seed can draw) and the test factories' patients. A hit fails the test during
which it was logged, with the logger name and the text, so a leak is pinned to its code path.

SQL echo stays off, as it must in production (settings refuse ``db_echo`` there): SQLAlchemy's
engine log would print bound parameters by design.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterator
from urllib.parse import unquote_plus

import pytest

from revcycle.demo.seed import FEMALE_NAMES, LAST_NAMES, MALE_NAMES

# Names the test factories and tests give patients (tests/factories/patients.py and friends).
TEST_FIRST_NAMES = ("Jordan", "Sam", "Alicia", "Bobby")
TEST_LAST_NAMES = ("Casey", "Oldversion")


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


FIRST = _alternation(FEMALE_NAMES + MALE_NAMES + TEST_FIRST_NAMES)
LAST = _alternation(LAST_NAMES + TEST_LAST_NAMES)
# "First Last" or "Last, First", as names are printed on statements and lists.
PHI_NAME = re.compile(rf"\b(?:(?:{FIRST})\s+(?:{LAST})|(?:{LAST}),\s*(?:{FIRST}))\b")


class Scanner(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.findings: list[str] = []
        self.records = 0
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            text = self.format(record)
        except Exception as exc:  # a record that cannot even be formatted is a bug too
            text = f"{record.name}: unformattable record ({type(exc).__name__})"
        match = PHI_NAME.search(text) or PHI_NAME.search(unquote_plus(text))
        if match:
            self.findings.append(f"{record.name}: {match.group(0)!r} in {text[:300]!r}")

    def take(self) -> list[str]:
        found, self.findings = self.findings, []
        return found


SCANNER = Scanner()


def pytest_configure(config: pytest.Config) -> None:  # noqa: ARG001
    root = logging.getLogger()
    root.addHandler(SCANNER)
    root.setLevel(logging.INFO)
    logging.getLogger("revcycle").setLevel(logging.DEBUG)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    logging.captureWarnings(True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    if call.when != "teardown":
        return
    found = SCANNER.take()
    if found and "phi_log_findings" not in getattr(item, "fixturenames", ()):
        report = outcome.get_result()
        report.outcome = "failed"
        report.longrepr = "PHI in the logs during this test:\n" + "\n".join(found)


@pytest.fixture
def phi_log_findings() -> Iterator[Scanner]:
    """For the scanner's own tests: the findings are theirs to inspect, not a failure."""
    SCANNER.take()
    yield SCANNER
    SCANNER.take()
