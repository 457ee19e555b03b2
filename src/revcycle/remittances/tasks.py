"""The worker's ``remittances.collect`` task: 835 files waiting at the clearinghouse are posted
and then acknowledged (docs/remittance-posting.md, "Collecting 835s from the clearinghouse").

A file is addressed to a practice by its interchange receiver (ISA08 = the practice's NPI, the
sender id of our 837P files). It is acknowledged only when every set in it was posted or was
already posted (``duplicate``); a file with a refused or quarantined set, or one that names no
practice of ours, stays at the clearinghouse, listed in the result for a person to look at (the
next run offers it again; posting it again changes nothing for the sets already posted).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth.principal import Principal
from revcycle.clearinghouse.base import ClearinghouseClient, ClearinghouseError, InboundFile
from revcycle.clearinghouse.factory import build_clearinghouse
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.practices.repository import PracticeRepository
from revcycle.remittances import claim_rules, service
from revcycle.x12.core import X12Error, X12Reader

log = logging.getLogger(__name__)
ERA_ACTOR: Principal = claim_rules.ERA_ACTOR
KINDS = ("835",)


@dataclass
class CollectResult:
    files: int = 0
    acknowledged: int = 0
    sets_posted: int = 0
    sets_duplicate: int = 0
    held: list[str] = field(default_factory=list)  # file ids left unacknowledged


def receiver_of(content: bytes) -> str | None:
    """ISA08 of the file's first interchange (None when the file does not start as X12)."""
    reader = X12Reader(content)
    try:
        for _ in reader:
            break
    except X12Error:
        return None
    return reader.interchange.receiver_id.strip() if reader.interchange else None


def _practice_id(target: Session | sessionmaker[Session], file: InboundFile) -> uuid.UUID | None:
    npi = receiver_of(file.content)
    if not npi:
        return None
    if isinstance(target, Session):
        practice = PracticeRepository(target).by_npi(npi)
        return practice.id if practice else None
    with unit_of_work(target) as s:
        practice = PracticeRepository(s).by_npi(npi)
        return practice.id if practice else None


def collect(
    target: Session | sessionmaker[Session],
    client: ClearinghouseClient,
    *,
    limit: int = 20,
) -> CollectResult:
    """Post every waiting 835 file (each set in a transaction of its own: a unit of work from a
    factory, a SAVEPOINT in a session), acknowledging the files that posted whole."""
    result = CollectResult()
    for file in client.poll_files(kinds=KINDS, limit=limit):
        if file.kind not in KINDS:
            continue
        result.files += 1
        practice_id = _practice_id(target, file)
        if practice_id is None:
            log.warning("835 file %s names no practice of ours: left for review", file.file_id)
            result.held.append(file.file_id)
            continue
        posted = service.post_file(target, ERA_ACTOR, file.content, practice_id=practice_id)
        result.sets_posted += sum(1 for s in posted.sets if s.outcome == "posted")
        result.sets_duplicate += sum(1 for s in posted.sets if s.outcome == "duplicate")
        if not posted.ok or not posted.sets:
            log.warning("835 file %s not posted whole: left for review", file.file_id)
            result.held.append(file.file_id)
            continue
        client.acknowledge_file(file.file_id)
        result.acknowledged += 1
    return result


def collect_run_once(
    factory: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,  # noqa: ARG001
) -> int:
    """835 sets posted this run."""
    client = build_clearinghouse(settings, factory)
    try:
        res = collect(factory, client, limit=settings.claims_poll_limit)
    except ClearinghouseError as exc:
        log.warning("835 files not collected: %s", exc.code)
        return 0
    return res.sets_posted
