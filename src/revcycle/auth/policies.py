"""Authorization rules beyond the role matrix: second factor for sensitive actions, and
segregation of duties (maker-checker).

``Principal.require`` applies :data:`MFA_REQUIRED_ACTIONS` itself; the payments approval flow calls
:func:`require_distinct_approver` before it approves a refund or write-off above the threshold.
"""

from __future__ import annotations

import uuid

from revcycle.auth.errors import MfaRequired, SameApprover
from revcycle.auth.permissions import MFA_REQUIRED_ACTIONS, Action
from revcycle.auth.principal import Principal

__all__ = ["MFA_REQUIRED_ACTIONS", "require_distinct_approver", "require_mfa"]


def require_mfa(principal: Principal, action: Action) -> None:
    """403 ``auth.mfa_required`` unless the principal's sign-in passed the second factor."""
    if not principal.mfa:
        raise MfaRequired(
            f"{action.value} needs a sign-in with two-factor authentication",
            action=action.value,
        )


def require_distinct_approver(requester_id: uuid.UUID | None, approver: Principal) -> None:
    """403 ``auth.same_approver`` when the approver is the user who made the request. A request
    made by the server operator (no user id) may be approved by any user; the operator itself
    (no user id) is not a user and is not refused."""
    if approver.user_id is None or requester_id is None:
        return
    if requester_id == approver.user_id:
        raise SameApprover(
            "The user who requested this cannot also approve it; another user must approve"
        )
