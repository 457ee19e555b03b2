"""ICD-10-CM releases: the tabular-list reader, loading, and billable-code checks on a date."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.codesets import icd10cm, service
from revcycle.codesets.errors import ReleaseConflict, ReleaseFileInvalid
from revcycle.codesets.models import CodeRelease, Icd10cmCode
from revcycle.config import get_settings
from revcycle.errors import Forbidden
from tests.factories.auth import auth_header, make_user, principal
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice

# A miniature tabular list with the two rules that matter: only leaves are codes, and a
# <sevenChrDef> applies to every leaf beneath it (the nearest definition wins), padded with X.
TABULAR = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.tabular>
  <version>2026</version>
  <chapter><name>4</name><desc>Endocrine (E00-E89)</desc>
    <section id="E08-E13"><desc>Diabetes mellitus (E08-E13)</desc>
      <diag><name>E11</name><desc>Type 2 diabetes mellitus</desc>
        <diag><name>E11.6</name>
          <desc>Type 2 diabetes mellitus with other specified complications</desc>
          <diag><name>E11.65</name><desc>Type 2 diabetes mellitus with hyperglycemia</desc></diag>
        </diag>
        <diag><name>E11.9</name><desc>Type 2 diabetes mellitus without complications</desc></diag>
      </diag>
    </section>
  </chapter>
  <chapter><name>19</name><desc>Injury (S00-T88)</desc>
    <section id="S50-S59"><desc>Injuries to the elbow and forearm (S50-S59)</desc>
      <diag><name>S52</name><desc>Fracture of forearm</desc>
        <sevenChrDef>
          <extension char="A">initial encounter for closed fracture</extension>
          <extension char="D">subsequent encounter for closed fracture
            with routine healing</extension>
        </sevenChrDef>
        <diag><name>S52.5</name><desc>Fracture of lower end of radius</desc>
          <diag><name>S52.52</name><desc>Torus fracture of lower end of radius</desc>
            <sevenChrDef>
              <extension char="A">initial encounter for closed fracture</extension>
              <extension char="S">sequela</extension>
            </sevenChrDef>
            <diag><name>S52.521</name>
              <desc>Torus fracture of lower end of right radius</desc></diag>
          </diag>
          <diag><name>S52.59</name><desc>Other fractures of lower end of radius</desc></diag>
        </diag>
      </diag>
      <diag><name>T36.0</name><desc>Poisoning by penicillins</desc>
        <sevenChrDef><extension char="A">initial encounter</extension></sevenChrDef>
      </diag>
    </section>
  </chapter>
</ICD10CM.tabular>
"""

EXPECTED = [
    ("E1165", "Type 2 diabetes mellitus with hyperglycemia", True),
    ("E116", "Type 2 diabetes mellitus with other specified complications", False),
    ("E119", "Type 2 diabetes mellitus without complications", True),
    ("E11", "Type 2 diabetes mellitus", False),
    ("S52521", "Torus fracture of lower end of right radius", False),
    (
        "S52521A",
        "Torus fracture of lower end of right radius, initial encounter for closed fracture",
        True,
    ),
    ("S52521S", "Torus fracture of lower end of right radius, sequela", True),
    ("S5252", "Torus fracture of lower end of radius", False),
    ("S5259", "Other fractures of lower end of radius", False),
    (
        "S5259XA",
        "Other fractures of lower end of radius, initial encounter for closed fracture",
        True,
    ),
    (
        "S5259XD",
        "Other fractures of lower end of radius, subsequent encounter for closed fracture with "
        "routine healing",
        True,
    ),
    ("S525", "Fracture of lower end of radius", False),
    ("S52", "Fracture of forearm", False),
    ("T360", "Poisoning by penicillins", False),
    ("T360XXA", "Poisoning by penicillins, initial encounter", True),
]

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "codes"
APRIL_2026 = CORPUS / "icd10c-tabular-April-1-2026.xml.gz"


