"""The appeal letter: printable HTML (Jinja2, autoescaped, no external resources) and the same
page as PDF through WeasyPrint, built from the claim, the denial facts with our descriptions of
the codes, and the staff's argument. Reading it is a PHI read (audited); nothing of it is
logged."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from revcycle.appeals import service
from revcycle.appeals.models import Appeal, AppealAttachment
from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.claims import denials
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.insurance.models import Coverage, Payer
from revcycle.kit.clock import today
from revcycle.money import Money
from revcycle.patients.models import Patient
from revcycle.practices.models import Practice

_env = Environment(
    loader=PackageLoader("revcycle.appeals", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
LEVEL_NAMES = {1: "First-level", 2: "Second-level"}


@dataclass(frozen=True)
class LetterView:
    appeal: Appeal
    claim: Claim
    denial: denials.Denial
    practice: Practice
    payer: Payer
    patient: Patient
    member_id: str
    attachments: list[AppealAttachment]
    written_on: dt.date


def letter_view(session: Session, actor: Principal, appeal_id: uuid.UUID) -> LetterView:
    appeal = service.access_appeal(session, actor, appeal_id)
    audit.record_read(
        session,
        actor,
        "appeal:letter",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
    )
    return build(session, appeal)


def build(session: Session, appeal: Appeal) -> LetterView:
    claim = session.get(Claim, appeal.claim_id)
    event = session.get(ClaimEvent, appeal.denial_event_id)
    payer = session.get(Payer, appeal.payer_id)
    practice = session.get(Practice, appeal.practice_id)
    patient = session.get(Patient, appeal.patient_id)
    assert claim and event and payer and practice and patient
    coverage = session.get(Coverage, claim.coverage_id)
    assert coverage is not None
    return LetterView(
        appeal=appeal,
        claim=claim,
        denial=denials.from_event(claim, event, payer, as_of=appeal.created_at.date()),
        practice=practice,
        payer=payer,
        patient=patient,
        member_id=coverage.member_id,
        attachments=service.view(session, appeal).attachments,
        written_on=appeal.sent_on or today(),
    )


def html(view: LetterView) -> str:
    def money(minor: int) -> str:
        return str(Money(minor, view.claim.currency))

    paragraphs = [p.strip() for p in view.appeal.argument.split("\n\n") if p.strip()]
    return _env.get_template("letter.html").render(
        l=view,
        level_name=LEVEL_NAMES[view.appeal.level],
        paragraphs=paragraphs,
        money=money,
    )


def _no_fetch(url: str, *_args: object, **_kwargs: object) -> dict[str, object]:
    raise ValueError(f"appeal letters load no external resources ({url[:40]})")


def pdf(page: str) -> bytes:
    import weasyprint  # imported on use: it loads Pango, which only this needs

    out: bytes = weasyprint.HTML(string=page, url_fetcher=_no_fetch).write_pdf()
    return out
