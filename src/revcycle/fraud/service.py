"""The fraud review queue and rule settings.

Deciding needs ``fraud:review`` (admins), never by the user whose transaction it is
(``auth.policies.require_distinct_approver``). A ``held`` review is a refund that was not
executed: ``approve`` executes it in the same transaction with every refund check repeated under
the refund's locks (it may no longer fit: 409, the review stays held), ``reject`` closes it and
nothing moves. An ``open`` review (a flag, or a blocked attempt) is ``dismiss``-ed (false
positive) or ``confirm``-ed. The review row is locked first, so concurrent decisions decide once:
a held refund executes exactly once. Lock order: review -> patient -> payment -> invoices.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth import policies
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import InvalidInput, out_of_scope
from revcycle.fraud import errors
from revcycle.fraud.models import FraudReview
from revcycle.fraud.repository import FraudRepository
from revcycle.fraud.rules import BY_CODE, PERIODIC, RULES, Effective, RuleAction, effective
from revcycle.fraud.schemas import Decision, ReviewDecide, ReviewStatus, RuleUpdate
from revcycle.kit.clock import utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.money import Money
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository
from revcycle.refunds import service as refunds_service
from revcycle.refunds.models import Refund
from revcycle.refunds.repository import RefundRepository
from revcycle.refunds.schemas import RefundCreate

ALLOWED = {
    ReviewStatus.HELD: {Decision.APPROVE, Decision.REJECT},
    ReviewStatus.OPEN: {Decision.DISMISS, Decision.CONFIRM},
}
OUTCOME = {
    Decision.APPROVE: ReviewStatus.APPROVED,
    Decision.REJECT: ReviewStatus.REJECTED,
    Decision.DISMISS: ReviewStatus.DISMISSED,
    Decision.CONFIRM: ReviewStatus.CONFIRMED,
}


def _not_found() -> errors.ReviewNotFound:
    return errors.ReviewNotFound("No such fraud review")


def _access(
    session: Session, actor: Principal, review_id: uuid.UUID, *, for_update: bool
) -> FraudReview:
    repo = FraudRepository(session)
    review = repo.get_for_update(review_id) if for_update else repo.get(review_id)
    if review is None:
        raise _not_found()
    if not actor.sees_practice(review.practice_id):
        raise out_of_scope(_not_found(), "fraud_review", review.id)
    return review


# --- the queue -----------------------------------------------------------------------------------


def list_reviews(
    session: Session,
    actor: Principal,
    *,
    status: ReviewStatus | None,
    rule: str | None,
    cursor: str | None,
    limit: int,
) -> Page[FraudReview]:
    actor.require(Action.FRAUD_READ)
    rows = list(
        FraudRepository(session).search(
            practice_ids=actor.practice_ids,
            status=status.value if status else None,
            rule_code=rule,
            before=parse_cursor_uuid(after_id(cursor)),
            limit=min(limit, MAX_LIMIT) + 1,
        )
    )
    page = page_by_id(rows, min(limit, MAX_LIMIT))
    audit.record_list_read(
        session,
        actor,
        "fraud:list",
        ((r.practice_id, r.patient_id) for r in page.items if r.patient_id is not None),
    )
    return page


def related(session: Session, review: FraudReview) -> tuple[Payment | None, Refund | None]:
    """The payment concerned and the refund flagged or made by an approval (if any)."""
    payment = PaymentRepository(session).get(review.payment_id) if review.payment_id else None
    refund_id = review.result_id or (review.subject_id if review.subject_type == "refund" else None)
    refund = RefundRepository(session).get(refund_id) if refund_id else None
    return payment, refund


def get_review(session: Session, actor: Principal, review_id: uuid.UUID) -> FraudReview:
    actor.require(Action.FRAUD_READ)
    review = _access(session, actor, review_id, for_update=False)
    audit.record_read(
        session,
        actor,
        "fraud:read",
        object_type="fraud_review",
        object_id=review.id,
        practice_id=review.practice_id,
    )
    return review


def _execute_held_refund(session: Session, actor: Principal, review: FraudReview) -> uuid.UUID:
    """Run the refund exactly as it was asked for, every refund check repeated under its locks.
    The fraud rules are not run again: this reviewer's approval is the answer to them."""
    assert review.payload is not None and review.payment_id is not None
    data = RefundCreate.model_validate(review.payload["refund"])
    payment = PaymentRepository(session).get(review.payment_id)
    assert payment is not None
    plan = refunds_service.lock_and_plan(
        session, payment.id, Money.parse(data.amount, payment.currency)
    )
    view = refunds_service.record_refund(
        session, actor, plan, reason=data.reason, approval_request_id=None
    )
    return view.refund.id