@pytest.fixture
def tabular(tmp_path: Path) -> Path:
    path = tmp_path / "icd10cm-tabular-2026.xml"
    path.write_text(TABULAR, encoding="utf-8")
    return path


def _rows(s: Session) -> tuple[int, int, int]:
    audit.flush_pending(s)
    return (
        s.scalar(select(func.count()).select_from(CodeRelease)) or 0,
        s.scalar(select(func.count()).select_from(Icd10cmCode)) or 0,
        s.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


# --- the reader (no database) -------------------------------------------------------------


def test_reader_yields_headers_and_billable_codes_with_seventh_characters(tabular: Path) -> None:
    got = [(r.code, r.description, r.billable) for r in icd10cm.rows(tabular)]
    assert got == EXPECTED
    assert icd10cm.read_version(tabular) == "2026"


def test_reader_reads_gzip_files_the_same(tabular: Path, tmp_path: Path) -> None:
    gz = tmp_path / "t.xml.gz"
    gz.write_bytes(gzip.compress(tabular.read_bytes()))
    assert list(icd10cm.rows(gz)) == list(icd10cm.rows(tabular))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<ICD10CM.tabular><version>2026</version><chapter><diag>", "not readable"),
        ("<other/>", "root element is <other>"),
        (
            "<ICD10CM.tabular><chapter><diag><desc>x</desc></diag></chapter></ICD10CM.tabular>",
            "without <name>",
        ),
        ("", "not readable"),
    ],
)
def test_reader_refuses_damaged_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(icd10cm.TabularError, match=message):
        list(icd10cm.rows(path))


def test_dotted_and_undotted() -> None:
    assert icd10cm.dotted("S52521A") == "S52.521A"
    assert icd10cm.dotted("E11") == "E11"
    assert icd10cm.undotted(" s52.521a ") == "S52521A"


# --- loading and checking (SQLite and PostgreSQL) ----------------------------------------------


def test_load_then_check_codes_on_dates_of_service(session: Session, tabular: Path) -> None:
    result = service.load_icd10cm(
        session, SYSTEM, tabular, label="2026-04", effective_from=dt.date(2026, 4, 1)
    )
    assert result.created
    r = result.release
    assert (r.system, r.label, r.source_version, r.code_count, r.billable_count) == (
        "icd10cm",
        "2026-04",
        "2026",
        15,
        7,
    )
    audit.flush_pending(session)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "codeset.release_loaded")
    ).all()
    assert [(e.object_id, e.practice_id) for e in events] == [(str(r.id), None)]

    on = dt.date(2026, 5, 2)
    ok = service.check_diagnosis(session, "s52.521a", on)
    assert (ok.code, ok.ok, ok.reason, ok.release) == ("S52.521A", True, None, "2026-04")
    assert ok.description == (
        "Torus fracture of lower end of right radius, initial encounter for closed fracture"
    )
    assert service.check_diagnosis(session, "E119", on).ok
    header = service.check_diagnosis(session, "E11", on)
    assert (header.ok, header.reason) == (False, "not_billable")
    assert header.message == (
        "E11 is a header, not a billable code: more characters are needed (e.g. E11.65, E11.9)"
    )
    seventh_missing = service.check_diagnosis(session, "S52.521", on)
    assert (seventh_missing.ok, seventh_missing.reason) == (False, "not_billable")
    assert "S52.521A, S52.521S" in seventh_missing.message
    unknown = service.check_diagnosis(session, "E11.99", on)
    assert (unknown.ok, unknown.reason, unknown.message) == (
        False,
        "unknown",
        "E11.99 is not an ICD-10-CM code in release 2026-04",
    )
    bad = service.check_diagnosis(session, "11.9", on)
    assert (bad.ok, bad.reason) == (False, "format")
    before = service.check_diagnosis(session, "E11.9", dt.date(2026, 3, 31))
    assert (before.ok, before.reason) == (False, "no_release")


