"""Stable error codes of the code-set domain."""

from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class ReleaseFileInvalid(InvalidInput):
    code = "codeset.file_invalid"


class ReleaseConflict(Conflict):
    code = "codeset.release_conflict"


class NoRelease(NotFound):
    code = "codeset.no_release"


class CodeUnknown(NotFound):
    code = "codeset.code_unknown"