def decide(
    session: Session,
    actor: Principal,
    review_id: uuid.UUID,
    data: ReviewDecide,
    *,
    idempotency_key: str | None,
) -> FraudReview:
    """Checks, in order: role (403), scope (404), Idempotency-Key (400), not the user whose
    transaction it is (403 auth.same_approver), second factor to approve money (403), the review
    still undecided (409) and the decision fitting it (409)."""
    actor.require(Action.FRAUD_REVIEW)
    review = _access(session, actor, review_id, for_update=True)
    if idempotency_key is None:
        raise errors.IdempotencyKeyRequired(
            "Deciding a review needs an Idempotency-Key header so a retry cannot decide twice"
        )
    policies.require_distinct_approver(review.actor_user_id, actor)
    if data.decision is Decision.APPROVE:
        policies.require_mfa(actor, Action.FRAUD_REVIEW)
    status = ReviewStatus(review.status)
    if status not in ALLOWED:
        raise errors.ReviewNotPending(
            f"This review is {review.status}; it was already decided", status_now=review.status
        )
    if data.decision not in ALLOWED[status]:
        raise errors.DecisionNotAllowed(
            f"A {review.status} review is decided with "
            + " or ".join(sorted(d.value for d in ALLOWED[status])),
            status_now=review.status,
        )
    review.status = OUTCOME[data.decision].value
    review.decided_by, review.decided_at = actor.user_id, utcnow()
    review.decision_note = data.note
    audit.record(
        session,
        actor,
        "fraud:decide",
        object_type="fraud_review",
        object_id=review.id,
        practice_id=review.practice_id,
        fields=["status", "decided_by", "decision_note"],
        detail={"decision": data.decision.value, "rule": review.rule_code},
    )
    if data.decision is Decision.APPROVE:
        review.result_id = _execute_held_refund(session, actor, review)
        audit.record(
            session,
            actor,
            "fraud:execute",
            object_type="fraud_review",
            object_id=review.id,
            practice_id=review.practice_id,
            fields=["result_id"],
            detail={"refund_id": str(review.result_id)},
        )
    session.flush()
    return review


# --- rule settings -------------------------------------------------------------------------------


def rules_for(session: Session, practice_id: uuid.UUID) -> list[Effective]:
    overrides = FraudRepository(session).overrides(practice_id)
    return [effective(rule, overrides.get(rule.code)) for rule in RULES]


def list_rules(session: Session, actor: Principal, practice_id: uuid.UUID) -> list[Effective]:
    actor.require(Action.FRAUD_READ)
    actor.check_practice(practice_id)
    return rules_for(session, practice_id)


def update_rule(
    session: Session, actor: Principal, practice_id: uuid.UUID, code: str, data: RuleUpdate
) -> Effective:
    """Change a practice's setting of one rule (partial: what is given changes). Audited with
    the values before and after."""
    actor.require(Action.FRAUD_REVIEW)
    actor.check_practice(practice_id)
    rule = BY_CODE.get(code)
    if rule is None:
        raise errors.UnknownRule(f"No fraud rule {code!r}", rule=code)
    unknown = sorted(set(data.params or {}) - set(rule.params))
    if unknown:
        raise errors.UnknownParameter(
            f"Rule {code} has no parameter {', '.join(unknown)}",
            unknown=", ".join(unknown),
            known=", ".join(sorted(rule.params)),
        )
    if rule.applies_to == PERIODIC and data.action not in (None, RuleAction.FLAG):
        raise InvalidInput(
            "After-the-fact rules can only flag (the transaction already happened)",
            code="fraud.action_unsupported",
        )
    row = FraudRepository(session).config_for_update(practice_id, code)
    before = effective(rule, (row.enabled, row.action, dict(row.params or {})))
    if data.enabled is not None:
        row.enabled = data.enabled
    if data.action is not None:
        row.action = data.action.value
    if data.params:
        row.params = {**(row.params or {}), **data.params}
    row.updated_by, row.updated_at = actor.user_id, utcnow()
    session.flush()
    after = effective(rule, (row.enabled, row.action, dict(row.params)))
    audit.record(
        session,
        actor,
        "fraud:rule_update",
        object_type="fraud_rule",
        object_id=code,
        practice_id=practice_id,
        fields=["enabled", "action", "params"],
        detail={
            "before": _describe(before),
            "after": _describe(after),
        },
    )
    return after


def _describe(e: Effective) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(e.params.items()))
    return f"enabled={e.enabled};action={e.action.value};{params}"
