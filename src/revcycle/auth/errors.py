from __future__ import annotations

import uuid

from revcycle.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthorized


class InvalidToken(Unauthorized):
    code = "auth.invalid_token"


class UsernameTaken(Conflict):
    code = "user.username_taken"


class UserNotFound(NotFound):
    code = "user.not_found"


class InvalidUser(InvalidInput):
    code = "user.invalid"


class AuthFailure(Unauthorized):
    """A sign-in attempt that counts against the lockout. ``user_id``/``role`` (attributes, never
    rendered) name the account when it exists, for the security event."""

    user_id: uuid.UUID | None = None
    role: str | None = None


class InvalidCredentials(AuthFailure):
    code = "auth.invalid_credentials"


class InvalidTotp(AuthFailure):
    code = "auth.invalid_totp"


class TotpRequired(Unauthorized):
    """The password was right; this account also needs its TOTP code (form field ``totp``)."""

    code = "auth.totp_required"


class AccountLocked(DomainError):
    """Too many failed sign-ins for this user name or from this address. Sent for unknown user
    names too, so it never tells whether an account exists."""

    code = "auth.locked"
    status = 429
    title = "Too many failed sign-ins"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed sign-in attempts; try again in {retry_after} seconds",
            retry_after=retry_after,
        )
        self.retry_after = retry_after


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many requests; try again in {retry_after} seconds", retry_after=retry_after
        )
        self.retry_after = retry_after


class MfaRequired(Forbidden):
    code = "auth.mfa_required"


class SameApprover(Forbidden):
    code = "auth.same_approver"


class TotpState(Conflict):
    """Enrolling when already enrolled, confirming without a pending enrolment, and so on."""

    code = "totp.state"


class PatientHasLogin(Conflict):
    code = "user.patient_has_login"
