"""3-D Secure in the test gateway: a charge made with the challenge card stays ``requires_action``
until the cardholder approves or fails the challenge on the gateway's page
(``/testgw/3ds/{charge_id}``), or the challenge expires. State rules only (no I/O); the caller
locks the charge row and emits the event this returns."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from revcycle.gateway.base import ChargeStatus, DeclineCode
from revcycle.gateway.testgw.models import TestgwCharge

ACTION_TTL = dt.timedelta(minutes=15)


def action_url(charge_id: str) -> str:
    return f"/testgw/3ds/{charge_id}"


def csrf_token(key: bytes, charge_id: str) -> str:
    """The challenge form's token: bound to the charge, unforgeable without the gateway's key and
    unreadable cross-origin, so another site cannot post an approval for the cardholder."""
    return hmac.new(key, f"3ds:{charge_id}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, charge_id: str, token: str) -> bool:
    return hmac.compare_digest(csrf_token(key, charge_id), token)


def expired(row: TestgwCharge, now: dt.datetime) -> bool:
    return row.status == ChargeStatus.REQUIRES_ACTION.value and row.created_at + ACTION_TTL <= now


def expire(row: TestgwCharge, now: dt.datetime) -> str | None:
    """An unanswered challenge past its time: declined. Returns the event to emit, if any."""
    if not expired(row, now):
        return None
    row.status = ChargeStatus.DECLINED.value
    row.decline_code = DeclineCode.AUTHENTICATION_EXPIRED.value
    return "charge.failed"


def complete(row: TestgwCharge, *, approve: bool, now: dt.datetime) -> str | None:
    """The cardholder's answer. Approved: authorised and captured at once (the merchant asked for
    automatic capture by charging); failed: declined. A charge no longer waiting is left as it is
    (a second click, a replayed form). Returns the event to emit, if any."""
    if expire(row, now) is not None:
        return "charge.failed"
    if row.status != ChargeStatus.REQUIRES_ACTION.value:
        return None
    if approve:
        row.status = ChargeStatus.SUCCEEDED.value
        row.captured_minor = row.amount_minor
        row.captured_at = now
        return "charge.succeeded"
    row.status = ChargeStatus.DECLINED.value
    row.decline_code = DeclineCode.AUTHENTICATION_FAILED.value
    return "charge.failed"