def test_release_in_force_is_the_latest_effective_on_the_date(
    session: Session, tabular: Path, tmp_path: Path
) -> None:
    service.load_icd10cm(
        session, SYSTEM, tabular, label="2026-04", effective_from=dt.date(2026, 4, 1)
    )
    newer = tmp_path / "fy2027.xml"
    newer.write_text(
        TABULAR.replace("<version>2026</version>", "<version>2027</version>").replace(
            "<diag><name>E11.9</name><desc>Type 2 diabetes mellitus without complications</desc>"
            "</diag>",
            "",
        )
    )
    service.load_icd10cm(session, SYSTEM, newer, label="2027", effective_from=dt.date(2026, 10, 1))
    assert service.check_diagnosis(session, "E11.9", dt.date(2026, 9, 30)).ok
    gone = service.check_diagnosis(session, "E11.9", dt.date(2026, 10, 1))
    assert (gone.ok, gone.reason, gone.release) == (False, "unknown", "2027")


def test_loading_the_same_file_again_changes_nothing(session: Session, tabular: Path) -> None:
    first = service.load_icd10cm(
        session, SYSTEM, tabular, label="2026-04", effective_from=dt.date(2026, 4, 1)
    )
    before = _rows(session)
    again = service.load_icd10cm(
        session, SYSTEM, tabular, label="2026-04", effective_from=dt.date(2026, 4, 1)
    )
    assert (again.created, again.release.id) == (False, first.release.id)
    assert _rows(session) == before


