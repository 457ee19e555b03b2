"""Stable error codes of appeals (docs/denials-appeals.md, "Errors")."""

from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class AppealNotFound(NotFound):
    code = "appeal.not_found"


class AttachmentNotFound(NotFound):
    code = "appeal.attachment_not_found"


class ClaimNotDenied(Conflict):
    code = "appeal.claim_not_denied"


class AppealExists(Conflict):
    code = "appeal.exists"


class LevelOrder(Conflict):
    code = "appeal.level_order"


class PastDeadline(Conflict):
    code = "appeal.past_deadline"


class IllegalAppealStatus(Conflict):
    code = "appeal.illegal_status"


class InvalidAppeal(InvalidInput):
    code = "appeal.invalid"


class InvalidAttachment(InvalidInput):
    code = "appeal.attachment_invalid"
