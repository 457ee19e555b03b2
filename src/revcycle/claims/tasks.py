"""Worker tasks of claim submission (docs/claim-submission.md, "Worker").

* ``claims.submit``: first batches stored but never confirmed sent (a crash or timeout after
  their transaction committed) are sent again with their stored bytes and key; then every
  practice's scrubbed claims are sent, one batch per practice per run. Several workers may run
  it: claims are taken with ``SKIP LOCKED`` and the clearinghouse dedups a resend by its key.
* ``claims.acknowledgements``: 999 and 277CA files polled, applied and acknowledged.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth.principal import Principal
from revcycle.claims import submission
from revcycle.clearinghouse.base import ClearinghouseError
from revcycle.clearinghouse.factory import build_clearinghouse
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError

log = logging.getLogger(__name__)
WORKER = Principal.system(username="worker")


def submit_run_once(
    factory: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,  # noqa: ARG001
) -> int:
    """Claims sent (and batches resent) this run."""
    client = build_clearinghouse(settings, factory)
    done = len(submission.resend_unsent(factory, client, WORKER))
    with unit_of_work(factory) as s:
        practice_ids = submission.practices_with_scrubbed_claims(s)
    for practice_id in practice_ids:
        try:
            res = submission.submit_claims(
                factory, WORKER, client, practice_id=practice_id, settings=settings
            )
        except DomainError as exc:  # the practice cannot bill (e.g. no ZIP+4): next practice
            log.warning("claims of practice %s not submitted: %s", practice_id, exc.code)
            continue
        done += len(res.claim_ids)
    return done


def acknowledgements_run_once(
    factory: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,  # noqa: ARG001
) -> int:
    """Acknowledgement files applied this run."""
    client = build_clearinghouse(settings, factory)
    try:
        res = submission.process_inbound(factory, client, limit=settings.claims_poll_limit)
    except ClearinghouseError as exc:
        log.warning("acknowledgements not polled: %s", exc.code)
        return 0
    return res.acknowledged
