from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class AuthorizationNotFound(NotFound):
    code = "authorization.not_found"


class IllegalTransition(Conflict):
    code = "authorization.illegal_transition"


class InvalidAuthorization(InvalidInput):
    code = "authorization.invalid"
