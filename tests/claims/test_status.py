"""276/277 claim status inquiries: the answer (or the failure) is recorded on the claim as a
``status_inquiry`` event; a claim never sent is refused with nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.claims import states, status
from revcycle.claims.models import ClaimEvent
from revcycle.clearinghouse.base import ClearinghouseTimeout
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from tests.factories.claims import make_claim, make_world
from tests.factories.practices import SYSTEM


class _Silent(SimulatorClearinghouse):
    """The simulator whose real-time channel times out (a fault injected for this test)."""

    def claim_status(self, x276: str, *, timeout_seconds: float) -> str:
        raise ClearinghouseTimeout("no answer within the timeout")


def _sent_claim(factory: sessionmaker[Session]) -> object:
    with unit_of_work(factory) as s:
        w = make_world(s)
        claim = make_claim(s, w).claim
        for target in ("scrubbed", "submitted"):
            states.transition(s, claim, target, actor=SYSTEM, actor_kind="system")
        return claim.id


def _events(factory: sessionmaker[Session], kind: str) -> list[ClaimEvent]:
    with unit_of_work(factory) as s:
        return list(s.scalars(select(ClaimEvent).where(ClaimEvent.kind == kind)))


def test_unknown_to_the_payer_is_recorded(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    claim_id = _sent_claim(factory)
    view = status.inquire_status(factory, SimulatorClearinghouse(factory), SYSTEM, claim_id)
    assert view.event.kind == "status_inquiry"
    assert view.event.reason == "A4 acknowledged: not found"
    assert view.event.detail["statuses"] == [{"category": "A4", "code": "35", "entity": ""}]
    assert view.event.detail["trace_number"] == "RC00000001-1"
    assert view.claim.status == "submitted"  # informational: the claim does not move


def test_a_timeout_is_recorded_and_reported(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    claim_id = _sent_claim(factory)
    with pytest.raises(DomainError) as exc:
        status.inquire_status(factory, _Silent(factory), SYSTEM, claim_id)
    assert (exc.value.code, exc.value.status) == ("clearinghouse.timeout", 502)
    [event] = _events(factory, "status_inquiry")
    assert (event.reason, event.detail["clearinghouse_error"]) == (
        "no answer: clearinghouse.timeout",
        "clearinghouse.timeout",
    )


def test_a_claim_never_sent_is_refused(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        claim_id = make_claim(s, make_world(s)).claim.id
    with pytest.raises(DomainError) as exc:
        status.inquire_status(factory, SimulatorClearinghouse(factory), SYSTEM, claim_id)
    assert exc.value.code == "claim.illegal_transition"
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(ClaimEvent)) == 1  # "created" only