def test_refused_loads_write_nothing(session: Session, tabular: Path, tmp_path: Path) -> None:
    service.load_icd10cm(
        session, SYSTEM, tabular, label="2026-04", effective_from=dt.date(2026, 4, 1)
    )
    before = _rows(session)
    other = tmp_path / "other.xml"
    other.write_text(TABULAR.replace("hyperglycemia", "hyperglycaemia"))
    with pytest.raises(ReleaseConflict, match="different file or date"):
        service.load_icd10cm(
            session, SYSTEM, other, label="2026-04", effective_from=dt.date(2026, 4, 1)
        )
    with pytest.raises(ReleaseConflict, match="already takes effect on 2026-04-01"):
        service.load_icd10cm(
            session, SYSTEM, other, label="2026-04b", effective_from=dt.date(2026, 4, 1)
        )
    assert _rows(session) == before
    broken = tmp_path / "broken.xml"
    broken.write_text(TABULAR[: len(TABULAR) // 2])
    # The CLI's unit of work rolls a failed load back whole: here, a savepoint stands in for it.
    sp = session.begin_nested()
    with pytest.raises(ReleaseFileInvalid, match="broken.xml: not readable"):
        service.load_icd10cm(
            session, SYSTEM, broken, label="2027", effective_from=dt.date(2026, 10, 1)
        )
    sp.rollback()
    with pytest.raises(ReleaseFileInvalid, match="no such file"):
        service.load_icd10cm(
            session, SYSTEM, tmp_path / "missing.xml", label="x", effective_from=dt.date(2027, 1, 1)
        )
    assert _rows(session) == before


def test_only_staff_who_maintain_the_catalog_may_load(session: Session, tabular: Path) -> None:
    practice = make_practice(session)
    clerk = principal(session, make_user(session, "insurance_specialist", practices=[practice]))
    before = _rows(session)
    with pytest.raises(Forbidden):
        service.load_icd10cm(
            session, clerk, tabular, label="2026-04", effective_from=dt.date(2026, 4, 1)
        )
    assert _rows(session) == before


def test_lookup_route(session: Session, client: TestClient, tabular: Path) -> None:
    service.load_icd10cm(
        session, SYSTEM, tabular, label="2026-04", effective_from=dt.date(2026, 4, 1)
    )
    practice = make_practice(session)
    staff = auth_header(session, make_user(session, "billing_staff", practices=[practice]))
    session.commit()
    r = client.get("/api/v1/code-sets/icd10cm/S52.521A?on=2026-05-01", headers=staff)
    assert (r.status_code, r.json()) == (
        200,
        {
            "code": "S52.521A",
            "billable": True,
            "description": "Torus fracture of lower end of right radius, initial encounter for "
            "closed fracture",
            "release": "2026-04",
            "message": "billable",
        },
    )
    r = client.get("/api/v1/code-sets/icd10cm/T36.0?on=2026-05-01", headers=staff)
    assert (r.status_code, r.json()["billable"]) == (200, False)
    assert r.json()["message"].endswith("(e.g. T36.0XXA)")
    r = client.get("/api/v1/code-sets/icd10cm/E11.99?on=2026-05-01", headers=staff)
    assert (r.status_code, r.json()["code"]) == (404, "codeset.code_unknown")
    r = client.get("/api/v1/code-sets/icd10cm/E11.9?on=2025-05-01", headers=staff)
    assert (r.status_code, r.json()["code"]) == (404, "codeset.no_release")
    r = client.get("/api/v1/code-sets/icd10cm/E11.9?on=yesterday", headers=staff)
    assert r.status_code == 422
    patient = make_patient(session, practice)
    own = auth_header(session, make_user(session, "patient", patient=patient))
    session.commit()
    r = client.get("/api/v1/code-sets/icd10cm/E11.9?on=2026-05-01", headers=own)
    assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden")


# --- the official April 2026 release (../shared/corpus) ---------------------------------------


@pytest.mark.skipif(
    not APRIL_2026.is_file(),
    reason="the shared corpus (../shared/corpus/codes/) is not next to this checkout",
)
def test_official_april_2026_release(session: Session) -> None:
    result = service.load_icd10cm(
        session, SYSTEM, APRIL_2026, label="2026-04", effective_from=dt.date(2026, 4, 1)
    )
    r = result.release
    assert (r.source_version, r.code_count, r.billable_count) == ("2026", 98262, 74795)
    on = dt.date(2026, 6, 1)
    for code, desc in [
        ("E11.9", "Type 2 diabetes mellitus without complications"),
        ("U07.1", "COVID-19"),
        ("O32.1XX0", "Maternal care for breech presentation, not applicable or unspecified"),
        ("M1A.0110", "Idiopathic chronic gout, right shoulder, without tophus (tophi)"),
        ("T36.0X1A", "Poisoning by penicillins, accidental (unintentional), initial encounter"),
        ("W56.01XA", "Bitten by dolphin, initial encounter"),
    ]:
        v = service.check_diagnosis(session, code, on)
        assert (v.ok, v.description) == (True, desc), code
    for code in ["E11", "S52.521", "M1A.011", "QA0"]:
        assert service.check_diagnosis(session, code, on).reason == "not_billable", code


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", committed_db[0])
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


def test_cli_load_lookup_and_list(cli: CliRunner, tabular: Path) -> None:
    load = ["codes", "load-icd10cm", str(tabular), "--label", "2026-04"]
    r = cli.invoke(app, [*load, "--effective-from", "2026-04-01"])
    assert (r.exit_code, r.output) == (
        0,
        "ICD-10-CM 2026-04 (file version 2026, effective 2026-04-01) loaded: 15 codes, "
        "7 billable\n",
    )
    r = cli.invoke(app, [*load, "--effective-from", "2026-04-01"])
    assert r.exit_code == 0
    assert "already loaded: 15 codes" in r.output
    r = cli.invoke(app, [*load, "--effective-from", "2026-05-01"])
    assert r.exit_code == 1
    assert "error [codeset.release_conflict]" in r.stderr
    r = cli.invoke(app, [*load, "--effective-from", "April"])
    assert r.exit_code == 2
    r = cli.invoke(app, ["codes", "icd10cm", "e11.65", "--on", "2026-06-01"])
    assert (r.exit_code, r.output) == (
        0,
        "E11.65: Type 2 diabetes mellitus with hyperglycemia [billable]\n",
    )
    r = cli.invoke(app, ["codes", "icd10cm", "E11", "--on", "2026-06-01"])
    assert r.exit_code == 1
    assert "header, not a billable code" in r.output
    r = cli.invoke(app, ["codes", "releases"])
    assert r.output == "2026-04\teffective 2026-04-01\t15 codes\t7 billable\n"
