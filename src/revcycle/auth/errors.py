from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "auth.invalid_credentials"


class InvalidToken(Unauthorized):
    code = "auth.invalid_token"


class UsernameTaken(Conflict):
    code = "user.username_taken"


class UserNotFound(NotFound):
    code = "user.not_found"


class InvalidUser(InvalidInput):
    code = "user.invalid"
