"""MFA-required actions and segregation of duties (unit)."""

from __future__ import annotations

import uuid

import pytest

from revcycle.auth import policies
from revcycle.auth.errors import MfaRequired, SameApprover
from revcycle.auth.permissions import MFA_REQUIRED_ACTIONS, Action, Role
from revcycle.auth.principal import Principal
from revcycle.errors import Forbidden


def admin(*, mfa: bool, user_id: uuid.UUID | None = None) -> Principal:
    return Principal(user_id or uuid.uuid4(), "admin1", Role.ADMIN, mfa=mfa)


def test_money_approval_needs_mfa() -> None:
    assert {Action.MONEY_APPROVE} == MFA_REQUIRED_ACTIONS
    admin(mfa=True).require(Action.MONEY_APPROVE)
    with pytest.raises(MfaRequired) as exc:
        admin(mfa=False).require(Action.MONEY_APPROVE)
    assert (exc.value.status, exc.value.code) == (403, "auth.mfa_required")
    assert exc.value.data == {"action": "money:approve"}
    # other admin actions do not need it
    admin(mfa=False).require(Action.USER_MANAGE)
    with pytest.raises(MfaRequired):
        policies.require_mfa(admin(mfa=False), Action.MONEY_APPROVE)
    policies.require_mfa(admin(mfa=True), Action.MONEY_APPROVE)


@pytest.mark.parametrize("role", [Role.BILLING_STAFF, Role.INSURANCE_SPECIALIST, Role.PATIENT])
def test_only_admins_approve_money_even_with_mfa(role: Role) -> None:
    with pytest.raises(Forbidden) as exc:
        Principal(uuid.uuid4(), "x", role, mfa=True).require(Action.MONEY_APPROVE)
    assert exc.value.code == "auth.forbidden"


def test_the_operator_counts_as_mfa() -> None:
    Principal.system().require(Action.MONEY_APPROVE)


def test_segregation_of_duties() -> None:
    requester = uuid.uuid4()
    policies.require_distinct_approver(requester, admin(mfa=True))
    with pytest.raises(SameApprover) as exc:
        policies.require_distinct_approver(requester, admin(mfa=True, user_id=requester))
    assert (exc.value.status, exc.value.code) == (403, "auth.same_approver")
    policies.require_distinct_approver(None, admin(mfa=True))  # requested by the operator
    policies.require_distinct_approver(requester, Principal.system())
