"""Security events: appended to the audit trail (category ``security``) and hash-chained with it.

Callers record them in a transaction of their own when the request's transaction will roll back
(a refused sign-in, a denied request), so the event survives the refusal. Details are non-PHI:
an error code, a route template, a count — never a password, and never an unknown attempted
user name verbatim (it may be an e-mail address).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum

from sqlalchemy.orm import Session

from revcycle.audit import service as audit


class SecurityEventKind(StrEnum):
    LOGIN_SUCCEEDED = "security:login_succeeded"
    LOGIN_FAILED = "security:login_failed"
    LOGIN_LOCKED = "security:login_locked"
    LOGOUT = "security:logout"
    MFA_ENROLLED = "security:mfa_enrolled"
    MFA_DISABLED = "security:mfa_disabled"
    MFA_FAILED = "security:mfa_failed"
    PASSWORD_CHANGED = "security:password_changed"
    ACCESS_DENIED = "security:access_denied"
    TOKEN_INVALID = "security:token_invalid"
    CSRF_FAILED = "security:csrf_failed"
    RATE_LIMITED = "security:rate_limited"
    SESSION_EXPIRED = "security:session_expired"
    UNUSUAL_READ_VOLUME = "security:unusual_read_volume"
    AUDIT_EXPORTED = "security:audit_exported"


def record(
    session: Session,
    kind: SecurityEventKind,
    *,
    user_id: uuid.UUID | None,
    role: str | None,
    client_addr: str | None,
    request_id: str | None,
    practice_id: uuid.UUID | None = None,
    detail: Mapping[str, str | int | bool] | None = None,
) -> None:
    audit.record_security(
        session,
        kind.value,
        user_id=user_id,
        role=role,
        client_addr=client_addr,
        request_id=request_id,
        practice_id=practice_id,
        object_type="user" if user_id is not None else "security",
        object_id=user_id,
        detail=detail,
    )
