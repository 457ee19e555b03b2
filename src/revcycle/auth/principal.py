"""Who is acting: the authenticated user with their role and data scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from revcycle.auth.errors import MfaRequired
from revcycle.auth.permissions import MFA_REQUIRED_ACTIONS, Action, Role, allowed
from revcycle.errors import Forbidden, NotFound, out_of_scope


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID | None
    username: str
    role: Role
    # Practices a staff user is assigned to; None = every practice (the CLI operator).
    practice_ids: frozenset[uuid.UUID] | None = frozenset()
    # For patients: their own patient record plus dependants they are guarantor for.
    patient_ids: frozenset[uuid.UUID] = frozenset()
    request_id: str | None = None
    client_addr: str | None = field(default=None, repr=False)
    # The sign-in behind this principal passed the second factor (TOTP).
    mfa: bool = False

    @classmethod
    def system(cls, *, username: str = "system") -> Principal:
        """The operator running CLI commands on the server: full access, audited as 'system'.
        Shell access to the server is the stronger factor, so it counts as MFA-satisfied."""
        return cls(user_id=None, username=username, role=Role.ADMIN, practice_ids=None, mfa=True)

    @property
    def is_patient(self) -> bool:
        return self.role is Role.PATIENT

    def require(self, action: Action) -> None:
        if not allowed(self.role, action):
            raise Forbidden(
                f"Your role ({self.role.value}) may not perform {action.value}",
                code="auth.forbidden",
                action=action.value,
            )
        if action in MFA_REQUIRED_ACTIONS and not self.mfa:
            raise MfaRequired(
                f"{action.value} needs a sign-in with two-factor authentication",
                action=action.value,
            )

    def sees_practice(self, practice_id: uuid.UUID) -> bool:
        return self.practice_ids is None or practice_id in self.practice_ids

    def sees_patient(self, practice_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
        if self.is_patient:
            return patient_id in self.patient_ids
        return self.sees_practice(practice_id)

    def check_practice(self, practice_id: uuid.UUID, what: str = "practice") -> None:
        """404 (not 403) for objects outside the caller's scope: existence is not disclosed."""
        if not self.sees_practice(practice_id):
            raise out_of_scope(
                NotFound(f"No such {what}", code=f"{what}.not_found"), what, practice_id
            )
