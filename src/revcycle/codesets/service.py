"""Loading ICD-10-CM releases and deciding whether a diagnosis code can be billed on a date.

A release is loaded once: its file's SHA-256 makes a re-run of the same load a no-op, and the
UNIQUE (system, label) / (system, effective_from) constraints settle concurrent loads. The codes
of a release are inserted in batches inside the caller's transaction, so a failed load leaves
nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.codesets import icd10cm, repository
from revcycle.codesets.errors import CodeUnknown, NoRelease, ReleaseConflict, ReleaseFileInvalid
from revcycle.codesets.models import CodeRelease
from revcycle.kit import codes

BATCH = 5_000


@dataclass(frozen=True)
class LoadResult:
    release: CodeRelease
    created: bool  # False: this very file was already loaded under this label


@dataclass(frozen=True)
class DiagnosisCheck:
    """The verdict on one diagnosis code for a date of service (``ok`` or a reason code)."""

    code: str  # dotted, as entered after normalising
    ok: bool
    reason: str | None  # None | format | unknown | not_billable | no_release
    description: str | None
    release: str | None
    message: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_icd10cm(
    session: Session, actor: Principal, path: Path, *, label: str, effective_from: dt.date
) -> LoadResult:
    actor.require(Action.CATALOG_WRITE)
    if not path.is_file():
        raise ReleaseFileInvalid(f"{path.name}: no such file")
    sha = _sha256(path)
    existing = repository.release_by_label(session, repository.ICD10CM, label)
    if existing is not None:
        if existing.source_sha256 == sha and existing.effective_from == effective_from:
            return LoadResult(existing, created=False)
        raise ReleaseConflict(
            f"ICD-10-CM release {label!r} is already loaded from a different file or date",
            label=label,
        )
    clash = repository.release_by_effective(session, repository.ICD10CM, effective_from)
    if clash is not None:
        raise ReleaseConflict(
            f"ICD-10-CM release {clash.label!r} already takes effect on {effective_from}",
            label=clash.label,
        )
    try:
        version = icd10cm.read_version(path)
        release = CodeRelease(
            system=repository.ICD10CM,
            label=label,
            effective_from=effective_from,
            source_version=version[:20],
            source_sha256=sha,
            code_count=0,
            billable_count=0,
        )
        session.add(release)
        session.flush()
        stream = icd10cm.rows(path)
        total = billable = 0
        while batch := list(islice(stream, BATCH)):
            repository.insert_icd10cm(
                session, release.id, ((r.code, r.description, r.billable) for r in batch)
            )
            total += len(batch)
            billable += sum(1 for r in batch if r.billable)
    except icd10cm.TabularError as exc:
        raise ReleaseFileInvalid(f"{path.name}: {exc}") from None
    if billable == 0:
        raise ReleaseFileInvalid(f"{path.name}: no billable codes found")
    release.code_count = total
    release.billable_count = billable
    audit.record(
        session,
        actor,
        "codeset.release_loaded",
        object_type="code_release",
        object_id=release.id,
        practice_id=None,
        detail={
            "system": repository.ICD10CM,
            "label": label,
            "effective_from": effective_from.isoformat(),
            "codes": total,
            "billable": billable,
            "sha256": sha,
        },
    )
    session.flush()
    return LoadResult(release, created=True)


def check_diagnosis(session: Session, code: str, on: dt.date) -> DiagnosisCheck:
    """Whether ``code`` is a billable ICD-10-CM code in the release in force on ``on``."""
    try:
        shown = codes.icd10cm(code)
    except ValueError as exc:
        return DiagnosisCheck(code.strip(), False, "format", None, None, str(exc))
    release = repository.release_on(session, repository.ICD10CM, on)
    if release is None:
        return DiagnosisCheck(
            shown,
            False,
            "no_release",
            None,
            None,
            f"no ICD-10-CM release is loaded for {on} (revcycle codes load-icd10cm)",
        )
    row = repository.icd10cm_code(session, release.id, icd10cm.undotted(shown))
    if row is None:
        return DiagnosisCheck(
            shown,
            False,
            "unknown",
            None,
            release.label,
            f"{shown} is not an ICD-10-CM code in release {release.label}",
        )
    if not row.billable:
        more = repository.icd10cm_children(session, release.id, row.code, 3)
        hint = ", ".join(icd10cm.dotted(c.code) for c in more)
        return DiagnosisCheck(
            shown,
            False,
            "not_billable",
            row.description,
            release.label,
            f"{shown} is a header, not a billable code: more characters are needed"
            + (f" (e.g. {hint})" if hint else ""),
        )
    return DiagnosisCheck(shown, True, None, row.description, release.label, "billable")


def lookup_icd10cm(session: Session, actor: Principal, code: str, on: dt.date) -> DiagnosisCheck:
    actor.require(Action.CATALOG_READ)
    verdict = check_diagnosis(session, code, on)
    if verdict.reason == "no_release":
        raise NoRelease(verdict.message)
    if verdict.reason in {"unknown", "format"}:
        raise CodeUnknown(verdict.message, diagnosis=verdict.code)
    return verdict
